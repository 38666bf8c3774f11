"""RELIABILITY 17: repeated failed sign-ins lock the account (django-axes), the lock is
audited, and the right password does not get through it."""

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import TEST_PASSWORD
from tumorapp.accounts import services
from tumorapp.audit.models import Action, AuditEvent

# One address for a whole ward: workstations behind the hospital's NAT.
NAT = "10.20.30.40"


def sign_in(client, password, username="alice", address="127.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


@pytest.mark.django_db
def test_the_limit_locks_the_account_and_the_right_password_does_not_bypass_it(alice, client):
    limit = settings.AXES_FAILURE_LIMIT
    # given limit - 1 wrong passwords: each refused and audited as a failed login
    for _ in range(limit - 1):
        assert sign_in(client, "wrong password").status_code == 200
    assert actions() == [Action.LOGIN_FAILED] * (limit - 1)
    # when the next wrong password reaches the limit, then the lock page answers
    locked = sign_in(client, "wrong password")
    assert locked.status_code == 429
    assert b"Sign-in locked" in locked.content
    # when the right password comes next, then it is refused too and nobody is signed in
    again = sign_in(client, TEST_PASSWORD)
    assert again.status_code == 429
    assert client.get("/").status_code == 302
    # and every attempt is exactly one event: limit - 1 failures, then two lockouts
    assert actions() == [Action.LOGIN_FAILED] * (limit - 1) + [Action.LOCKED_OUT] * 2
    lockout = AuditEvent.objects.filter(action=Action.LOCKED_OUT).first()
    assert lockout.details == {"username": "alice"} and lockout.ip == "127.0.0.1"


@pytest.mark.django_db
def test_the_lock_is_per_account_and_address_so_colleagues_behind_one_nat_still_sign_in(
    alice, bob, client
):
    # given alice locked from the hospital's shared address
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong password", address=NAT)
    # when bob signs in from the same address, then he gets in
    colleague = Client()
    assert sign_in(colleague, TEST_PASSWORD, username="bob", address=NAT).status_code == 302
    assert colleague.get("/").status_code == 200
    # and alice stays locked there, right password or not
    assert sign_in(Client(), TEST_PASSWORD, address=NAT).status_code == 429


@pytest.mark.django_db
def test_an_admin_password_reset_lifts_the_lock(alice, carol, client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong password")
    assert sign_in(client, TEST_PASSWORD).status_code == 429
    password = services.user_force_password_reset(user=alice, actor=carol)
    # the same workstation: the lock on this account and address is gone
    assert sign_in(client, password).status_code == 302


@pytest.mark.django_db
def test_the_api_sign_in_locks_too_and_answers_429(alice):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    cache.clear()  # the login throttle must not be what answers here
    api = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = api.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 400
    locked = api.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})
    right = api.post("/api/v1/auth/token/", {"username": "alice", "password": TEST_PASSWORD})
    for response in (locked, right):
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "locked_out"
        assert int(response["Retry-After"]) > 0
        assert "token" not in response.json()
    limit = settings.AXES_FAILURE_LIMIT
    assert actions() == [Action.LOGIN_FAILED] * (limit - 1) + [Action.LOCKED_OUT] * 2
    cache.clear()
