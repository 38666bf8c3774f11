"""The one way audit events are written: services call audit_record() as they act."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tumorapp.audit.models import Action, AuditEvent

GENESIS_HASH = "0" * 64
# Arbitrary constant: the PostgreSQL advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 7_202_611


def event_digest(event: AuditEvent) -> str:
    """SHA-256 over the event's content and its predecessor's hash (canonical JSON)."""
    return hashlib.sha256(_canonical_json(event).encode()).hexdigest()


def _canonical_json(event: AuditEvent) -> str:
    payload = {
        "public_id": str(event.public_id),
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "request_id": event.request_id,
        "ip": event.ip,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def _client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites
    # it, and the deployment's proxy sets REMOTE_ADDR through gunicorn's forwarded-allow-ips.
    return request.META.get("REMOTE_ADDR") or None


def audit_chain_lock() -> None:
    """Take the chain's lock now, inside the caller's transaction (until it ends). A service
    that locks rows others lock after writing an audit event takes this first, so both
    take the two locks in the same order (no deadlock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def audit_record(
    *,
    action: str,
    actor=None,
    request=None,
    target: Any = None,
    target_type: str = "",
    target_id: str = "",
    details: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    1. Build the event (all but its time and hashes) before taking the chain lock.
    2. Take the chain lock (an advisory transaction lock on PostgreSQL; SQLite's write lock
       already serialises writers), so two appends cannot share a predecessor.
    3. Read the last event's hash and insert the new event with its own hash. On
       PostgreSQL this is one statement (``_insert_chained``): every other append waits
       for this transaction to commit, so the lock is held for as few round trips as can be.
    """
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(getattr(target, "public_id", target.pk))
    role = getattr(actor, "role", None) if actor is not None else None
    event = AuditEvent(
        actor=actor if actor is not None and actor.pk else None,
        actor_name=actor.get_username() if actor is not None else "",
        actor_role=role.value if role else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        request_id=getattr(request, "request_id", "") if request is not None else "",
        ip=_client_ip(request) if request is not None else None,
        details=details or {},
    )
    # No savepoint of its own (two more round trips under the lock): an event that cannot
    # be written fails the caller's whole transaction, so an act is never kept without it.
    with transaction.atomic(savepoint=False):
        audit_chain_lock()
        event.created_at = timezone.now()
        if connection.vendor == "postgresql":
            _insert_chained(event)
        else:
            last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
            event.prev_hash = last or GENESIS_HASH
            event.hash = event_digest(event)
            event.save(force_insert=True)
    return event


def _insert_chained(event: AuditEvent) -> None:
    """Insert ``event`` after the last event in one statement (the chain lock is held).

    The digest's canonical JSON is built here with a one-off marker where the previous hash
    goes; PostgreSQL reads the last hash, puts it in place of the marker and hashes the
    text with sha256(), which gives exactly ``event_digest`` (checked before returning).
    """
    marker = uuid.uuid4().hex * 2  # 64 characters, like a hash; never in the event's text
    event.prev_hash = marker
    before, after = _canonical_json(event).split(marker)
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH last AS (
                SELECT COALESCE(
                    (SELECT hash FROM {table} ORDER BY id DESC LIMIT 1), %s
                ) AS hash
            )
            INSERT INTO {table} (
                public_id, created_at, actor_id, actor_name, actor_role, action, target_type,
                target_id, request_id, ip, details, prev_hash, hash
            )
            SELECT %s::uuid, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s::jsonb, last.hash,
                encode(sha256(convert_to(%s || last.hash || %s, 'UTF8')), 'hex')
            FROM last
            RETURNING id, prev_hash, hash
            """,  # noqa: S608 (the table name is the model's; every value is a parameter)
            [
                GENESIS_HASH,
                str(event.public_id),
                event.created_at,
                event.actor_id,
                event.actor_name,
                event.actor_role,
                event.action,
                event.target_type,
                event.target_id,
                event.request_id,
                event.ip,
                json.dumps(event.details),
                before,
                after,
            ],
        )
        event.pk, event.prev_hash, event.hash = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias
    if event_digest(event) != event.hash:  # rolls the caller's transaction back
        raise RuntimeError("the database's hash of an audit event differs from event_digest")


# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "id",
    "time",
    "actor",
    "role",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "ip",
    "details",
    "hash",
)


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def audit_export(*, events, filters: dict, actor, request=None) -> Iterator[str]:
    """Record the export of a filtered view of the log, then return its CSV lines.

    The rows are fixed before the export event is written, so the file never contains the
    event that records it.
    """
    last_id = events.order_by("-id").values_list("id", flat=True).first() or 0
    rows = events.filter(id__lte=last_id).order_by("id")
    audit_record(
        action=Action.AUDIT_EXPORTED,
        actor=actor,
        request=request,
        details={"filters": filters, "rows": rows.count()},
    )
    return _csv_lines(rows)


def _csv_lines(rows) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(v) for v in values])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for event in rows.iterator(chunk_size=2000):
        yield line(
            (
                event.public_id,
                event.created_at.isoformat(),
                event.actor_name,
                event.actor_role,
                event.action,
                event.target_type,
                event.target_id,
                event.request_id,
                event.ip,
                json.dumps(event.details, sort_keys=True),
                event.hash,
            )
        )
