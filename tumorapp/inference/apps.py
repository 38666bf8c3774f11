from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "tumorapp.inference"
    label = "inference"
    verbose_name = "Inference"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's rule for ready()).
        from tumorapp.inference.services import run_create_for_ready_scan
        from tumorapp.scans.hooks import scan_ready

        scan_ready.subscribe(run_create_for_ready_scan)
