"""Stranded jobs: a real Celery worker SIGKILLed in the middle of a dataset export and in the
middle of a training run. The job keeps its lease by heartbeat while its worker lives; once
the worker is dead the lease runs out, beat's sweeper re-queues the job, and another worker
finishes it, once: nothing is published twice, nothing half-written is left.

Short settings from the environment (a 3 s lease, a beat every 0.5 s, a sweep every second)
keep each test well under a minute. The export is made slow by a test hook (a pause after
each image) and the training run by a stand-in for ``ml.train`` (tests/faults/fake_train.py)
that writes its model folder piece by piece; the test kills the worker only once the row's
progress and the half-written file show it is mid-way.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from reviews.models import Case
from tests.faults.harness import wait_until
from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.scans import images
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.celery import app as celery_app
from tumorapp.core.jobs import JobStatus
from tumorapp.datasets.models import DatasetExport, ExportItem
from tumorapp.datasets.services import export_create
from tumorapp.registry.models import ModelVersion, TrainingJob

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CASES = 8
JOB_ENV = {
    "JOBS_LEASE_SECONDS": "3",
    "JOBS_HEARTBEAT_SECONDS": "0.5",
    "JOBS_SWEEP_SECONDS": "1",
}


@pytest.fixture
def jobs_site(site, settings, tmp_path):
    """The site's processes share the test's media, scratch and model folders."""
    scratch, models = tmp_path / "scratch", tmp_path / "site-models"
    site.env.update(
        JOB_ENV,
        JOBS_SCRATCH_DIR=str(scratch),
        REGISTRY_MODELS_DIR=str(models),
        REGISTRY_TRAINING_MODULE="tests.faults.fake_train",
    )
    media = Path(site.env["MEDIA_ROOT"])
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media},
        },
    }
    settings.JOBS_SCRATCH_DIR = scratch
    settings.REGISTRY_MODELS_DIR = models
    return site


@pytest.fixture
def reviewed(jobs_site, bob, alice, django_capture_on_commit_callbacks):
    """Reported cases (uploaded, predicted and read in the test process)."""
    single_reads_only()
    capture = django_capture_on_commit_callbacks
    for seed in range(CASES):
        case = upload(bob, f"s{seed}.png", images.png_bytes(96, 96, seed=seed), capture)
        read(case, alice, case.ai_label)
    assert Case.objects.filter(status=Case.Status.DONE).count() == CASES


def send(site, name: str, job_id: int) -> None:
    """Send a job as a service does after commit (routed by name), to the site's broker."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with celery_app.connection_for_write(url=site.env["CELERY_BROKER_URL"]) as conn:
            celery_app.send_task(name, args=[job_id], connection=conn)
    finally:
        celery_app.conf.task_always_eager = eager


def row(model, pk: int):
    return model.objects.get(pk=pk)


def test_an_export_whose_worker_is_killed_finishes_once_on_another_worker(
    jobs_site, reviewed, dave
):
    site = jobs_site
    scratch = Path(site.env["JOBS_SCRATCH_DIR"])
    media = Path(site.env["MEDIA_ROOT"])
    # given a worker that pauses after each image, building an export
    first = site.start_worker(queues="default", DATASETS_EXPORT_TEST_DELAY_SECONDS="1")
    site.procs.wait_for_line(first, " ready.")
    export = DatasetExport.objects.create(created_by=dave)
    send(site, DatasetExport.task_name, export.pk)
    # and the export is half-way: images in its zip, its lease renewed by the heartbeat
    wait_until(
        lambda: (
            row(DatasetExport, export.pk).done >= 3
            and row(DatasetExport, export.pk).heartbeat_at
            > row(DatasetExport, export.pk).started_at
            and (scratch / f"export-{export.public_id}" / "export.zip").stat().st_size > 0
        ),
        timeout=60,
        what="the export half-way through its zip, beating",
        logs=site.procs.logs,
    )
    assert row(DatasetExport, export.pk).status == JobStatus.RUNNING
    # when its worker is SIGKILLed, and another worker and beat's sweeper are running
    site.procs.kill(first)
    assert row(DatasetExport, export.pk).status == JobStatus.RUNNING
    site.start_worker(queues="default")
    site.start_beat(site.procs.log_dir)
    # then the export is re-queued once its lease ran out and finishes on the second worker
    wait_until(
        lambda: row(DatasetExport, export.pk).status == JobStatus.SUCCEEDED,
        timeout=60,
        what="the export to finish on the second worker",
        logs=site.procs.logs,
    )
    export.refresh_from_db()
    assert export.attempts == 2, export.error
    assert export.total == export.done == CASES
    # published once: one zip, whole, the one the row names; one set of items; one event
    zips = sorted(p.relative_to(media).as_posix() for p in (media / "exports").glob("*"))
    assert zips == [export.file.name]
    with default_storage.open(export.file.name, "rb") as fh, zipfile.ZipFile(fh) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    assert sum(name.endswith(".png") for name in names) == CASES
    assert {"manifest.csv", "manifest.jsonl", "DATASET_CARD.md"} <= set(names)
    assert ExportItem.objects.filter(export=export).count() == CASES
    assert AuditEvent.objects.filter(action=Action.DATASET_EXPORTED).count() == 1
    # and nothing half-written is left, even after a few more sweeps
    wait_until(
        lambda: not any(scratch.glob("export-*")),
        timeout=10,
        what="the scratch folder to be cleared",
        logs=site.procs.logs,
    )
    time.sleep(2.5)  # a few sweeps more
    assert sorted(p.name for p in (media / "exports").glob("*")) == [Path(export.file.name).name]
    assert row(DatasetExport, export.pk).attempts == 2


def test_a_training_run_whose_worker_is_killed_is_registered_once(
    jobs_site, reviewed, dave, django_capture_on_commit_callbacks
):
    site = jobs_site
    models = Path(site.env["REGISTRY_MODELS_DIR"])
    scratch = Path(site.env["JOBS_SCRATCH_DIR"])
    # given a finished export (built in the test process) and a training job from it
    with django_capture_on_commit_callbacks(execute=True):
        export = export_create(actor=dave)
    export.refresh_from_db()
    assert export.status == JobStatus.SUCCEEDED, export.error
    job = TrainingJob.objects.create(
        created_by=dave,
        version="site-fault-1",
        include_base=False,
        base_excluded_reason="The fault test trains on its export alone.",
        epochs=6,
    )
    job.exports.set([export])
    # and a training worker half-way through the run: epochs done, its model folder
    # half-written, its lease renewed by the heartbeat
    first = site.start_worker(queues="training", FAKE_TRAIN_EPOCH_SECONDS="1")
    site.procs.wait_for_line(first, " ready.")
    send(site, TrainingJob.task_name, job.pk)
    wait_until(
        lambda: (
            row(TrainingJob, job.pk).phase == TrainingJob.Phase.TRAINING
            and row(TrainingJob, job.pk).progress > 10
            and (models / ".site-fault-1.attempt-1" / "model.keras").stat().st_size > 0
            and row(TrainingJob, job.pk).heartbeat_at > row(TrainingJob, job.pk).started_at
        ),
        timeout=60,
        what="the training run half-way, beating",
        logs=site.procs.logs,
    )
    # when the worker is SIGKILLed (its ml.train dies with it), and another worker and
    # beat's sweeper are running
    site.procs.kill(first)
    assert row(TrainingJob, job.pk).status == JobStatus.RUNNING
    site.start_worker(queues="training,default", FAKE_TRAIN_EPOCH_SECONDS="0.2")
    site.start_beat(site.procs.log_dir)
    # then the job is re-queued and trained again by the second worker, and succeeds
    wait_until(
        lambda: row(TrainingJob, job.pk).status == JobStatus.SUCCEEDED,
        timeout=60,
        what="the training job to finish on the second worker",
        logs=site.procs.logs,
    )
    job.refresh_from_db()
    assert job.attempts == 2, job.error
    # registered once, from the published folder; the half-written one is gone
    candidate = ModelVersion.objects.get(version="site-fault-1")
    assert (
        job.candidate == candidate and Path(candidate.path) == (models / "site-fault-1").resolve()
    )
    assert sorted(p.name for p in models.iterdir()) == ["site-fault-1"]
    assert (models / "site-fault-1" / "manifest.json").is_file()
    assert AuditEvent.objects.filter(action=Action.TRAINING_FINISHED).count() == 1
    assert not any(scratch.glob("train-*"))
