"""API basics: authentication, the error shape, the schema and its docs page."""

import pytest

from tests.factories import TEST_PASSWORD


@pytest.mark.django_db
def test_me_requires_authentication_with_the_error_shape(client):
    response = client.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    error = response.json()["error"]
    assert error["status"] == response.status_code
    assert error["code"] == "not_authenticated"
    assert "credentials" in error["message"]


@pytest.mark.django_db
def test_token_login_then_token_authenticated_request(alice, client):
    bad = client.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    good = client.post("/api/v1/auth/token/", {"username": "alice", "password": TEST_PASSWORD})
    assert good.status_code == 200
    token = good.json()["token"]
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert me.json()["role"] == "radiologist"


@pytest.mark.django_db
def test_schema_and_docs_are_served_without_a_cdn(alice, client):
    client.force_login(alice)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert b"/api/v1/me/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
