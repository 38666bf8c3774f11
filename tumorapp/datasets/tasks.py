"""Celery task that builds a dataset export. Thin: the job kernel claims the row and keeps
its lease (tumorapp.core.jobs); the task calls one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from tumorapp.core.jobs import JobTask
from tumorapp.datasets.models import DatasetExport
from tumorapp.datasets.services import export_build, export_discard


class ExportTask(JobTask):
    job_model = DatasetExport

    def on_give_up(self, job_id: int, reason: str) -> None:
        # A half-written zip (a killed attempt) is never left in storage.
        export_discard(export=DatasetExport.objects.get(pk=job_id))


@shared_task(
    bind=True,
    base=ExportTask,
    name=DatasetExport.task_name,
    # Ten thousand images take minutes; still well below the broker's visibility timeout.
    time_limit=settings.DATASETS_EXPORT_TIME_LIMIT,
    soft_time_limit=settings.DATASETS_EXPORT_TIME_LIMIT - 30,
)
def build_export(self, export: DatasetExport) -> None:
    export_build(export=export)
