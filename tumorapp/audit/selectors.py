"""Reads of the audit log: filtered lists for the admin pages, and the chain check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from tumorapp.audit.models import AuditEvent
from tumorapp.audit.services import GENESIS_HASH, event_digest


def audit_events(
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """Newest first. ``actor`` is an exact username and ``target`` a target's exact public id
    or type, so the indexes serve them however long the log grows; dates are whole days in
    the site's time zone, both ends included."""
    events = AuditEvent.objects.all()
    if actor:
        events = events.filter(actor_name=actor.strip())
    if action:
        events = events.filter(action=action)
    if target:
        target = target.strip().lower()  # UUIDs and model labels are stored lower-case
        events = events.filter(Q(target_id=target) | Q(target_type=target))
    if since:
        events = events.filter(created_at__gte=_start_of(since))
    if until:
        events = events.filter(created_at__lt=_start_of(until + timedelta(days=1)))
    return events.order_by("-id")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken: AuditEvent | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken is None


def chain_verify() -> ChainReport:
    """Walk the chain from the first event and stop at the first one that does not hold.

    1. Each event must name its predecessor's hash (catches removed or inserted events).
    2. Each event's stored hash must match its recomputed content (catches edited events).
    """
    previous = GENESIS_HASH
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != previous:
            return ChainReport(
                checked,
                event,
                "its prev_hash is not the hash of the event before it "
                "(an event before it was removed, inserted or rewritten)",
            )
        if event_digest(event) != event.hash:
            return ChainReport(checked, event, "its content does not match its hash (edited)")
        previous = event.hash
        checked += 1
    return ChainReport(checked)
