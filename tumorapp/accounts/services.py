"""Writes to users and roles. Each service audits itself."""

from __future__ import annotations

import secrets

from axes.utils import reset as axes_reset
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

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
    if actor is not None and user.pk == actor.pk:
        raise ValidationError("You cannot change your own role; ask another administrator.")
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


# Unambiguous letters and digits (no 0/O, 1/l/I): read aloud or typed from a note.
_TEMPORARY_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PROFILE_FIELDS = ("first_name", "last_name", "email")


def temporary_password() -> str:
    """Four groups of five characters: about 116 bits, valid for one sign-in."""
    groups = ("".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join(groups)


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: User,
    request=None,
    role: Role | None = None,
    **profile: str,
) -> User:
    """Change a user's name and e-mail (one USER_CHANGED event listing what changed) and,
    when ``role`` differs, the role (one USER_ROLE_CHANGED event, see user_set_role)."""
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"user_update: unknown fields {sorted(unknown)}")
    changes = {
        field: [getattr(user, field), value]
        for field, value in profile.items()
        if getattr(user, field) != value
    }
    if changes:
        for field, (_, value) in changes.items():
            setattr(user, field, value)
        user.full_clean(exclude=["password"])
        user.save(update_fields=list(changes))
        audit_record(
            action=Action.USER_CHANGED,
            actor=actor,
            request=request,
            target=user,
            details={"changes": changes},
        )
    if role is not None:
        user_set_role(user=user, role=role, actor=actor, request=request)
    return user


def _refuse_self(user: User, actor: User, what: str) -> None:
    if user.pk == actor.pk:
        raise ValidationError(f"You cannot {what} your own account; ask another administrator.")


@transaction.atomic
def user_deactivate(*, user: User, actor: User, request=None) -> User:
    """Stop a user signing in. Their open sessions end at their next request (Django refuses
    inactive users) and their API token is revoked; their history stays."""
    _refuse_self(user, actor, "deactivate")
    if not user.is_active:
        return user
    user.is_active = False
    user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    audit_record(action=Action.USER_DEACTIVATED, actor=actor, request=request, target=user)
    return user


@transaction.atomic
def user_activate(*, user: User, actor: User, request=None) -> User:
    if user.is_active:
        return user
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(action=Action.USER_ACTIVATED, actor=actor, request=request, target=user)
    return user


@transaction.atomic
def user_force_password_reset(*, user: User, actor: User, request=None) -> str:
    """Replace the user's password with a temporary one and return it (shown once to the
    admin). The old password and every open session stop working (the session hash
    changes), the API token is revoked, a lockout on the username is lifted, and the user
    must choose a new password at the next sign-in."""
    _refuse_self(user, actor, "reset the password of")
    password = temporary_password()
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    Token.objects.filter(user=user).delete()
    axes_reset(username=user.get_username())
    audit_record(action=Action.USER_PASSWORD_RESET, actor=actor, request=request, target=user)
    return password
