"""Brain-MRI triage and review platform: the Django project package."""

from tumorapp.celery import app as celery_app

__all__ = ("celery_app",)
