from django.apps import AppConfig


class PacsConfig(AppConfig):
    name = "tumorapp.pacs"
    label = "pacs"
    verbose_name = "DICOM network"
