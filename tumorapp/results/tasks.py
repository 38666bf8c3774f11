"""Celery task that sends a result to the PACS. Thin: the job kernel claims the row, keeps its
lease and retries with backoff (tumorapp.core.jobs); the task calls one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from tumorapp.core.jobs import JobTask
from tumorapp.results.models import ResultSend
from tumorapp.results.services import result_send_execute


class SendTask(JobTask):
    job_model = ResultSend
    # Every claim is an attempt: a PACS that is down is tried again with backoff (5 s,
    # doubling, at most RESULTS_SEND_BACKOFF_MAX_SECONDS apart) until the attempts run out.
    max_retries = max(settings.RESULTS_SEND_MAX_ATTEMPTS - 1, 0)
    retry_backoff = 5
    retry_backoff_max = settings.RESULTS_SEND_BACKOFF_MAX_SECONDS


@shared_task(bind=True, base=SendTask, name=ResultSend.task_name)
def send_result(self, send: ResultSend) -> None:
    result_send_execute(send=send)
