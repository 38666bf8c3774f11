"""Celery tasks of the inference queue. Thin: each calls one service."""

from __future__ import annotations

import logging
import os

from celery import Task, shared_task
from django.conf import settings
from kombu.exceptions import OperationalError as BrokerError

from tumorapp.inference.services import (
    TransientInferenceError,
    run_execute,
    run_fail,
    runs_sweep,
)

logger = logging.getLogger(__name__)


class RunTask(Task):
    """Sending never loses a run: the run row is committed and queued before the send, so
    when the broker is down the error is logged and the sweeper sends the run later."""

    def apply_async(self, args=None, kwargs=None, **options):
        try:
            return super().apply_async(args, kwargs, **options)
        except BrokerError as exc:
            logger.error("broker unavailable, %s%s left for the sweeper: %s", self.name, args, exc)
            return None

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Retries are exhausted: give the run up with the last reason.
        if isinstance(exc, TransientInferenceError) and args:
            run_fail(run_id=args[0], reason=f"Gave up after repeated transient errors: {exc}")


@shared_task(
    bind=True,
    base=RunTask,
    name="inference.predict_run",
    autoretry_for=(TransientInferenceError,),
    retry_backoff=5,
    retry_backoff_max=300,  # well below the broker's visibility timeout (settings)
    retry_jitter=True,
    max_retries=max(settings.INFERENCE_MAX_ATTEMPTS - 1, 0),
)
def predict_run(self, run_id: int) -> None:
    run_execute(run_id=run_id, worker=f"{self.request.hostname or 'local'}:{os.getpid()}")


@shared_task(name="inference.sweep_runs")
def sweep_runs() -> int:
    return runs_sweep()
