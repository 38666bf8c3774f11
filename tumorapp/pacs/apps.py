from django.apps import AppConfig


class PacsConfig(AppConfig):
    name = "tumorapp.pacs"
    label = "pacs"
    verbose_name = "DICOM network"

    def ready(self) -> None:
        from tumorapp.core.health import dicom_checks
        from tumorapp.pacs.services import receiver_health

        dicom_checks["receiver"] = receiver_health
