"""What a page needs to keep its work across an idle sign-out: the session's state (a
background ask is not activity) and a sign-in that answers JSON with the new CSRF token."""

import time

import pytest
from django.test import Client

from tests.factories import TEST_PASSWORD
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.core.middleware import IdleSessionMiddleware

JSON = {"HTTP_ACCEPT": "application/json"}
BACKGROUND = {**JSON, "HTTP_X_BACKGROUND_REFRESH": "1"}


def idle_for(client, seconds: int) -> None:
    session = client.session
    session[IdleSessionMiddleware.KEY] = int(time.time()) - seconds
    session.save()


@pytest.mark.django_db
def test_a_background_ask_is_not_activity_and_stay_signed_in_is(alice, client, settings):
    settings.SESSION_IDLE_MINUTES_CLINICAL = 15
    client.force_login(alice)
    client.get("/")
    idle_for(client, 600)
    state = client.get("/accounts/session/", **BACKGROUND).json()
    assert state["authenticated"] and state["username"] == "alice"
    assert state["idle_seconds"] == 900 and 295 <= state["remaining_seconds"] <= 300
    # "stay signed in" asks without the header: the clock starts again
    assert client.get("/accounts/session/", **JSON).json()["remaining_seconds"] == 900


@pytest.mark.django_db
def test_past_the_limit_the_ask_signs_out_and_answers_a_token(alice, client, settings):
    settings.SESSION_IDLE_MINUTES_CLINICAL = 15
    client.force_login(alice)
    client.get("/")
    idle_for(client, 901)
    state = client.get("/accounts/session/", **BACKGROUND).json()
    assert state == {"authenticated": False, "csrf_token": state["csrf_token"]}
    assert AuditEvent.objects.filter(action=Action.SESSION_EXPIRED, actor=alice).count() == 1


@pytest.mark.django_db
def test_signing_in_in_place_answers_json_with_the_new_token(alice):
    browser = Client(enforce_csrf_checks=True)
    token = browser.get("/accounts/session/", **JSON).json()["csrf_token"]
    wrong = browser.post(
        "/accounts/login/",
        {"username": "alice", "password": "not it", "csrfmiddlewaretoken": token},
        **JSON,
    )
    assert wrong.status_code == 400 and not wrong.json()["authenticated"]
    signed_in = browser.post(
        "/accounts/login/",
        {"username": "alice", "password": TEST_PASSWORD, "csrfmiddlewaretoken": token},
        **JSON,
    )
    state = signed_in.json()
    assert signed_in.status_code == 200 and state["authenticated"]
    assert state["username"] == "alice" and state["csrf_token"]
    assert browser.get("/").status_code == 200
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [Action.LOGIN_FAILED, Action.LOGIN]
