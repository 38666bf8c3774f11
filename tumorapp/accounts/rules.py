"""Object-level access rules: who may see which object. The one module that decides it.

Role checks on views (RoleRequiredMixin, HasRole) say who may use a page at all; these
functions say which objects that page may show. Views filter through them and answer 404
for anything outside, so a guessed URL cannot tell "exists" from "not yours".
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

from tumorapp.accounts.roles import Role
from tumorapp.scans.models import Scan


def scans_visible_to(user) -> QuerySet[Scan]:
    """Technologists see their own uploads; radiologists and admins every scan that is
    not quarantined; everyone else (data team, no role, anonymous) none through these pages."""
    if not getattr(user, "is_authenticated", False):
        return Scan.objects.none()
    if user.has_role(Role.RADIOLOGIST, Role.ADMIN):
        return Scan.objects.exclude(status=Scan.Status.QUARANTINED)
    if user.has_role(Role.TECHNOLOGIST):
        return Scan.objects.filter(uploaded_by=user)
    return Scan.objects.none()


def can_view_scan(user, scan: Scan) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.has_role(Role.RADIOLOGIST, Role.ADMIN):
        return scan.status != Scan.Status.QUARANTINED
    if user.has_role(Role.TECHNOLOGIST):
        return scan.uploaded_by_id == user.pk
    return False


def can_upload_scans(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(Role.TECHNOLOGIST)


def can_view_case(user, case) -> bool:
    """A review case (reviews app): radiologists only, never a quarantined scan."""
    return user.has_role(Role.RADIOLOGIST) and case.scan.status != Scan.Status.QUARANTINED


def can_review_case(user, case) -> bool:
    """Only the reader holding a case's claim may record a read on it."""
    return user.has_role(Role.RADIOLOGIST) and case.claimed_by_id == user.pk and case.is_open


# --- Users and audit -----------------------------------------------------------------------
# Admins manage users and read the audit log; they do not review (no RADIOLOGIST rights).
# The data team sees de-identified data and exports, never user management or the audit log.
USER_ADMIN_ROLES: tuple[Role, ...] = (Role.ADMIN,)
AUDIT_ROLES: tuple[Role, ...] = (Role.ADMIN,)

# The access matrix, part 1: URLs open to anyone, and URLs open to any signed-in user
# whatever their role. Every other URL must name its roles on the view (RoleRequiredMixin
# `roles`, DRF `HasRole.of(...)`), which is part 2; tests/tumorapp/accounts/test_access.py
# walks every route and fails on one that is in neither part.
# Signing out is open to anyone: without a session it only redirects to the sign-in page.
PUBLIC_URLS: frozenset[str] = frozenset(
    {"accounts:login", "accounts:logout", "accounts:session", "core:health", "api-token"}
)
SIGNED_IN_URLS: frozenset[str] = frozenset(
    {"core:home", "accounts:password_change", "api-me", "api-schema", "api-docs"}
)


# The access matrix, part 3: object routes whose rule is not the default for their objects
# (scans -> can_view_scan, cases -> can_view_case, users -> can_manage_users, audit events ->
# can_read_audit). URL name -> (model label, rule(user, obj)); e.g. a quarantine page that
# admins use to release quarantined scans, which can_view_scan hides.
def can_decide_quarantine(user, scan: Scan) -> bool:
    """Admins look at quarantined scans (possible burned-in identifiers) to release or
    reject them; no one else sees them there, and nothing else is shown there."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and user.has_role(Role.ADMIN)
        and scan.status == Scan.Status.QUARANTINED
    )


ROUTE_OBJECT_RULES: dict[str, tuple[str, Callable[..., bool]]] = {
    "dicom:quarantine_image": ("scans.scan", can_decide_quarantine),
    "dicom:quarantine_decide": ("scans.scan", can_decide_quarantine),
}


def can_manage_users(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*USER_ADMIN_ROLES)


def can_read_audit(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*AUDIT_ROLES)
