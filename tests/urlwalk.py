"""Walk the whole URL map and say, for every route, who the code declares may use it.

The declaration has two parts: tumorapp.accounts.rules lists the routes open to anyone
(PUBLIC_URLS) and to any signed-in user (SIGNED_IN_URLS); every other route's view names its
roles (RoleRequiredMixin ``roles``, DRF ``HasRole.of(...)``). A route in neither part is
``undeclared``, which the access test treats as a failure.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from tumorapp.accounts import rules
from tumorapp.accounts.access import HasRole, RoleRequiredMixin
from tumorapp.accounts.roles import Role

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_DUMMY = {"uuid": str(uuid.UUID(int=1)), "int": "1", "slug": "x", "str": "x", "path": "x"}
# Django's own admin site: superusers only, guarded by Django (tested separately).
_DJANGO_ADMIN_PREFIX = "django-admin/"

PUBLIC = "public"
SIGNED_IN = "signed_in"
ROLES = "roles"
UNDECLARED = "undeclared"


@dataclass(frozen=True)
class Route:
    route: str
    name: str
    kind: str
    roles: frozenset[Role]
    api: bool

    @property
    def url(self) -> str:
        return self.url_with()

    def url_with(self, object_id: str | None = None) -> str:
        def fill(match):
            converter = match.group(1) or "str"
            if converter == "uuid" and object_id is not None:
                return object_id
            return _DUMMY.get(converter, "x")

        return "/" + _CONVERTER.sub(fill, self.route)

    @property
    def takes_uuid(self) -> bool:
        return "<uuid:" in self.route

    def allows(self, role: Role | None) -> bool:
        """Whether a signed-in user of ``role`` (None: no role) gets past the access check."""
        if self.kind in (PUBLIC, SIGNED_IN):
            return True
        return role is not None and role in self.roles


def _view_class(callback):
    return getattr(callback, "view_class", None) or getattr(callback, "cls", None)


def _declared_roles(callback) -> tuple[frozenset[Role], bool] | None:
    view_class = _view_class(callback)
    if view_class is None:
        return None
    if issubclass(view_class, RoleRequiredMixin):
        return frozenset(view_class.roles), False
    for perm in getattr(view_class, "permission_classes", ()):
        if isinstance(perm, type) and issubclass(perm, HasRole):
            return frozenset(perm.roles), True
    return None


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield prefix + str(entry.pattern), name, entry


def all_routes() -> list[Route]:
    found = {}
    for route, name, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(_DJANGO_ADMIN_PREFIX) or route.startswith("^") or "(?P" in route:
            continue
        api = (
            route.startswith("api/")
            or _view_class(pattern.callback) is not None
            and hasattr(_view_class(pattern.callback), "permission_classes")
        )
        declared = _declared_roles(pattern.callback)
        if name in rules.PUBLIC_URLS:
            kind, roles = PUBLIC, frozenset()
        elif name in rules.SIGNED_IN_URLS:
            kind, roles = SIGNED_IN, frozenset()
        elif declared is not None:
            kind, roles = ROLES, declared[0]
        else:
            kind, roles = UNDECLARED, frozenset()
        found[route] = Route(route, name or route, kind, roles, api)
    return sorted(found.values(), key=lambda r: r.route)


def role_urls() -> list[Route]:
    """The routes restricted to roles (kept for tests that only need those)."""
    return [r for r in all_routes() if r.kind == ROLES]
