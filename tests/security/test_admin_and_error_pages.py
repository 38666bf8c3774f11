"""Issue 18 point 11: a styled 403, a way back from the lock page, Django's admin behind the
site's own sign-in."""

import pytest
from django.conf import settings

from tests.screenshots import SCREENSHOTS


@pytest.mark.django_db
def test_django_admin_has_no_sign_in_page_of_its_own(client):
    response = client.get("/django-admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_403_page_is_in_the_site_layout(bob, client_for):
    response = client_for(bob).get("/worklist/")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="forbidden"' in html and "Not allowed" in html
    assert "Technologist" in html and 'class="topbar"' in html


@pytest.mark.django_db
def test_the_lock_page_leads_back_to_sign_in(alice, client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert locked.status_code == 429
    assert 'href="/accounts/login/" id="back-to-sign-in"' in locked.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_403_page_in_the_browser(live_server, page, bob):
    from tests.factories import TEST_PASSWORD

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/?next=/scans/upload/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/scans/upload/")
    response = page.goto(f"{live_server.url}/worklist/")
    assert response.status == 403
    assert page.locator("#forbidden h1").inner_text() == "Not allowed"
    page.screenshot(path=str(SCREENSHOTS / "forbidden.png"))
