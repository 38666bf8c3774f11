"""Celery task that builds a dataset export. Thin: it calls one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from tumorapp.datasets.services import export_build, export_fail


@shared_task(
    bind=True,
    name="datasets.build_export",
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    retry_backoff_max=120,
    max_retries=3,
    # Ten thousand images take minutes; still well below the broker's visibility timeout.
    time_limit=settings.DATASETS_EXPORT_TIME_LIMIT,
    soft_time_limit=settings.DATASETS_EXPORT_TIME_LIMIT - 30,
)
def build_export(self, export_id: int) -> None:
    try:
        export_build(export_id=export_id)
    except OperationalError:
        if self.request.retries >= self.max_retries:
            export_fail(export_id=export_id, reason="Gave up: the database kept failing.")
        raise
