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


@pytest.mark.browser
@browser_db
def test_after_the_reveal_the_form_keeps_the_blind_answer(
    live_server, page, alice, make_case, stored_files
):
    # given a blind first-read site and two cases the AI calls glioma
    site(blind=True)
    first, second = (stored_files(make_case(p_tumor=p, label="glioma")) for p in (0.97, 0.93))
    sign_in(page, live_server, "alice")
    page.keyboard.press("n")
    page.wait_for_url(f"**/worklist/cases/{first.public_id}/")
    viewer = page.locator("#viewer")
    # the heat map is off, and cannot be shown, before the reader answers
    expect(page.locator("#heatmap-toggle")).to_be_disabled()
    page.keyboard.press("g")
    expect(viewer).to_have_attribute("data-heatmap", "off")
    # when she answers "no tumour" blind (4, enter) and the AI's answer is revealed
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    expect(page.locator("#ai-answer .ai-class strong")).to_have_text("Glioma")
    # then the form holds her own answer, the heat map still off until she asks
    expect(page.locator("#review-form input[value=no_tumor]")).to_be_checked()
    expect(viewer).to_have_attribute("data-heatmap", "off")
    page.screenshot(path=str(SCREENSHOTS / "review-blind-reveal.png"))
    # and the accept key, pressed once, does not turn it into the AI's answer
    page.keyboard.press("a")
    expect(page.locator("#blind-hint")).to_contain_text("enter keeps yours")
    expect(page.locator("#review-form input[value=no_tumor]")).to_be_checked()
    assert not Review.objects.filter(case=first).exists()
    # and enter records her blind answer, with no reason asked
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/worklist/cases/{second.public_id}/")
    review = Review.objects.get(case=first)
    assert (review.initial_label, review.label, review.reason) == ("no_tumor", "no_tumor", "")

    # when on the next case she answers blind, then deliberately takes the AI's (shift+A)
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    expect(page.locator("#take-ai")).to_be_visible()
    page.keyboard.press("Shift+A")
    expect(page.locator("#review-form input[value=glioma]")).to_be_checked()
    page.keyboard.press("Enter")
    page.wait_for_url("**/worklist/")
    # then the read is recorded as a change from her blind answer to the AI's
    review = Review.objects.get(case=second)
    assert (review.initial_label, review.label) == ("no_tumor", "glioma")


@pytest.mark.browser
@browser_db
def test_skip_hands_the_next_case_and_a_picked_case_can_be_read(
    live_server, page, alice, make_case, stored_files
):
    site()
    cases = [stored_files(make_case(p_tumor=p, label="glioma")) for p in (0.97, 0.9, 0.8)]
    sign_in(page, live_server, "alice")
    # when she takes the most urgent case and skips it from the keyboard: n, l(ater), enter
    page.keyboard.press("n")
    page.wait_for_url(f"**/worklist/cases/{cases[0].public_id}/")
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "id_skip_reason"
    page.keyboard.press("r")
    page.keyboard.press("Enter")
    # then the next case opens, not the same one
    page.wait_for_url(f"**/worklist/cases/{cases[1].public_id}/")
    # when she goes back to the worklist and picks the third case
    page.goto(f"{live_server.url}/worklist/")
    page.locator("#worklist tbody tr", has_text="0.80").get_by_role("button", name="Read").click()
    page.wait_for_url(f"**/worklist/cases/{cases[2].public_id}/")
    # then it is hers to read: the accept key records the read, and the next case handed
    # is the one she let go by picking, the skipped one still behind it
    page.keyboard.press("a")
    page.wait_for_url(f"**/worklist/cases/{cases[1].public_id}/")
    assert Review.objects.get(case=cases[2]).reader == alice
