"""Headless Chromium: "Reject and delete" in quarantine opens a confirmation page with the
slice at full size; only its button deletes."""

import pytest
from playwright.sync_api import expect

from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS
from tests.tumorapp.dicom import dicomfiles
from tests.tumorapp.dicom.test_flow import upload
from tumorapp.scans.models import Scan


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_reject_and_delete_goes_through_the_confirmation_page(
    live_server, page, bob, carol, api_for, media_dir
):
    # given a burned-in slice in quarantine
    upload(api_for(bob), dicomfiles.identified_bytes(burned_in="YES"))
    assert Scan.objects.get().status == Scan.Status.QUARANTINED
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/?next=/dicom/quarantine/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dicom/quarantine/")
    # when the admin presses "Reject and delete", nothing is deleted yet: a page says what goes
    page.click("text=Reject and delete")
    expect(page.locator("#confirm h1")).to_have_text("Reject and delete this upload?")
    expect(page.locator(".quarantine-full img")).to_be_visible()
    assert Scan.objects.count() == 1
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / "confirm-reject.png"))
    # then confirming deletes it
    page.click("#confirm-button")
    page.wait_for_url("**/dicom/quarantine/")
    expect(page.locator(".messages")).to_contain_text("Rejected: 1 slice(s)")
    assert not Scan.objects.exists()
