"""While the database is unreachable, pages answer 503 with Retry-After from a static page
(tumorapp.api.errors.server_error), and the API keeps its error shape; other failures stay
500."""

from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client

from tumorapp.api.errors import RETRY_AFTER_SECONDS


def _signed_in(user) -> Client:
    # Errors become responses, as they do for a browser, instead of failing the test.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


class Outage:
    """Every query fails the way a stopped PostgreSQL makes it fail."""

    def __init__(self):
        self.refused = 0

    def __call__(self, execute, sql, params, many, context):
        self.refused += 1
        raise OperationalError("connection refused (test)")


@pytest.mark.django_db
def test_a_page_whose_query_fails_answers_503_from_the_static_page(bob):
    client = _signed_in(bob)
    refused = OperationalError("server closed the connection unexpectedly")
    with mock.patch("tumorapp.scans.views.scan_list_for", side_effect=refused):
        response = client.get("/scans/mine/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response["Content-Type"].startswith("text/html")
    assert b"Temporarily unavailable" in response.content
    assert b"bob" not in response.content  # nobody's session or name went into it


@pytest.mark.django_db
def test_a_database_down_for_every_query_still_gets_the_503_page(bob):
    # given a signed-in browser, when every query fails (the session read in the
    # middlewares is the first), then the answer is the 503 page, rendered with no query
    client = _signed_in(bob)
    outage = Outage()
    with connection.execute_wrapper(outage):
        response = client.get("/scans/mine/")
    assert outage.refused >= 1
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert b"Temporarily unavailable" in response.content


@pytest.mark.django_db
def test_the_api_answers_503_in_its_error_shape_when_the_session_read_fails(bob):
    client = _signed_in(bob)
    with connection.execute_wrapper(Outage()):
        response = client.get("/api/v1/me/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.json()["error"]["status"] == 503
    assert response.json()["error"]["code"] == "unavailable"


@pytest.mark.django_db
def test_other_failures_stay_500(bob):
    client = _signed_in(bob)
    with mock.patch("tumorapp.scans.views.scan_list_for", side_effect=RuntimeError("bug")):
        response = client.get("/scans/mine/")
    assert response.status_code == 500
    assert "Retry-After" not in response
