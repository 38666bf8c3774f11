from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "tumorapp.inference"
    label = "inference"
    verbose_name = "Inference"
