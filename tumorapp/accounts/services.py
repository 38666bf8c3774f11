"""Writes to users and roles. Each service audits itself."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from tumorapp.accounts.models import User
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record


@transaction.atomic
def user_create(
    *,
    username: str,
    role: Role,
    password: str | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    actor: User | None = None,
    request=None,
    validate: bool = True,
) -> User:
    """Create a user holding exactly one role. With no password the account cannot log in
    until an admin sets one (the user is asked to change it at first login)."""
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    if password is None:
        user.set_unusable_password()
    else:
        if validate:
            validate_password(password, user)
        user.set_password(password)
        user.must_change_password = actor is not None
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.set([Group.objects.get(name=role.value)])
    audit_record(
        action=Action.USER_CREATED,
        actor=actor,
        request=request,
        target=user,
        details={"username": username, "role": role.value},
    )
    return user


@transaction.atomic
def user_set_role(*, user: User, role: Role, actor: User | None = None, request=None) -> User:
    previous = user.role
    if previous == role:
        return user
    user.groups.set([Group.objects.get(name=role.value)])
    if hasattr(user, "_role_cache"):
        del user._role_cache
    audit_record(
        action=Action.USER_ROLE_CHANGED,
        actor=actor,
        request=request,
        target=user,
        details={"from": previous.value if previous else None, "to": role.value},
    )
    return user
