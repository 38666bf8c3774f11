"""Walk the URL map and find every view that is restricted to roles."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from tumorapp.accounts.access import HasRole, RoleRequiredMixin
from tumorapp.accounts.roles import Role

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_DUMMY = {"uuid": str(uuid.UUID(int=1)), "int": "1", "slug": "x", "str": "x", "path": "x"}


@dataclass(frozen=True)
class RoleUrl:
    url: str
    name: str
    roles: frozenset[Role]
    api: bool


def _roles_of(callback) -> tuple[frozenset[Role], bool] | None:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return None
    if issubclass(view_class, RoleRequiredMixin):
        return frozenset(view_class.roles), False
    perms = getattr(view_class, "permission_classes", ())
    for perm in perms:
        if isinstance(perm, type) and issubclass(perm, HasRole):
            return frozenset(perm.roles), True
    return None


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def role_urls() -> list[RoleUrl]:
    found = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("^") or "(?P" in route:
            continue  # regex routes belong to Django's own admin, not to role views
        roles = _roles_of(pattern.callback)
        if roles is None:
            continue
        url = "/" + _CONVERTER.sub(lambda m: _DUMMY.get(m.group(1) or "str", "x"), route)
        found[url] = RoleUrl(url, pattern.name or route, roles[0], roles[1])
    return sorted(found.values(), key=lambda r: r.url)
