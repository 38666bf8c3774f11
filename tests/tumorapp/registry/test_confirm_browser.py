"""Headless Chromium: promoting a version goes through its confirmation page; cancelling
there changes nothing."""

import pytest
from playwright.sync_api import expect

from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS
from tumorapp.registry.selectors import active_model
from tumorapp.registry.services import model_promote, model_register


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_admin_promotes_through_the_confirmation_page(live_server, page, carol, model_folder):
    # given v1 active and v2 registered
    model_promote(model=model_register(path=model_folder("v1")))
    model_register(path=model_folder("v2"))
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/?next=/models/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/models/")
    # when she presses Promote, a page says what will happen; Cancel changes nothing
    page.locator("#models tr", has_text="v2").locator("a:has-text('Promote')").click()
    expect(page.locator("#confirm h1")).to_have_text("Promote v2 to active?")
    expect(page.locator("#confirm")).to_contain_text("v1, active now, is retired")
    page.screenshot(path=str(SCREENSHOTS / "confirm-promote.png"))
    page.click("#confirm >> text=Cancel")
    assert active_model().version == "v1"
    # and confirming promotes it
    page.goto(f"{live_server.url}/models/")
    page.locator("#models tr", has_text="v2").locator("a:has-text('Promote')").click()
    page.click("#confirm-button")
    page.wait_for_url("**/models/")
    expect(page.locator("#active-version")).to_have_text("v2")
    assert active_model().version == "v2"
