from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "tumorapp.registry"
    label = "registry"
    verbose_name = "Model registry"
