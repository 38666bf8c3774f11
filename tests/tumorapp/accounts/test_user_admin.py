"""User management by the admin role: pages and services, each action one audit event."""

import re

import pytest
from django.test import Client

from tests.factories import TEST_PASSWORD, UserFactory
from tumorapp.accounts import services
from tumorapp.accounts.models import User
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent


def events_about(user, action=None):
    events = AuditEvent.objects.filter(target_id=str(user.public_id))
    return events.filter(action=action) if action else events


@pytest.fixture
def admin_client(carol, client):
    client.force_login(carol)
    return client


# --- list ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_users_with_their_roles_and_filters_them(users, admin_client):
    UserFactory(username="frank", first_name="Frank", role=Role.TECHNOLOGIST, is_active=False)
    html = admin_client.get("/accounts/users/").content.decode()
    for username in ("alice", "bob", "carol", "dave", "eve", "frank"):
        assert f">{username}<" in html
    assert "Radiologist" in html and "No role" in html and "Inactive" in html

    html = admin_client.get("/accounts/users/?role=technologist&status=inactive").content.decode()
    assert ">frank<" in html and ">bob<" not in html
    html = admin_client.get("/accounts/users/?q=ALI").content.decode()
    assert ">alice<" in html and ">bob<" not in html


@pytest.mark.django_db
def test_the_list_costs_the_same_queries_for_many_users(users, admin_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_page():
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get("/accounts/users/")
        assert response.status_code == 200
        return len(captured)

    queries_for_page()  # warm the session
    few = queries_for_page()
    UserFactory.create_batch(20, role=Role.RADIOLOGIST)
    assert queries_for_page() == few


# --- create -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_creates_a_user_with_a_temporary_password_shown_once(carol, admin_client):
    response = admin_client.post(
        "/accounts/users/new/",
        {
            "username": "grace",
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@hospital.test",
            "role": "radiologist",
            "password_mode": "temporary",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    password = re.search(r'aria-label="Temporary password">([^<]+)<', response.content.decode())[1]
    grace = User.objects.get(username="grace")
    assert grace.role == Role.RADIOLOGIST and grace.must_change_password
    assert grace.check_password(password) and len(password) >= 12
    event = events_about(grace).get()
    assert (event.action, event.actor, event.details["role"]) == (
        Action.USER_CREATED,
        carol,
        "radiologist",
    )
    assert password not in str(event.details)


@pytest.mark.django_db
def test_a_user_created_without_a_password_cannot_sign_in(admin_client):
    response = admin_client.post(
        "/accounts/users/new/",
        {"username": "henry", "role": "technologist", "password_mode": "none"},
    )
    henry = User.objects.get(username="henry")
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/users/{henry.public_id}/"
    assert not henry.has_usable_password()


@pytest.mark.django_db
def test_a_duplicate_username_is_refused_whatever_its_case(alice, admin_client):
    response = admin_client.post(
        "/accounts/users/new/",
        {"username": "ALICE", "role": "radiologist", "password_mode": "none"},
    )
    assert response.status_code == 200
    assert b"already exists" in response.content
    assert User.objects.filter(username__iexact="alice").count() == 1


# --- first sign-in with a temporary password ------------------------------------------------


@pytest.mark.django_db
def test_a_user_with_an_issued_password_must_change_it_before_anything_else(carol, alice):
    password = services.user_force_password_reset(user=alice, actor=carol)
    browser = Client()
    response = browser.post("/accounts/login/", {"username": "alice", "password": password})
    assert response.status_code == 302
    response = browser.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/password/"
    assert browser.get("/api/v1/me/").json()["error"]["code"] == "password_change_required"
    response = browser.post(
        "/accounts/password/",
        {
            "old_password": password,
            "new_password1": "a fresh passphrase of mine",
            "new_password2": "a fresh passphrase of mine",
        },
    )
    assert response.status_code == 302
    assert browser.get("/").status_code == 200
    alice.refresh_from_db()
    assert not alice.must_change_password


# --- edit, role -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_editing_the_profile_writes_one_changed_event(carol, alice, admin_client):
    response = admin_client.post(
        f"/accounts/users/{alice.public_id}/",
        {
            "first_name": "Alicia",
            "last_name": alice.last_name,
            "email": alice.email,
            "role": "radiologist",
        },
    )
    assert response.status_code == 302
    event = events_about(alice).get()
    assert event.action == Action.USER_CHANGED
    assert event.details["changes"]["first_name"][1] == "Alicia"


@pytest.mark.django_db
def test_changing_the_role_writes_one_role_event(carol, alice, admin_client):
    admin_client.post(
        f"/accounts/users/{alice.public_id}/",
        {
            "first_name": alice.first_name,
            "last_name": alice.last_name,
            "email": alice.email,
            "role": "data_team",
        },
    )
    alice = User.objects.get(pk=alice.pk)
    assert alice.role == Role.DATA_TEAM
    event = events_about(alice).get()
    assert (event.action, event.details) == (
        Action.USER_ROLE_CHANGED,
        {"from": "radiologist", "to": "data_team"},
    )


@pytest.mark.django_db
def test_saving_without_changes_writes_nothing(carol, alice):
    services.user_update(
        user=alice,
        actor=carol,
        first_name=alice.first_name,
        last_name=alice.last_name,
        email=alice.email,
        role=Role.RADIOLOGIST,
    )
    assert not events_about(alice).exists()


@pytest.mark.django_db
def test_an_admin_cannot_change_their_own_role(carol, admin_client):
    response = admin_client.post(
        f"/accounts/users/{carol.public_id}/",
        {"first_name": "", "last_name": "", "email": "", "role": "radiologist"},
    )
    assert response.status_code == 200
    assert b"cannot change your own role" in response.content
    assert User.objects.get(pk=carol.pk).role == Role.ADMIN


# --- deactivate, activate, reset ----------------------------------------------------------


@pytest.mark.django_db
def test_deactivating_signs_the_user_out_and_keeps_them_out(carol, alice, admin_client):
    alices_browser = Client()
    alices_browser.force_login(alice)
    assert alices_browser.get("/").status_code == 200
    response = admin_client.post(
        f"/accounts/users/{alice.public_id}/deactivate/", {"confirm": "yes"}
    )
    assert response.status_code == 302
    assert alices_browser.get("/").status_code == 302  # the open session is dead
    login = Client().post("/accounts/login/", {"username": "alice", "password": TEST_PASSWORD})
    assert login.status_code == 200  # refused
    assert events_about(alice, Action.USER_DEACTIVATED).count() == 1
    admin_client.post(  # again: no-op
        f"/accounts/users/{alice.public_id}/deactivate/", {"confirm": "yes"}
    )
    assert events_about(alice).count() == 1
    admin_client.post(f"/accounts/users/{alice.public_id}/activate/")
    assert User.objects.get(pk=alice.pk).is_active
    assert events_about(alice, Action.USER_ACTIVATED).count() == 1


@pytest.mark.django_db
def test_a_forced_reset_ends_sessions_and_the_old_password(carol, alice, admin_client):
    alices_browser = Client()
    alices_browser.force_login(alice)
    response = admin_client.post(f"/accounts/users/{alice.public_id}/reset-password/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert alices_browser.get("/").status_code == 302
    refused = Client().post("/accounts/login/", {"username": "alice", "password": TEST_PASSWORD})
    assert refused.status_code == 200
    assert events_about(alice, Action.USER_PASSWORD_RESET).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["deactivate", "reset-password"])
def test_an_admin_cannot_lock_themselves_out(action, carol, admin_client):
    response = admin_client.post(
        f"/accounts/users/{carol.public_id}/{action}/", {"confirm": "yes"}, follow=True
    )
    assert b"ask another administrator" in response.content
    carol = User.objects.get(pk=carol.pk)
    assert carol.is_active and carol.check_password(TEST_PASSWORD)
    assert not events_about(carol).exists()


@pytest.mark.django_db
def test_actions_refuse_get(alice, admin_client):
    # GET on deactivate is its confirmation page, which changes nothing
    assert admin_client.get(f"/accounts/users/{alice.public_id}/activate/").status_code == 405
    assert admin_client.get(f"/accounts/users/{alice.public_id}/deactivate/").status_code == 200
    assert User.objects.get(pk=alice.pk).is_active


@pytest.mark.django_db
def test_an_unknown_user_is_404(admin_client):
    assert (
        admin_client.get("/accounts/users/00000000-0000-0000-0000-000000000009/").status_code == 404
    )


@pytest.mark.django_db
def test_an_issued_password_does_not_open_an_api_token(carol, alice):
    from django.core.cache import cache
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    cache.clear()
    password = services.user_force_password_reset(user=alice, actor=carol)
    response = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": password})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "password_change_required"
    assert not Token.objects.filter(user=alice).exists()
    cache.clear()
