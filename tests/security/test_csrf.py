"""RELIABILITY 20: a session POST without a valid CSRF token gets 403 and changes nothing."""

import pytest
from django.test import Client

from tests.factories import TEST_PASSWORD
from tumorapp.accounts.models import User


@pytest.fixture
def strict_client():
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
def test_a_signed_in_post_without_a_token_is_refused(carol, alice, strict_client):
    strict_client.force_login(carol)
    response = strict_client.post(f"/accounts/users/{alice.public_id}/deactivate/")
    assert response.status_code == 403
    assert User.objects.get(pk=alice.pk).is_active


@pytest.mark.django_db
def test_a_post_with_a_wrong_token_is_refused(carol, alice, strict_client):
    strict_client.force_login(carol)
    strict_client.get(f"/accounts/users/{alice.public_id}/")
    response = strict_client.post(
        f"/accounts/users/{alice.public_id}/deactivate/", {"csrfmiddlewaretoken": "x" * 64}
    )
    assert response.status_code == 403
    assert User.objects.get(pk=alice.pk).is_active


@pytest.mark.django_db
def test_the_same_post_with_the_page_token_goes_through(carol, alice, strict_client):
    strict_client.force_login(carol)
    strict_client.get(f"/accounts/users/{alice.public_id}/")
    token = strict_client.cookies["csrftoken"].value
    response = strict_client.post(
        f"/accounts/users/{alice.public_id}/deactivate/",
        {"csrfmiddlewaretoken": token, "confirm": "yes"},
    )
    assert response.status_code == 302
    assert not User.objects.get(pk=alice.pk).is_active


@pytest.mark.django_db
def test_the_sign_in_form_needs_a_token_too(alice, strict_client):
    response = strict_client.post(
        "/accounts/login/", {"username": "alice", "password": TEST_PASSWORD}
    )
    assert response.status_code == 403
    assert strict_client.get("/").status_code == 302


@pytest.mark.django_db
def test_an_api_post_riding_on_a_session_cookie_needs_the_token(alice, strict_client):
    strict_client.force_login(alice)
    response = strict_client.post("/api/v1/auth/token/", {"username": "alice", "password": "x"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert strict_client.post("/accounts/logout/").status_code == 403
