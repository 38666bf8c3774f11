"""The one way audit events are written: services call audit_record() as they act."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tumorapp.audit.models import AuditEvent

GENESIS_HASH = "0" * 64
# Arbitrary constant: the PostgreSQL advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 7_202_611


def event_digest(event: AuditEvent) -> str:
    """SHA-256 over the event's content and its predecessor's hash (canonical JSON)."""
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
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites
    # it, and the deployment's proxy sets REMOTE_ADDR through gunicorn's forwarded-allow-ips.
    return request.META.get("REMOTE_ADDR") or None


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

    1. Take the chain lock (an advisory transaction lock on PostgreSQL; SQLite's write lock
       already serialises writers), so two appends cannot share a predecessor.
    2. Read the last event's hash.
    3. Insert the new event with its own hash.
    """
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(getattr(target, "public_id", target.pk))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        role = getattr(actor, "role", None) if actor is not None else None
        event = AuditEvent(
            created_at=timezone.now(),
            actor=actor if actor is not None and actor.pk else None,
            actor_name=actor.get_username() if actor is not None else "",
            actor_role=role.value if role else "",
            action=action,
            target_type=target_type,
            target_id=target_id,
            request_id=getattr(request, "request_id", "") if request is not None else "",
            ip=_client_ip(request) if request is not None else None,
            details=details or {},
            prev_hash=last or GENESIS_HASH,
        )
        event.hash = event_digest(event)
        event.save(force_insert=True)
    return event
