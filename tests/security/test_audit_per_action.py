"""RELIABILITY 22 for the actions this area owns: each writes exactly one audit event, and
bulk writes on audited models cannot skip the log. (Uploads, scan views, reviews and exports
are tested the same way next to their own code.)"""

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import TEST_PASSWORD
from tumorapp.accounts.models import UnauditedWriteError, User
from tumorapp.audit.models import Action, AuditEvent


def admin(users):
    client = Client()
    client.force_login(users["admin"])
    return client


def sign_in(users, password=TEST_PASSWORD):
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": password})
    return client


def one_attempt_short_of_the_lock():
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    return client


ALICE = "/accounts/users/{alice}/"
ACTIONS = {
    Action.LOGIN: lambda u: sign_in(u),
    Action.LOGIN_FAILED: lambda u: sign_in(u, "wrong password"),
    Action.LOGOUT: lambda u: sign_in(u).post("/accounts/logout/"),
    Action.PASSWORD_CHANGED: lambda u: sign_in(u).post(
        "/accounts/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "another long passphrase",
            "new_password2": "another long passphrase",
        },
    ),
    Action.USER_CREATED: lambda u: admin(u).post(
        "/accounts/users/new/", {"username": "ivy", "role": "technologist", "password_mode": "none"}
    ),
    Action.USER_CHANGED: lambda u: admin(u).post(
        ALICE.format(alice=u["radiologist"].public_id),
        {"first_name": "Alicia", "last_name": "", "email": "", "role": "radiologist"},
    ),
    Action.USER_ROLE_CHANGED: lambda u: admin(u).post(
        ALICE.format(alice=u["radiologist"].public_id),
        {
            "first_name": u["radiologist"].first_name,
            "last_name": u["radiologist"].last_name,
            "email": u["radiologist"].email,
            "role": "technologist",
        },
    ),
    Action.USER_DEACTIVATED: lambda u: admin(u).post(
        ALICE.format(alice=u["radiologist"].public_id) + "deactivate/", {"confirm": "yes"}
    ),
    Action.USER_PASSWORD_RESET: lambda u: admin(u).post(
        ALICE.format(alice=u["radiologist"].public_id) + "reset-password/"
    ),
    Action.AUDIT_EXPORTED: lambda u: b"".join(admin(u).get("/audit/export.csv").streaming_content),
}


@pytest.mark.django_db
@pytest.mark.parametrize("action", list(ACTIONS), ids=[a.value for a in ACTIONS])
def test_the_action_writes_exactly_one_event(action, users):
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ACTIONS[action](users)
    new = list(AuditEvent.objects.filter(id__gt=before).values_list("action", flat=True))
    # signing in to perform an action is itself audited; count only the action under test
    assert new.count(action) == 1, new
    assert set(new) <= {action, Action.LOGIN}, new


@pytest.mark.django_db
def test_activation_writes_exactly_one_event(users):
    alice = users["radiologist"]
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    admin(users).post(ALICE.format(alice=alice.public_id) + "activate/")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [Action.USER_ACTIVATED]


@pytest.mark.django_db
def test_the_attempt_that_reaches_the_lock_writes_one_lockout_event(users):
    client = one_attempt_short_of_the_lock()
    before = AuditEvent.objects.count()
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert list(AuditEvent.objects.order_by("id")[before:].values_list("action", flat=True)) == [
        Action.LOCKED_OUT
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bulk",
    [
        lambda: User.objects.update(is_active=False),
        lambda: User.objects.filter(username="alice").update(email="x@evil.test"),
        lambda: User.objects.bulk_update(list(User.objects.all()), ["password"]),
    ],
    ids=["deactivate-all", "change-email", "bulk_update-password"],
)
def test_bulk_writes_on_users_cannot_skip_the_log(bulk, users):
    with pytest.raises(UnauditedWriteError):
        bulk()
    assert User.objects.filter(is_active=True).count() == 5
    assert User.objects.get(username="alice").email == "alice@hospital.test"


@pytest.mark.django_db
def test_bulk_writes_of_unaudited_fields_still_work(users):
    assert User.objects.filter(username="alice").update(last_login=None) == 1


@pytest.mark.django_db
def test_django_admin_site_changes_are_audited_too(users):
    superuser = User.objects.create_superuser("root", "root@hospital.test", TEST_PASSWORD)
    client = Client()
    client.force_login(superuser)
    alice = users["radiologist"]
    page = client.get(f"/django-admin/accounts/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "groups"}
    data.update(
        {
            "first_name": "Alicia",
            "date_joined_0": alice.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": alice.date_joined.strftime("%H:%M:%S"),
            "groups": [g.pk for g in alice.groups.all()],
            "is_active": "on",
        }
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("user_permissions", None)
    response = client.post(f"/django-admin/accounts/user/{alice.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.get(target_id=str(alice.public_id))
    assert event.action == Action.USER_CHANGED
    assert "first_name" in event.details["fields"] and event.details["via"] == "django-admin"
