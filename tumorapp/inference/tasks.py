"""Celery task of the inference queue. Thin: the job kernel claims the run, keeps its lease
and gives it up (tumorapp.core.jobs); the task calls one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from tumorapp.core.jobs import JobTask
from tumorapp.inference.models import InferenceRun
from tumorapp.inference.services import run_execute, run_failed


class PredictTask(JobTask):
    job_model = InferenceRun
    # Every claim is an attempt: the retries and the first try share INFERENCE_MAX_ATTEMPTS.
    max_retries = max(settings.INFERENCE_MAX_ATTEMPTS - 1, 0)

    def on_give_up(self, job_id: int, reason: str) -> None:
        run_failed(run_id=job_id, reason=reason)


@shared_task(bind=True, base=PredictTask, name=InferenceRun.task_name)
def predict_run(self, run: InferenceRun) -> None:
    run_execute(run=run)
