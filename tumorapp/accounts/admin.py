from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from tumorapp.accounts.models import User
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Django's admin site, for superusers. The admin role uses /accounts/users/; changes made
    here are audited too, naming the fields that changed (never their values: passwords)."""

    list_display = ("username", "email", "first_name", "last_name", "is_active", "last_login")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action=Action.USER_CHANGED if change else Action.USER_CREATED,
            request=request,
            target=obj,
            details={"fields": sorted(form.changed_data), "via": "django-admin"},
        )
