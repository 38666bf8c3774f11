"""The reading room in headless Chromium: one AI answer, an honest blind read, skip and pick."""

import pytest
from playwright.sync_api import expect

from reviews.models import Review, SiteOptions
from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS

# Flagged (P(tumour) 0.35 >= the 0.3 threshold) while "no tumour" is the likeliest class.
FLAGGED_ARGMAX_NO_TUMOUR = {"glioma": 0.1, "meningioma": 0.2, "pituitary": 0.05, "no_tumor": 0.65}

browser_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def site(*, blind: bool = False) -> None:
    options = SiteOptions.current()
    options.double_read_rate = 0.0
    options.blind_first_read = blind
    options.save()


def sign_in(page, live_server, username: str, next_url: str = "/worklist/") -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_url}")


@pytest.mark.browser
@browser_db
def test_the_accept_key_records_the_tumour_answer_on_a_flagged_case(
    live_server, page, alice, make_case, stored_files
):
    # given a flagged case whose most likely of four classes is "no tumour"
    site()
    case = stored_files(
        make_case(p_tumor=0.35, label="no_tumor", probabilities=FLAGGED_ARGMAX_NO_TUMOUR)
    )
    sign_in(page, live_server, "alice")
    # the worklist row and the case screen give one answer, a tumour class
    row = page.locator("#worklist tbody tr").first
    expect(row).to_contain_text("Suspected tumour")
    expect(row).to_contain_text("Meningioma")
    page.keyboard.press("n")
    page.wait_for_url(f"**/worklist/cases/{case.public_id}/")
    expect(page.locator("#ai-answer .ai-class strong")).to_have_text("Meningioma")
    expect(page.locator(".case-head")).to_contain_text("Suspected tumour")
    page.screenshot(path=str(SCREENSHOTS / "review-flagged.png"))
    # when the reader presses the accept key
    page.keyboard.press("a")
    page.wait_for_url("**/worklist/")
    # then the read records the tumour class, never "no tumour"
    review = Review.objects.get(case=case)
    assert (review.label, review.ai_label) == ("meningioma", "meningioma")
