from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "tumorapp.results"
    verbose_name = "Results to the PACS"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's rule for ready()).
        from tumorapp.core.health import dicom_checks
        from tumorapp.results.destination import destination_health

        dicom_checks["destination"] = destination_health
