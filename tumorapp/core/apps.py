from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tumorapp.core"
    label = "core"
    verbose_name = "Core"
