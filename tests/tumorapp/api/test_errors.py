"""Errors the fault and fuzz suites found answered outside the API's shape."""

from django.db import OperationalError

from tumorapp.api import views


def test_an_unknown_api_url_is_a_json_404(alice, api_for):
    response = api_for(alice).get("/api/v1/scans/not-a-uuid/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_page_url_is_still_the_site_page(alice, client_for):
    response = client_for(alice).get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_lost_database_is_a_503_with_retry_after(alice, api_for, monkeypatch):
    # given a database that drops the connection in the middle of a request
    def fail(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "MeSerializer", fail)
    # when the API is called
    response = api_for(alice).get("/api/v1/me/")
    # then the client is told to retry, in the API's error shape
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
