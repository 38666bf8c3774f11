from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "tumorapp.registry"
    label = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        # Connects the training worker's start-up check (a Celery signal; inert on the web).
        from tumorapp.registry import worker  # noqa: F401
