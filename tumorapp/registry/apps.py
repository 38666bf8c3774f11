from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "tumorapp.registry"
    label = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's rule for ready()).
        from reviews import hooks as reviews
        from tumorapp.inference import hooks as inference

        # The worker module connects the training worker's start-up check (a Celery
        # signal; inert on the web).
        from tumorapp.registry import selectors, worker  # noqa: F401

        inference.active_model.provide(selectors.active_model)
        inference.threshold_in_force.provide(selectors.effective_threshold)
        reviews.operating_point.provide(selectors.operating_point)
