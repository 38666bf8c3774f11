"""The one sweeper of every job table (tumorapp.core.jobs), sent by beat."""

from celery import shared_task

from tumorapp.core.jobs import jobs_sweep


@shared_task(name="jobs.sweep")
def sweep_jobs() -> int:
    return jobs_sweep()
