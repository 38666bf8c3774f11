"""Roles are Django groups; this module is the one place that says what each role may do."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    RADIOLOGIST = "radiologist", "Radiologist"
    TECHNOLOGIST = "technologist", "Technologist"
    ADMIN = "admin", "Admin"
    DATA_TEAM = "data_team", "Data team"


CLINICAL_ROLES = frozenset({Role.RADIOLOGIST, Role.TECHNOLOGIST})

# Custom permissions live on accounts.User (see User.Meta.permissions).
ROLE_PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.RADIOLOGIST: ("review_scans", "view_scans"),
    Role.TECHNOLOGIST: ("upload_scans",),
    Role.ADMIN: (
        "manage_users",
        "view_audit",
        "manage_models",
        "manage_site",
        "view_quality",
        "view_scans",
    ),
    Role.DATA_TEAM: ("export_datasets", "train_models", "view_quality"),
}


def sync_role_groups(group_model, permission_model, content_type_model) -> None:
    """Create each role's group and give it exactly its permissions (used by migrations)."""
    from tumorapp.accounts.models import PERMISSIONS

    content_type, _ = content_type_model.objects.get_or_create(app_label="accounts", model="user")
    by_codename = {}
    for codename, name in PERMISSIONS:
        permission, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        by_codename[codename] = permission
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role.value)
        group.permissions.set([by_codename[c] for c in codenames])
