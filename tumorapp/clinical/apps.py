from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "tumorapp.clinical"
    label = "clinical"
    verbose_name = "Clinical link"
