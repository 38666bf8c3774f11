"""A person signs in through the real page in headless Chromium and sees their role's menu."""

import pytest

from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sign_in_shows_the_role_navigation_and_sign_out_ends_it(live_server, page, alice):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sign-in.png"))

    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".role-badge").inner_text().lower() == "radiologist"
    page.screenshot(path=str(SCREENSHOTS / "home.png"))

    page.click("text=Sign out")
    page.wait_for_url("**/accounts/login/")
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
