from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "tumorapp.audit"
    label = "audit"
    verbose_name = "Audit trail"
