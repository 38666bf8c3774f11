"""A two-radiologist site in headless Chromium: a disagreement settled by its two readers."""

import pytest
from playwright.sync_api import expect

from reviews.models import Case, Review, SiteOptions
from reviews.services import case_claim_next, review_submit
from tests.factories import UserFactory
from tests.reviews.test_reading_room_browser import sign_in
from tests.screenshots import SCREENSHOTS
from tumorapp.accounts.roles import Role


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_readers_reach_consensus_on_the_shared_screen(
    live_server, page, browser, make_case, stored_files
):
    # given a site with two radiologists who read a case differently (double read)
    options = SiteOptions.current()
    options.double_read_rate = 1.0
    options.save()
    rad1 = UserFactory(username="rad1", role=Role.RADIOLOGIST)
    rad2 = UserFactory(username="rad2", role=Role.RADIOLOGIST)
    case = stored_files(make_case(p_tumor=0.95, label="glioma"))
    review_submit(case=case_claim_next(reader=rad1), reader=rad1, label="glioma")
    review_submit(
        case=case_claim_next(reader=rad2), reader=rad2, label="meningioma", reason="ambiguous"
    )

    # when the first reader asks for the next case, she is not told the worklist is clear
    sign_in(page, live_server, "rad1")
    page.keyboard.press("n")
    page.wait_for_url("**/worklist/")
    expect(page.locator(".messages")).to_contain_text("for consensus with the other reader")
    expect(page.locator(".messages")).not_to_contain_text("The worklist is clear")

    # and opens the disagreement: both reads are on screen; she proposes glioma
    page.locator("#my-disagreements a").first.click()
    page.wait_for_url(f"**/worklist/cases/{case.public_id}/")
    reads = page.locator(".read-list")
    expect(reads).to_contain_text("Glioma")
    expect(reads).to_contain_text("Meningioma")
    page.check("#consensus-propose-form input[value=glioma]")
    page.fill("#id_consensus_note", "Intra-axial, no dural tail.")
    page.click("#consensus-propose-submit")
    expect(page.locator("#consensus-proposal")).to_contain_text("Glioma")

    # then the second reader, on his own screen, sees both reads and her proposal, and confirms
    other = browser.new_context()
    try:
        page2 = other.new_page()
        sign_in(page2, live_server, "rad2", next_url=f"/worklist/cases/{case.public_id}/")
        expect(page2.locator(".read-list")).to_contain_text("Glioma")
        expect(page2.locator("#consensus-note")).to_contain_text("Intra-axial")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page2.screenshot(path=str(SCREENSHOTS / "consensus.png"))
        page2.click("#consensus-confirm")
        expect(page2.locator(".final")).to_contain_text("Consensus of both readers")
    finally:
        other.close()

    case.refresh_from_db()
    assert (case.status, case.final_label, case.resolution) == ("done", "glioma", "consensus")
    consensus = Review.objects.get(case=case, kind=Review.Kind.CONSENSUS)
    assert consensus.reader == rad2
    assert Case.objects.get(pk=case.pk).consensus_proposer == rad1
