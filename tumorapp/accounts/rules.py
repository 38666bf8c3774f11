"""Object-level access rules: who may see which object. The one module that decides it.

Role checks on views (RoleRequiredMixin, HasRole) say who may use a page at all; these
functions say which objects that page may show. Views filter through them and answer 404
for anything outside, so a guessed URL cannot tell "exists" from "not yours".
"""

from __future__ import annotations

from tumorapp.accounts.roles import Role


# --- Users and audit -----------------------------------------------------------------------
# Admins manage users and read the audit log; they do not review (no RADIOLOGIST rights).
# The data team sees de-identified data and exports, never user management or the audit log.
USER_ADMIN_ROLES: tuple[Role, ...] = (Role.ADMIN,)
AUDIT_ROLES: tuple[Role, ...] = (Role.ADMIN,)

# The access matrix, part 1: URLs open to anyone, and URLs open to any signed-in user
# whatever their role. Every other URL must name its roles on the view (RoleRequiredMixin
# `roles`, DRF `HasRole.of(...)`), which is part 2; tests/tumorapp/accounts/test_access.py
# walks every route and fails on one that is in neither part.
PUBLIC_URLS: frozenset[str] = frozenset(
    {"accounts:login", "core:health", "api-token", "api-schema", "api-docs"}
)
SIGNED_IN_URLS: frozenset[str] = frozenset(
    {"core:home", "accounts:logout", "accounts:password_change", "api-me"}
)


def can_manage_users(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*USER_ADMIN_ROLES)


def can_read_audit(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*AUDIT_ROLES)
