"""Signing in and out through the real form, with audit events and navigation by role."""

import pytest
from django.core.management import call_command

from tests.factories import TEST_PASSWORD
from tumorapp.accounts.models import User
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.core.navigation import NAVIGATION


@pytest.mark.django_db
def test_a_user_signs_in_and_out_and_both_are_audited(alice, client):
    response = client.post("/accounts/login/", {"username": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
    actions = list(AuditEvent.objects.filter(actor=alice).values_list("action", flat=True))
    assert actions == [Action.LOGIN, Action.LOGOUT]


@pytest.mark.django_db
def test_a_wrong_password_is_refused_and_audited(alice, client):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"do not match" in response.content
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.details == {"username": "alice"}
    assert event.actor is None


@pytest.mark.django_db
def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("role_name", ["radiologist", "technologist", "admin", "data_team"])
def test_each_role_sees_only_its_navigation(role_name, users, client):
    client.force_login(users[role_name])
    html = client.get("/").content.decode()
    role = Role(role_name)
    for item in NAVIGATION:
        from django.urls import reverse

        link = f'href="{reverse(item.url_name)}"'
        assert (link in html) == (role in item.roles), f"{item.label} for {role_name}"


@pytest.mark.django_db
def test_password_change_enforces_twelve_characters(alice, client):
    client.force_login(alice)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "Sh0rt!pass",
            "new_password2": "Sh0rt!pass",
        },
    )
    assert response.status_code == 200
    assert b"at least 12 characters" in response.content
    response = client.post(
        "/accounts/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "a much longer passphrase",
            "new_password2": "a much longer passphrase",
        },
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=Action.PASSWORD_CHANGED, actor=alice).count() == 1


@pytest.mark.django_db
def test_demo_users_get_one_role_each_and_can_sign_in(client, settings):
    settings.EMBEDDED = True
    call_command("create_demo_users")
    call_command("create_demo_users")  # idempotent
    for username, role in [
        ("radiologist", Role.RADIOLOGIST),
        ("technologist", Role.TECHNOLOGIST),
        ("admin", Role.ADMIN),
        ("datateam", Role.DATA_TEAM),
    ]:
        user = User.objects.get(username=username)
        assert user.role == role
        assert user.groups.count() == 1
        response = client.post(
            "/accounts/login/", {"username": username, "password": f"{username}-demo-pass"}
        )
        assert response.status_code == 302, username
        client.post("/accounts/logout/")


@pytest.mark.django_db
def test_demo_users_are_refused_on_a_real_deployment(settings):
    from django.core.management.base import CommandError

    settings.EMBEDDED = False
    with pytest.raises(CommandError, match="embedded"):
        call_command("create_demo_users")
    assert not User.objects.filter(username="radiologist").exists()


@pytest.mark.django_db
def test_create_user_command_validates_the_password(monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.setenv("NEW_PASSWORD", "short")
    with pytest.raises(CommandError, match="too short"):
        call_command("create_user", "frank", role="radiologist", password_env="NEW_PASSWORD")
    monkeypatch.setenv("NEW_PASSWORD", "a long enough passphrase")
    call_command("create_user", "frank", role="radiologist", password_env="NEW_PASSWORD")
    frank = User.objects.get(username="frank")
    assert frank.role == Role.RADIOLOGIST
    assert (
        AuditEvent.objects.filter(
            action=Action.USER_CREATED, target_id=str(frank.public_id)
        ).count()
        == 1
    )
