"""Reads of users for the admin pages."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from tumorapp.accounts.models import User


def users_for_admin(*, q: str = "", role: str = "", status: str = "") -> QuerySet[User]:
    users = User.objects.prefetch_related("groups").order_by("username")
    if q:
        users = users.filter(
            Q(username__icontains=q)
            | Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
            | Q(email__icontains=q)
        )
    if role:
        users = users.filter(groups__name=role)
    if status == "active":
        users = users.filter(is_active=True)
    elif status == "inactive":
        users = users.filter(is_active=False)
    return users
