from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "tumorapp.results"
    verbose_name = "Results to the PACS"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's rule for ready()).
        from reviews import hooks as reviews
        from tumorapp.core.health import dicom_checks
        from tumorapp.results.destination import destination_health
        from tumorapp.results.services import result_send_create

        dicom_checks["destination"] = destination_health
        reviews.case_reported.subscribe(result_send_create)
