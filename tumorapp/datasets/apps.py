from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "tumorapp.datasets"
    label = "datasets"
    verbose_name = "Datasets"
