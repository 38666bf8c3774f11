"""The audit table only grows: the ORM, bulk paths and the database itself refuse changes,
and the chain verifier names the first event that was tampered with behind their back."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from tests.factories import UserFactory
from tumorapp.audit.models import AppendOnlyError, AuditEvent
from tumorapp.audit.selectors import chain_verify
from tumorapp.audit.services import audit_record


def tamper(sql: str, params: list) -> None:
    """Do what only a superuser can: switch the trigger off, run ``sql``, switch it on."""
    with connection.cursor() as cursor:
        # flush the test transaction's deferred FK checks, which would block ALTER TABLE
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")


@pytest.fixture
def three_events(alice):
    return [audit_record(action=f"test.{n}", actor=alice, details={"n": n}) for n in range(3)]


@pytest.mark.django_db
def test_the_orm_refuses_to_change_or_remove_an_event(three_events):
    event = AuditEvent.objects.get(pk=three_events[1].pk)
    event.details = {"n": "forged"}
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).details == {"n": 1}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bulk",
    [
        lambda qs: qs.update(action="test.forged"),
        lambda qs: qs.delete(),
        lambda qs: qs.bulk_update(list(qs), ["action"]),
        lambda qs: qs.bulk_create([AuditEvent(action="test.forged")]),
        lambda qs: AuditEvent.objects.update_or_create(pk=qs[0].pk, defaults={"action": "x"}),
    ],
    ids=["update", "delete", "bulk_update", "bulk_create", "update_or_create"],
)
def test_bulk_paths_cannot_bypass_the_log(bulk, three_events):
    with pytest.raises(AppendOnlyError):
        bulk(AuditEvent.objects.all())
    assert AuditEvent.objects.count() == 3
    assert chain_verify().ok


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'test.forged'",
        "DELETE FROM audit_auditevent",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_update_and_delete_even_for_a_superuser(sql, three_events):
    # given raw SQL that goes around every ORM guard, run as the test's superuser
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.filter(action="test.forged").count() == 0
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'test.forged'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent CASCADE",
    ],
    ids=["update", "delete", "truncate"],
)
def test_an_application_role_cannot_change_remove_or_truncate_events(sql, three_events):
    # given a non-superuser role with every table privilege, as a deployment's app role has
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE tumorapp_app_probe NOLOGIN")
        cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO tumorapp_app_probe")
    # when it tries to rewrite history, then the trigger refuses
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # flush the test transaction's deferred FK checks, which would block TRUNCATE
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL ROLE tumorapp_app_probe")
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db
def test_an_untouched_chain_verifies(three_events, capsys):
    call_command("audit_verify")
    assert "intact: 3 events" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_verifier_names_an_event_edited_with_the_trigger_disabled(three_events):
    # given a superuser who switches the trigger off and rewrites the middle event
    middle = three_events[1]
    tamper("UPDATE audit_auditevent SET details = '{\"n\": 99}' WHERE id = %s", [middle.pk])
    # when the chain is verified, then the command fails naming that event
    with pytest.raises(CommandError, match=str(middle.public_id)) as failure:
        call_command("audit_verify")
    assert "edited" in str(failure.value)
    assert "1 events before it are intact" in str(failure.value)


@pytest.mark.django_db
def test_the_verifier_names_the_event_after_a_removed_one(three_events):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [three_events[1].pk])
    report = chain_verify()
    assert report.broken.pk == three_events[2].pk
    assert "removed" in report.reason


@pytest.mark.django_db
def test_audit_verify_exits_non_zero_on_a_broken_chain(three_events):
    """The command as an operator runs it: exit status 1 and the event on stderr."""
    tamper("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [three_events[0].pk])
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify")
    assert failure.value.returncode == 1
    assert str(three_events[0].public_id) in str(failure.value)


@pytest.mark.django_db
def test_a_user_with_events_cannot_be_deleted(three_events, alice):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        alice.delete()
    assert UserFactory._meta.model.objects.filter(pk=alice.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_line_exits_1_naming_the_event(alice):
    """As an operator's cron job runs it: a separate process, exit status, message."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import quote

    events = [audit_record(action=f"test.{n}", actor=alice) for n in range(3)]
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tumorapp.settings.base",
        "DATABASE_URL": (
            f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
    }
    root = Path(__file__).resolve().parents[3]

    def verify():
        return subprocess.run(
            [sys.executable, "manage.py", "audit_verify"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    intact = verify()
    assert intact.returncode == 0, intact.stderr
    assert "intact: 3 events" in intact.stdout
    tamper("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE id = %s", [events[2].pk])
    broken = verify()
    assert broken.returncode == 1
    assert str(events[2].public_id) in broken.stderr
