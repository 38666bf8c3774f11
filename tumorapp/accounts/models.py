import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from tumorapp.accounts.roles import Role

PERMISSIONS = (
    ("upload_scans", "Can upload scans"),
    ("view_scans", "Can view scans and predictions"),
    ("review_scans", "Can review scans"),
    ("manage_users", "Can manage users and roles"),
    ("view_audit", "Can read and export the audit log"),
    ("manage_models", "Can promote and roll back model versions"),
    ("manage_site", "Can change site options"),
    ("view_quality", "Can read the quality dashboard"),
    ("export_datasets", "Can export reviewed datasets"),
    ("train_models", "Can start retraining"),
)


class UnauditedWriteError(RuntimeError):
    """Raised when a bulk write would change what the user services audit."""


# Changing any of these is an audited action (tumorapp.accounts.services); a bulk UPDATE
# would do it without an event, so the queryset refuses.
AUDITED_FIELDS = frozenset(
    {
        "username",
        "first_name",
        "last_name",
        "email",
        "is_active",
        "password",
        "must_change_password",
        "is_staff",
        "is_superuser",
    }
)


class UserQuerySet(models.QuerySet):
    def update(self, **kwargs):
        touched = AUDITED_FIELDS.intersection(kwargs)
        if touched:
            raise UnauditedWriteError(
                f"bulk update of {sorted(touched)} would skip the audit log; use the services"
            )
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        touched = AUDITED_FIELDS.intersection(fields)
        if touched:
            raise UnauditedWriteError(
                f"bulk update of {sorted(touched)} would skip the audit log; use the services"
            )
        return super().bulk_update(objs, fields, *args, **kwargs)


class AuditedUserManager(UserManager.from_queryset(UserQuerySet)):
    pass


class User(AbstractUser):
    """A person using the site. Exactly one role, held as membership of the role's group."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    must_change_password = models.BooleanField(default=False)

    objects = AuditedUserManager()

    class Meta:
        permissions = PERMISSIONS

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def role(self) -> Role | None:
        """The user's role, cached per instance because every page's navigation asks."""
        if not hasattr(self, "_role_cache"):
            names = {g.name for g in self.groups.all()}
            self._role_cache = next((r for r in Role if r.value in names), None)
        return self._role_cache

    def has_role(self, *roles: Role) -> bool:
        return self.is_active and self.role in roles
