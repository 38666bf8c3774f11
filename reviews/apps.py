from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's rule for ready()).
        from reviews.models import SiteOptions
        from reviews.services import case_open_for_prediction
        from tumorapp.core import hooks as core
        from tumorapp.inference import hooks as inference

        inference.prediction_made.subscribe(case_open_for_prediction)
        core.site_options.provide(SiteOptions.current)
