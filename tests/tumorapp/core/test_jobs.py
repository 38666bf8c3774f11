"""The job kernel (tumorapp.core.jobs) on the real PostgreSQL: claims, leases kept by the
heartbeat, guarded success, the task base's ways of ending a job, and the one sweeper.

The job kind here is a dataset export (a real job table); the export's own behaviour is
tested in tests/tumorapp/datasets.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import OperationalError
from django.utils import timezone

from tests.tumorapp.datasets.conftest import media_dir  # noqa: F401 - shared fixture
from tumorapp.core import jobs
from tumorapp.core.jobs import JobRefused, JobStatus
from tumorapp.core.queue import runs_in_background, task_named
from tumorapp.datasets import services as dataset_services
from tumorapp.datasets.models import DatasetExport
from tumorapp.datasets.tasks import build_export

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_dir")]


@pytest.fixture
def export(dave):
    return DatasetExport.objects.create(created_by=dave)


def expire(job):
    type(job).objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_every_job_kind_is_known_to_the_kernel():
    assert DatasetExport in jobs.job_models()
    task = task_named(DatasetExport.task_name)
    assert task.name == build_export.name and isinstance(task, jobs.JobTask)


def test_a_new_job_has_a_lease_so_a_lost_message_is_sent_again(export):
    assert export.status == JobStatus.QUEUED and export.attempts == 0
    assert export.lease_expires_at > timezone.now()


def test_a_claim_takes_a_job_once_and_again_only_after_its_lease_ran_out(export):
    claimed = jobs.job_claim(DatasetExport, job_id=export.pk, worker="w1")
    assert claimed.status == JobStatus.RUNNING and claimed.attempts == 1
    assert claimed.worker == "w1" and claimed.heartbeat_at and claimed.started_at
    # a second delivery while w1 holds the lease finds nothing
    assert jobs.job_claim(DatasetExport, job_id=export.pk, worker="w2") is None
    # w1 dies: once its lease runs out, w2 may claim it, as the second attempt
    expire(export)
    again = jobs.job_claim(DatasetExport, job_id=export.pk, worker="w2")
    assert again.worker == "w2" and again.attempts == 2


def test_a_job_out_of_attempts_is_not_claimed_but_named_exhausted(export, settings):
    settings.JOBS_MAX_ATTEMPTS = 2
    for worker in ("w1", "w2"):
        assert jobs.job_claim(DatasetExport, job_id=export.pk, worker=worker)
        expire(export)
    assert jobs.job_claim(DatasetExport, job_id=export.pk, worker="w3") is None
    assert jobs.job_exhausted(DatasetExport, job_id=export.pk) == 2


def test_only_the_holder_renews_the_lease_or_succeeds(export):
    jobs.job_claim(DatasetExport, job_id=export.pk, worker="w1")
    DatasetExport.objects.filter(pk=export.pk).update(lease_expires_at=timezone.now())
    assert not jobs.job_heartbeat(DatasetExport, job_id=export.pk, worker="w2")
    assert jobs.job_heartbeat(DatasetExport, job_id=export.pk, worker="w1")
    export.refresh_from_db()
    assert export.lease_expires_at > timezone.now() + timedelta(seconds=60)
    # a worker that lost the job never publishes over the holder
    assert not jobs.job_succeed(DatasetExport, job_id=export.pk, worker="w2", total=7)
    assert jobs.job_succeed(DatasetExport, job_id=export.pk, worker="w1", total=7)
    export.refresh_from_db()
    assert export.status == JobStatus.SUCCEEDED and export.total == 7
    assert export.lease_expires_at is None and export.finished_at
    # and a finished job cannot fail, be released or be claimed any more
    assert not jobs.job_fail(DatasetExport, job_id=export.pk, reason="late")
    assert not jobs.job_release(DatasetExport, job_id=export.pk, worker="w1", error="late")
    assert jobs.job_claim(DatasetExport, job_id=export.pk, worker="w3") is None


def test_a_released_job_is_claimed_again_by_the_retry(export):
    jobs.job_claim(DatasetExport, job_id=export.pk, worker="w1")
    assert jobs.job_release(DatasetExport, job_id=export.pk, worker="w1", error="db hiccup")
    export.refresh_from_db()
    assert export.status == JobStatus.QUEUED and export.error == "db hiccup"
    assert jobs.job_claim(DatasetExport, job_id=export.pk, worker="w1").attempts == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_heartbeat_keeps_a_long_job_s_short_lease_alive(export, settings):
    # given a one-second lease and a job that works for three
    settings.JOBS_LEASE_SECONDS = 1
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    jobs.job_claim(DatasetExport, job_id=export.pk, worker="w1")
    with jobs.heartbeat(DatasetExport, job_id=export.pk, worker="w1"):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.3)
            # then at every moment the lease is in the future: no sweeper takes it
            assert DatasetExport.objects.get(pk=export.pk).lease_expires_at > timezone.now()
    # and once the work stops beating, the lease runs out within one lease
    time.sleep(1.2)
    assert DatasetExport.objects.get(pk=export.pk).lease_expires_at < timezone.now()
    assert jobs.jobs_sweep() == 1


def test_a_refused_job_is_failed_at_once_with_its_reason(export, monkeypatch):
    def refuse(export):
        raise JobRefused("Nothing to export.")

    monkeypatch.setattr(dataset_services, "_build", refuse)
    build_export.apply(args=[export.pk])
    export.refresh_from_db()
    assert export.status == JobStatus.FAILED and export.error == "Nothing to export."
    assert export.attempts == 1


def test_an_unexpected_error_fails_the_job_with_its_name(export, monkeypatch):
    def crash(export):
        raise KeyError("label")

    monkeypatch.setattr(dataset_services, "_build", crash)
    build_export.apply(args=[export.pk])
    export.refresh_from_db()
    assert export.status == JobStatus.FAILED and export.error == "KeyError: 'label'"


def test_a_transient_error_is_retried_and_then_succeeds(export, monkeypatch):
    failures = iter([OperationalError("server closed the connection")])
    real = dataset_services._build

    def flaky(export):
        for exc in failures:
            raise exc
        return real(export)

    monkeypatch.setattr(dataset_services, "_build", flaky)
    build_export.apply(args=[export.pk])
    export.refresh_from_db()
    assert export.status == JobStatus.SUCCEEDED and export.attempts == 2


def test_transient_errors_that_persist_give_the_job_up(export, monkeypatch):
    def down(export):
        raise OperationalError("database is down")

    monkeypatch.setattr(dataset_services, "_build", down)
    build_export.apply(args=[export.pk])
    export.refresh_from_db()
    assert export.status == JobStatus.FAILED and export.attempts == 3
    assert "Gave up after repeated transient errors" in export.error
    assert "database is down" in export.error


def test_the_sweeper_resends_stale_jobs_and_leaves_live_ones(
    export, dave, django_capture_on_commit_callbacks
):
    # given a job whose worker died (running, lease ran out), one never sent (queued, lease
    # ran out), one held by a live worker, and a row older than the kernel (no lease)
    dead = export
    jobs.job_claim(DatasetExport, job_id=dead.pk, worker="dead")
    expire(dead)
    lost = DatasetExport.objects.create(created_by=dave)
    expire(lost)
    live = DatasetExport.objects.create(created_by=dave)
    jobs.job_claim(DatasetExport, job_id=live.pk, worker="live")
    legacy = DatasetExport.objects.create(created_by=dave, status=JobStatus.RUNNING)
    DatasetExport.objects.filter(pk=legacy.pk).update(lease_expires_at=None)
    # when the sweeper runs (the tasks run inline here), then the stale ones are built
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_sweep() == 3
    for job in (dead, lost, legacy):
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
    assert dead.attempts == 2 and lost.attempts == 1
    live.refresh_from_db()
    assert live.status == JobStatus.RUNNING and live.worker == "live"
    assert jobs.jobs_sweep() == 0


def test_the_sweeper_fails_a_job_out_of_attempts_and_cleans_up_after_it(export, settings):
    # given an export whose workers died three times, the last half way through its zip
    settings.JOBS_MAX_ATTEMPTS = 3
    for worker in ("w1", "w2", "w3"):
        jobs.job_claim(DatasetExport, job_id=export.pk, worker=worker)
        expire(export)
    export.refresh_from_db()
    half = default_storage.save(f"exports/{export.public_id}.3.zip", ContentFile(b"PK\x03\x04"))
    scratch = settings.JOBS_SCRATCH_DIR / f"export-{export.public_id}"
    scratch.mkdir(parents=True)
    (scratch / "export.zip").write_bytes(b"PK\x03\x04")
    # when the sweeper runs, then the export is failed with the reason, never re-sent
    assert jobs.jobs_sweep() == 0
    export.refresh_from_db()
    assert export.status == JobStatus.FAILED
    assert export.error.startswith("Gave up after 3 attempts")
    # and nothing half-written is left
    assert not default_storage.exists(half) and not scratch.exists()


def test_a_job_is_sent_by_task_name_and_long_kinds_run_off_the_request(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TASKS_EMBEDDED_MODE = "thread"
    assert runs_in_background(task_named(DatasetExport.task_name))
    assert not runs_in_background(task_named("inference.predict_run"))
