"""Celery tasks of the registry. Thin: the job kernel claims the row, keeps its lease alive
by heartbeat and gives it up (tumorapp.core.jobs); each task calls one service.

Training and comparison run on the ``training`` queue. A training task's time limit is the
subprocess's own limit plus a margin, and both stay below the broker's visibility timeout
(checked in settings), so a long run is never handed to a second worker while it lives; a
worker that dies stops renewing the job's lease, and the sweeper re-queues the job.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from tumorapp.core.jobs import JobTask
from tumorapp.registry import services
from tumorapp.registry.models import Comparison, RescoreJob, TrainingJob


class TrainTask(JobTask):
    job_model = TrainingJob

    def on_give_up(self, job_id: int, reason: str) -> None:
        # A half-written model folder (a killed attempt) is never left beside the others.
        services.training_job_discard(job=TrainingJob.objects.get(pk=job_id))


class CompareTask(JobTask):
    job_model = Comparison


class RescoreTask(JobTask):
    job_model = RescoreJob


@shared_task(
    bind=True,
    base=TrainTask,
    name=TrainingJob.task_name,
    time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 90,
    soft_time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 60,
)
def train(self, job: TrainingJob) -> None:
    services.training_job_execute(job=job)


@shared_task(
    bind=True,
    base=CompareTask,
    name=Comparison.task_name,
    time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 90,
    soft_time_limit=settings.REGISTRY_TRAINING_TIME_LIMIT + 60,
)
def compare(self, comparison: Comparison) -> None:
    services.comparison_execute(comparison=comparison)


@shared_task(bind=True, base=RescoreTask, name=RescoreJob.task_name)
def rescore(self, job: RescoreJob) -> None:
    services.rescore_execute(job=job)
