"""The audit log pages: filters, one event's details, and an audited CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from tumorapp.audit.models import Action, AuditEvent
from tumorapp.audit.services import audit_record


@pytest.fixture
def logged(alice, bob):
    return [
        audit_record(action=Action.LOGIN, actor=alice),
        audit_record(action=Action.LOGIN, actor=bob),
        audit_record(action=Action.USER_CHANGED, actor=alice, target=bob, details={"x": 1}),
        audit_record(action=Action.LOGIN_FAILED, details={"username": '=HYPERLINK("http://evil")'}),
    ]


@pytest.fixture
def admin_client(carol, client):
    client.force_login(carol)
    return client


def listed(response):
    return [e.public_id for e in response.context["events"]]


@pytest.mark.django_db
def test_the_log_lists_newest_first_and_filters(logged, bob, admin_client):
    assert listed(admin_client.get("/audit/")) == [e.public_id for e in reversed(logged)]
    assert listed(admin_client.get("/audit/?actor=alice")) == [
        logged[2].public_id,
        logged[0].public_id,
    ]
    assert listed(admin_client.get("/audit/?action=auth.login_failed")) == [logged[3].public_id]
    target = str(bob.public_id).upper()  # pasted in capitals still matches
    assert listed(admin_client.get(f"/audit/?target={target}")) == [logged[2].public_id]
    assert listed(admin_client.get("/audit/?target=accounts.user")) == [logged[2].public_id]
    today = timezone.localdate()
    assert len(listed(admin_client.get(f"/audit/?since={today}&until={today}"))) == 4
    yesterday = today - timedelta(days=1)
    assert listed(admin_client.get(f"/audit/?until={yesterday}")) == []


@pytest.mark.django_db
def test_reversed_dates_are_an_error_not_a_crash(logged, admin_client):
    response = admin_client.get("/audit/?since=2026-02-02&until=2026-01-01")
    assert response.status_code == 200
    assert b"start date is after the end date" in response.content


@pytest.mark.django_db
def test_an_event_page_shows_its_details_escaped(logged, admin_client):
    event = audit_record(action=Action.LOGIN_FAILED, details={"username": "<script>x</script>"})
    html = admin_client.get(f"/audit/{event.public_id}/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert event.hash in html and event.prev_hash in html


@pytest.mark.django_db
def test_the_export_is_a_filtered_csv_download_and_is_audited(logged, carol, admin_client):
    response = admin_client.get("/audit/export.csv?action=auth.login_failed")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["id", "time", "actor", "role", "action"]
    assert [r[4] for r in rows[1:]] == ["auth.login_failed"]
    export = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert export.actor == carol
    assert export.details == {"filters": {"action": "auth.login_failed"}, "rows": 1}


@pytest.mark.django_db
def test_formula_cells_get_a_quote(admin_client):
    audit_record(action="=cmd|' /C calc'!A0")
    response = admin_client.get("/audit/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][4] == "'=cmd|' /C calc'!A0"


@pytest.mark.django_db
def test_the_log_page_costs_the_same_queries_for_more_events(logged, admin_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_page():
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get("/audit/")
        assert response.status_code == 200
        return len(captured)

    queries_for_page()  # warm the session
    few = queries_for_page()
    for n in range(60):
        audit_record(action=Action.LOGIN, details={"n": n})
    assert queries_for_page() == few
