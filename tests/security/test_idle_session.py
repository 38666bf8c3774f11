"""RELIABILITY 21: idle sessions end, after 15 minutes for clinical roles by default."""

import pytest

from tumorapp.audit.models import Action, AuditEvent
from tumorapp.core.middleware import IdleSessionMiddleware


def idle_for(client, minutes):
    session = client.session
    session[IdleSessionMiddleware.KEY] -= int(minutes * 60)
    session.save()


@pytest.mark.django_db
@pytest.mark.parametrize("role_name", ["radiologist", "technologist"])
def test_a_clinical_session_ends_after_fifteen_idle_minutes(role_name, users, client):
    client.force_login(users[role_name])
    assert client.get("/").status_code == 200
    # 14 idle minutes: still signed in (and the clock restarts)
    idle_for(client, 14)
    assert client.get("/").status_code == 200
    # 15 minutes and a bit: signed out, sent to sign in, told why, audited once
    idle_for(client, 15.1)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert b"without activity" in client.get(response["Location"]).content
    assert client.get("/").status_code == 302
    event = AuditEvent.objects.get(action=Action.SESSION_EXPIRED)
    assert event.actor == users[role_name] and event.details == {"idle_minutes": 15}


@pytest.mark.django_db
def test_other_roles_follow_their_own_limit(carol, client, settings):
    settings.SESSION_IDLE_MINUTES_OTHER = 60
    client.force_login(carol)
    client.get("/")
    idle_for(client, 45)
    assert client.get("/").status_code == 200
    idle_for(client, 61)
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_the_clinical_limit_is_configurable(alice, client, settings):
    settings.SESSION_IDLE_MINUTES_CLINICAL = 5
    client.force_login(alice)
    client.get("/")
    idle_for(client, 6)
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_an_expired_session_cannot_call_the_api(alice, client):
    client.force_login(alice)
    client.get("/api/v1/me/")
    idle_for(client, 16)
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_the_default_limits_are_fifteen_minutes(settings):
    assert settings.SESSION_IDLE_MINUTES_CLINICAL == 15
    assert settings.SESSION_COOKIE_AGE >= 15 * 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


@pytest.mark.django_db
def test_the_worklists_background_refresh_does_not_keep_a_session_alive(alice, client):
    # given a radiologist whose worklist refreshes itself while nobody touches the screen
    client.force_login(alice)
    assert client.get("/worklist/").status_code == 200
    background = {"HTTP_X_BACKGROUND_REFRESH": "1"}
    # 10 idle minutes: the refresh still gets the list, but does not restart the clock
    idle_for(client, 10)
    assert client.get("/worklist/", **background).status_code == 200
    # 6 more minutes (16 since the last real request): the next refresh signs them out
    idle_for(client, 6)
    response = client.get("/worklist/", **background)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert AuditEvent.objects.filter(action=Action.SESSION_EXPIRED).count() == 1
