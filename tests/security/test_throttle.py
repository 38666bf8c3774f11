"""RELIABILITY 18 (sign-in part; the upload engineer tests the upload throttle): the API's
sign-in endpoint answers 429 with Retry-After once its rate is spent."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import TEST_PASSWORD


@pytest.fixture
def fresh_throttles():
    cache.clear()  # DRF keeps throttle history in the default cache
    yield
    cache.clear()


@pytest.mark.django_db
def test_the_token_endpoint_answers_429_with_retry_after(alice, fresh_throttles, settings):
    from rest_framework.throttling import ScopedRateThrottle

    rate = ScopedRateThrottle().parse_rate(ScopedRateThrottle.THROTTLE_RATES["login"])
    allowed = rate[0]
    api = APIClient()
    # given as many sign-ins as the rate allows (right password, so no lockout interferes)
    for _ in range(allowed):
        response = api.post("/api/v1/auth/token/", {"username": "alice", "password": TEST_PASSWORD})
        assert response.status_code == 200
    # when one more comes, then it is throttled with a usable Retry-After
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= rate[1]
    assert response.json()["error"]["status"] == 429
