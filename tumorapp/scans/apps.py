from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "tumorapp.scans"
    label = "scans"
    verbose_name = "Scans"
