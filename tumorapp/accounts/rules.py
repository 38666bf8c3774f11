"""Access rules for users and the audit log, and the URL access matrix.

Role checks on views (RoleRequiredMixin, HasRole) say who may use a page at all. The rules
of each kind of object live beside it, in the layer that owns it: scans in
tumorapp/scans/rules.py (with the matrix's object routes), review cases in reviews/rules.py.
"""

from __future__ import annotations

from tumorapp.accounts.roles import Role

# Admins manage users and read the audit log; they do not review (no RADIOLOGIST rights).
# The data team sees de-identified data and exports, never user management or the audit log.
USER_ADMIN_ROLES: tuple[Role, ...] = (Role.ADMIN,)
AUDIT_ROLES: tuple[Role, ...] = (Role.ADMIN,)

# The access matrix, part 1: URLs open to anyone, and URLs open to any signed-in user
# whatever their role. Every other URL must name its roles on the view (RoleRequiredMixin
# `roles`, DRF `HasRole.of(...)`), which is part 2; tests/tumorapp/accounts/test_access.py
# walks every route and fails on one that is in neither part. Part 3, object routes with a
# rule of their own, is tumorapp.scans.rules.ROUTE_OBJECT_RULES.
# Signing out is open to anyone: without a session it only redirects to the sign-in page.
PUBLIC_URLS: frozenset[str] = frozenset(
    {"accounts:login", "accounts:logout", "accounts:session", "core:health", "api-token"}
)
SIGNED_IN_URLS: frozenset[str] = frozenset(
    {"core:home", "accounts:password_change", "api-me", "api-schema", "api-docs"}
)


def can_manage_users(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*USER_ADMIN_ROLES)


def can_read_audit(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*AUDIT_ROLES)
