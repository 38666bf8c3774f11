"""No read is lost to an idle sign-out (headless Chromium): a warning with "stay signed in"
comes before the limit; a read sent after it stays in the page, the reader signs in again in
place and the read, with its note, is stored then."""

import pytest
from playwright.sync_api import expect

from reviews.models import Review
from tests.factories import TEST_PASSWORD
from tests.reviews.test_reading_room_browser import browser_db, sign_in, site
from tests.screenshots import SCREENSHOTS
from tumorapp.audit.models import Action, AuditEvent


@pytest.mark.browser
@browser_db
def test_a_read_sent_after_an_idle_sign_out_is_stored_after_signing_in_in_place(
    live_server, page, alice, make_case, stored_files, settings
):
    # given a 6-second idle limit for clinical roles (warning 2 s before) and a glioma case
    settings.SESSION_IDLE_MINUTES_CLINICAL = 0.1
    site()
    case = stored_files(make_case(p_tumor=0.95, label="glioma"))
    sign_in(page, live_server, "alice")
    page.keyboard.press("n")
    page.wait_for_url(f"**/worklist/cases/{case.public_id}/")
    banner = page.locator("#session-banner")
    # the warning comes before the limit, and "stay signed in" keeps the session
    expect(banner).to_contain_text("signed out for inactivity in", timeout=8_000)
    expect(page.locator("#session-stay")).to_be_visible()
    page.click("#session-stay")
    expect(banner).to_be_hidden()
    # when she writes a note and then leaves the workstation past the limit
    page.fill("#id_note", "Enhancing lesion, left frontal.")
    expect(banner).to_contain_text("signed out for inactivity", timeout=10_000)
    expect(page.locator("#session-open-signin")).to_be_visible(timeout=10_000)
    assert AuditEvent.objects.filter(action=Action.SESSION_EXPIRED).count() == 1
    # and accepts the AI's class: the read is not sent and not lost, a sign-in dialog opens
    page.click("#accept")
    dialog = page.locator("#session-signin")
    expect(dialog).to_be_visible()
    expect(page.locator("#id_note")).to_have_value("Enhancing lesion, left frontal.")
    assert not Review.objects.exists()
    page.screenshot(path=str(SCREENSHOTS / "session-sign-in-in-place.png"))
    # a wrong password is said so in the dialog
    page.fill("#session-password", "not the password")
    page.click("#session-signin-submit")
    expect(page.locator("#session-signin-error")).to_be_visible()
    # then, signed in again in place, the read is sent and stored with its note
    page.fill("#session-password", TEST_PASSWORD)
    page.click("#session-signin-submit")
    page.wait_for_url("**/worklist/")
    review = Review.objects.get(case=case)
    assert review.reader == alice and review.label == "glioma"
    assert review.note == "Enhancing lesion, left frontal."
