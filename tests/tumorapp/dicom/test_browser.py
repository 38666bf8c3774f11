"""Headless Chromium: a technologist uploads a DICOM file on the upload page; a radiologist
opens it in review and the window/level readout starts at the header's centre and width,
windowing the 16-bit values; an admin sees a burned-in slice in quarantine."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from reviews.models import Case
from tests.factories import TEST_PASSWORD
from tests.tumorapp.dicom import dicomfiles

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
CENTER, WIDTH = 1800, 3600


def sign_in(page, base, username, next_url="/"):
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_url}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_upload_a_dicom_then_review_it_with_the_header_window(
    live_server, browser, bob, alice, carol, tmp_path
):
    # given a DICOM slice (a real MR slice wrapped with identifiers, header window 1800/3600)
    # and one whose header says text is burned in
    slice_file = tmp_path / "IM0001.dcm"
    slice_file.write_bytes(dicomfiles.from_shared_jpeg(3, window=(CENTER, WIDTH)))
    burned = tmp_path / "IM0002.dcm"
    burned.write_bytes(
        dicomfiles.identified_bytes(instance=2, series_uid="1.2.3.99", burned_in="YES")
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # when the technologist uploads both on the upload page
    tech = browser.new_page()
    sign_in(tech, live_server.url, "bob", "/scans/upload/")
    tech.set_input_files("#upload-input", [str(slice_file), str(burned)])
    done = tech.locator(".upload-row[data-state=ok]")
    done.nth(1).wait_for(timeout=20_000)
    assert done.count() == 2
    # then the radiologist finds the slice as a case and the viewer opens on the header window
    case = Case.objects.get()
    reader = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(reader, live_server.url, "alice", "/worklist/")
    assert reader.locator("#worklist tbody tr").count() == 1  # the burned-in one is not there
    reader.goto(f"{live_server.url}/worklist/cases/{case.public_id}/")
    # (expect polls from Python: the page's CSP forbids the eval that wait_for_function uses)
    expect(reader.locator("#viewer")).to_have_attribute("data-depth", "16", timeout=10_000)
    assert reader.locator("#wl-width").inner_text() == str(WIDTH)
    assert reader.locator("#wl-level").inner_text() == str(CENTER)
    reader.screenshot(path=str(SCREENSHOTS / "review-dicom.png"))
    # and dragging windows the 16-bit values in modality units; Reset returns to the header's
    canvas = reader.locator("#slice").bounding_box()
    x, y = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    reader.mouse.move(x, y)
    reader.mouse.down()
    reader.mouse.move(x - 40, y, steps=4)
    reader.mouse.up()
    narrowed = int(reader.locator("#wl-width").inner_text())
    assert narrowed < WIDTH - 40  # a pixel of drag is worth more than one modality unit here
    reader.click("#view-reset")
    assert reader.locator("#wl-width").inner_text() == str(WIDTH)
    # and the admin sees the burned-in slice in quarantine
    admin = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(admin, live_server.url, "carol", "/dicom/quarantine/")
    assert admin.locator(".quarantine-item").count() == 1
    expect(admin.locator(".quarantine-item img")).to_be_visible()
    admin.wait_for_load_state("networkidle")
    admin.screenshot(path=str(SCREENSHOTS / "dicom-quarantine.png"))
