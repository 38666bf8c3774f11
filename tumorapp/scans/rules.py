"""Object-level access rules for scans: who may see, upload or decide on which scan.

Role checks on views (RoleRequiredMixin, HasRole) say who may use a page at all; these
functions say which scans that page may show. Views filter through them and answer 404
for anything outside, so a guessed URL cannot tell "exists" from "not yours". The rules of
the other objects live with them: users and the audit log in tumorapp/accounts/rules.py
(with the URL access matrix), review cases in reviews/rules.py.
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


def can_decide_quarantine(user, scan: Scan) -> bool:
    """Admins look at quarantined scans (possible burned-in identifiers) to release or
    reject them; no one else sees them there, and nothing else is shown there."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and user.has_role(Role.ADMIN)
        and scan.status == Scan.Status.QUARANTINED
    )


# The access matrix, part 3 (parts 1 and 2: tumorapp/accounts/rules.py): object routes whose
# rule is not the default for their objects (scans -> can_view_scan, cases -> can_view_case,
# users -> can_manage_users, audit events -> can_read_audit). URL name -> (model label,
# rule(user, obj)); e.g. the quarantine pages that admins use to release quarantined scans,
# which can_view_scan hides.
ROUTE_OBJECT_RULES: dict[str, tuple[str, Callable[..., bool]]] = {
    "dicom:quarantine_image": ("scans.scan", can_decide_quarantine),
    "dicom:quarantine_decide": ("scans.scan", can_decide_quarantine),
}
