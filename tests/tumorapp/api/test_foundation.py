"""API basics: authentication, the error shape, the schema and its docs page."""

import pytest
from rest_framework.authtoken.models import Token

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


@pytest.mark.django_db
def test_the_schema_is_refused_to_anonymous_callers_in_the_error_shape(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code in (401, 403)
    error = response.json()["error"]
    assert error["status"] == response.status_code
    assert error["code"] == "not_authenticated"
    assert b"/api/v1/" not in response.content
    # whatever format is asked for, no operation is given away
    yaml = client.get("/api/schema/")
    assert yaml.status_code in (401, 403) and b"/api/v1/" not in yaml.content


@pytest.mark.django_db
def test_the_schema_is_served_to_a_token(alice, client):
    token = Token.objects.create(user=alice).key
    response = client.get(
        "/api/schema/",
        HTTP_ACCEPT="application/vnd.oai.openapi+json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 200
    assert "/api/v1/me/" in response.json()["paths"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/docs/", "/api/docs/?script="])
def test_the_docs_page_sends_anonymous_browsers_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/api/docs/")
