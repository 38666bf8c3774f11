from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "tumorapp.quality"
    label = "quality"
    verbose_name = "Quality"
