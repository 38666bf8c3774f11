"""A radiologist reads from the keyboard in headless Chromium: next case, heat map, correct."""

import pytest
from playwright.sync_api import expect

from reviews.models import Review, SiteOptions
from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS

# A worklist that looks like a morning's intake: (p_tumor, label, ood)
INTAKE = [
    (0.97, "glioma", False),
    (0.91, "meningioma", False),
    (0.84, "pituitary", False),
    (0.62, "glioma", True),
    (0.71, "meningioma", False),
    (0.12, "no_tumor", False),
    (0.05, "no_tumor", False),
    (0.33, "pituitary", True),
    (0.08, "no_tumor", False),
]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_keyboard_review_from_next_case_to_next_case(
    live_server, page, alice, make_case, stored_files
):
    # given a site with single reads and a worklist whose cases have images in storage
    options = SiteOptions.current()
    options.double_read_rate = 0.0
    options.save()
    cases = [stored_files(make_case(p_tumor=p, label=label, ood=ood)) for p, label, ood in INTAKE]
    page.set_viewport_size({"width": 1440, "height": 900})

    # when alice signs in and opens the worklist
    page.goto(f"{live_server.url}/accounts/login/?next=/worklist/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/worklist/")
    assert page.locator("#worklist tbody tr").count() == len(INTAKE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "worklist.png"))

    # and presses n: the unusual images come first (is each a brain MRI?); she accepts both
    page.keyboard.press("n")
    page.wait_for_url(f"**/worklist/cases/{cases[3].public_id}/")
    expect(page.locator(".case-head")).to_contain_text("Unusual image")
    page.keyboard.press("a")
    page.wait_for_url(f"**/worklist/cases/{cases[7].public_id}/")
    page.keyboard.press("a")
    # then the most likely tumour opens, its heat map off until she asks for it
    page.wait_for_url(f"**/worklist/cases/{cases[0].public_id}/")
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-heatmap", "off")

    # and draws the heat map over the slice with g, and hides it again
    page.keyboard.press("g")
    page.wait_for_function("document.getElementById('viewer').dataset.heatmap === 'on'")
    page.screenshot(path=str(SCREENSHOTS / "review.png"))
    page.keyboard.press("g")
    assert viewer.get_attribute("data-heatmap") == "off"

    # and corrects the class from the keyboard only: c, 2 (meningioma), w(rong sequence), enter
    page.keyboard.press("c")
    page.keyboard.press("2")
    assert page.evaluate("document.activeElement.id") == "id_reason"
    page.keyboard.press("w")
    page.keyboard.press("Enter")

    # then she lands on the next case, and the correction is stored with its reason
    page.wait_for_url(f"**/worklist/cases/{cases[1].public_id}/")
    review = Review.objects.get(case=cases[0])
    assert (review.reader, review.label, review.reason) == (alice, "meningioma", "wrong_sequence")
    assert review.ai_label == "glioma"

    # (it contradicts a confident AI, so it waits for a second reader); she accepts the next
    page.keyboard.press("a")
    page.wait_for_url(f"**/worklist/cases/{cases[2].public_id}/")
    assert Review.objects.get(case=cases[1]).label == "meningioma"

    # and on the next sees a tumour whose type the slice does not show: 5, a(mbiguous), enter
    page.keyboard.press("5")
    assert page.evaluate("document.activeElement.id") == "id_reason"
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/worklist/cases/{cases[4].public_id}/")
    review = Review.objects.get(case=cases[2])
    assert (review.label, review.reason, review.ai_label) == (
        "tumor_unknown",
        "ambiguous",
        "pituitary",
    )

    # and later, with the pathology result, she amends that reported case from its page
    page.goto(f"{live_server.url}/worklist/cases/{cases[1].public_id}/")
    page.click("#amend summary")
    page.check("#amend-form input[name=label][value=pituitary]")
    page.select_option("#id_amend_reason", "pathology")
    page.fill("#id_amend_note", "Pituitary macroadenoma on histology.")
    page.screenshot(path=str(SCREENSHOTS / "review-amend.png"))
    page.click("#amend-form button[type=submit]")
    page.wait_for_selector(".msg-success")
    cases[1].refresh_from_db()
    assert (cases[1].final_label, cases[1].resolution) == ("pituitary", "amended")
    assert "Amendment" in page.locator(".read-list").inner_text()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_worklist_refreshes_itself_with_new_cases(live_server, page, alice, make_case):
    make_case(p_tumor=0.2, label="no_tumor")
    page.goto(f"{live_server.url}/accounts/login/?next=/worklist/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/worklist/")
    rows = page.locator("#worklist tbody tr")
    assert rows.count() == 1
    # when a new suspected tumour is predicted while the list is open, and r is pressed
    make_case(p_tumor=0.98, label="glioma")
    page.keyboard.press("r")
    # then the list shows it on top, without a page load
    expect(page.locator("#worklist")).to_have_attribute("data-refreshed", "1")
    assert rows.count() == 2
    expect(rows.first).to_contain_text("Glioma")
    expect(page.locator(".status-counts")).to_contain_text("2")
