"""Celery tasks of the registry. Thin: each calls one service.

Training and comparison run on the ``training`` queue. A training task's time limit is the
subprocess's own limit plus a margin, and both stay below the broker's visibility timeout
(checked in settings), so a long run is never handed to a second worker.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from tumorapp.registry import services
from tumorapp.registry.models import Comparison, RescoreJob, TrainingJob

_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 10,
    "retry_backoff_max": 120,
    "max_retries": 3,
}


@shared_task(
    bind=True,
    name="registry.train",
    time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 90,
    soft_time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 60,
    **_RETRY,
)
def train(self, job_id: int) -> None:
    try:
        services.training_job_execute(job_id=job_id)
    except OperationalError:
        if self.request.retries >= self.max_retries:
            services.job_fail(model=TrainingJob, job_id=job_id, reason="The database kept failing.")
        raise


@shared_task(
    bind=True,
    name="registry.compare",
    time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 90,
    soft_time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 60,
    **_RETRY,
)
def compare(self, comparison_id: int) -> None:
    try:
        services.comparison_execute(comparison_id=comparison_id)
    except OperationalError:
        if self.request.retries >= self.max_retries:
            services.job_fail(
                model=Comparison, job_id=comparison_id, reason="The database kept failing."
            )
        raise


@shared_task(bind=True, name="registry.rescore", **_RETRY)
def rescore(self, job_id: int) -> None:
    try:
        services.rescore_execute(job_id=job_id)
    except OperationalError:
        if self.request.retries >= self.max_retries:
            services.job_fail(model=RescoreJob, job_id=job_id, reason="The database kept failing.")
        raise
