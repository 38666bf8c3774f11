"""Object-level access rules for review cases (see tumorapp/scans/rules.py for scans)."""

from __future__ import annotations

from tumorapp.accounts.roles import Role
from tumorapp.scans.models import Scan


def can_view_case(user, case) -> bool:
    """Radiologists only, never a quarantined scan."""
    return user.has_role(Role.RADIOLOGIST) and case.scan.status != Scan.Status.QUARANTINED


def can_review_case(user, case) -> bool:
    """Only the reader holding a case's claim may record a read on it."""
    return user.has_role(Role.RADIOLOGIST) and case.claimed_by_id == user.pk and case.is_open
