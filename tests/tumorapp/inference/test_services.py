"""Inference runs: claiming, idempotence, giving up on poison, retries, the sweeper, the
broker being down, and rolled-back uploads (services and eager tasks; no worker process)."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import OperationalError, transaction
from django.utils import timezone

from tests.factories import ScanFactory
from tests.tumorapp.inference.fakes import FakePredictor
from tests.tumorapp.scans import images
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.celery import app as celery_app
from tumorapp.core.jobs import job_claim
from tumorapp.core.jobs import jobs_sweep as runs_sweep
from tumorapp.inference import predictor as predictor_module
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.inference.services import prediction_record
from tumorapp.inference.tasks import predict_run
from tumorapp.scans.models import Scan
from tumorapp.scans.services import scan_upload

Status = InferenceRun.Status


def run_claim(*, run_id: int, worker: str):
    return job_claim(InferenceRun, job_id=run_id, worker=worker)


@pytest.fixture
def queued_run(db):
    """A committed scan whose stored image is a real PNG, with a queued run (not sent)."""
    scan = ScanFactory(status="queued")
    default_storage.save(scan.image.name, ContentFile(images.png_bytes(seed=scan.pk)))
    return InferenceRun.objects.create(scan=scan, lease_expires_at=timezone.now())


def expire_lease(run):
    InferenceRun.objects.filter(pk=run.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_claim_takes_a_queued_run_once(queued_run):
    claimed = run_claim(run_id=queued_run.pk, worker="w1")
    assert claimed.status == Status.RUNNING and claimed.attempts == 1 and claimed.worker == "w1"
    # a second delivery while the first worker holds the lease finds nothing to claim
    assert run_claim(run_id=queued_run.pk, worker="w2") is None
    # once the lease runs out (worker killed), the run can be claimed again
    expire_lease(queued_run)
    again = run_claim(run_id=queued_run.pk, worker="w2")
    assert again.worker == "w2" and again.attempts == 2


def test_a_run_delivered_twice_is_predicted_once(queued_run):
    predict_run.apply(args=[queued_run.pk])
    calls = FakePredictor.calls
    predict_run.apply(args=[queued_run.pk])
    assert FakePredictor.calls == calls
    assert Prediction.objects.filter(scan=queued_run.scan).count() == 1
    queued_run.refresh_from_db()
    assert queued_run.status == Status.SUCCEEDED and queued_run.attempts == 1
    assert queued_run.model_version == "fake-1"
    assert set(queued_run.timings) >= {"predict_s", "total_s", "queue_wait_s"}
    assert Scan.objects.get(pk=queued_run.scan_id).status == Scan.Status.PREDICTED
    made = AuditEvent.objects.filter(action=Action.PREDICTION_MADE)
    assert made.count() == 1 and made.get().target_id == str(queued_run.scan.public_id)


def test_two_workers_racing_on_one_run_write_one_result(queued_run):
    # given two workers that both computed a result (the first outlived its lease)
    run_claim(run_id=queued_run.pk, worker="w1")
    result = FakePredictor().predict([images.png_bytes()], heatmap=False)[0]
    # when both record it, then one prediction and one audit event exist
    prediction_record(run_id=queued_run.pk, result=result, heatmap_key="", timings={})
    prediction_record(run_id=queued_run.pk, result=result, heatmap_key="", timings={})
    assert Prediction.objects.filter(scan=queued_run.scan).count() == 1
    assert AuditEvent.objects.filter(action=Action.PREDICTION_MADE).count() == 1


def test_a_run_whose_worker_dies_three_times_is_given_up(queued_run, settings):
    # given a poison input: each of three claims ends with the worker killed (lease runs out)
    settings.INFERENCE_MAX_ATTEMPTS = 3
    for attempt in range(1, 4):
        claimed = run_claim(run_id=queued_run.pk, worker=f"w{attempt}")
        assert claimed.attempts == attempt
        expire_lease(queued_run)
    calls = FakePredictor.calls
    # when it is delivered a fourth time, then it is not run but marked failed with a reason
    predict_run.apply(args=[queued_run.pk])
    assert FakePredictor.calls == calls
    queued_run.refresh_from_db()
    assert queued_run.status == Status.FAILED and queued_run.attempts == 3
    assert "Gave up after 3 attempts" in queued_run.error
    scan = Scan.objects.get(pk=queued_run.scan_id)
    assert scan.status == Scan.Status.FAILED and "Gave up" in scan.status_reason
    assert AuditEvent.objects.filter(action=Action.PREDICTION_FAILED).count() == 1
    # and the sweeper leaves a failed run alone
    assert runs_sweep() == 0


def test_bad_input_fails_at_once_without_retry(queued_run):
    with default_storage.open(queued_run.scan.image.name, "wb") as fh:
        fh.write(b"not an image any more")
    predict_run.apply(args=[queued_run.pk])
    queued_run.refresh_from_db()
    assert queued_run.status == Status.FAILED and queued_run.attempts == 1
    assert "cannot be predicted" in queued_run.error
    assert Scan.objects.get(pk=queued_run.scan_id).status == Scan.Status.FAILED


def test_a_transient_error_is_retried_and_then_succeeds(queued_run, monkeypatch):
    # given a predictor that fails once with a database hiccup
    failures = iter([OperationalError("server closed the connection")])
    real_predict = FakePredictor.predict

    def flaky(self, images, heatmap=False):
        for exc in failures:
            raise exc
        return real_predict(self, images, heatmap)

    monkeypatch.setattr(FakePredictor, "predict", flaky)
    # when the task runs (eagerly: the retry runs at once), then the second attempt succeeds
    predict_run.apply(args=[queued_run.pk])
    queued_run.refresh_from_db()
    assert queued_run.status == Status.SUCCEEDED and queued_run.attempts == 2
    assert Prediction.objects.filter(scan=queued_run.scan).count() == 1


def test_transient_errors_that_persist_give_the_run_up(queued_run, monkeypatch):
    def broken(self, images, heatmap=False):
        raise OperationalError("database is down")

    monkeypatch.setattr(FakePredictor, "predict", broken)
    predict_run.apply(args=[queued_run.pk])
    queued_run.refresh_from_db()
    assert queued_run.status == Status.FAILED
    assert queued_run.attempts == 3
    assert "database is down" in queued_run.error
    assert Scan.objects.get(pk=queued_run.scan_id).status == Scan.Status.FAILED


def test_the_retry_policy_stays_below_the_visibility_timeout(settings):
    assert predict_run.max_retries == settings.INFERENCE_MAX_ATTEMPTS - 1
    assert predict_run.retry_backoff_max < settings.CELERY_VISIBILITY_TIMEOUT
    assert settings.INFERENCE_LEASE_SECONDS < settings.CELERY_VISIBILITY_TIMEOUT
    assert settings.CELERY_TASK_ROUTES["inference.predict_run"] == {"queue": "inference"}
    assert settings.CELERY_BEAT_SCHEDULE["jobs-sweep"]["task"] == "jobs.sweep"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sweeper_resends_stale_runs_and_leaves_fresh_ones(queued_run):
    lost = queued_run  # queued, lease expired: its message was lost
    expire_lease(lost)
    dead = ScanFactory(status="queued")
    default_storage.save(dead.image.name, ContentFile(images.png_bytes(seed=77)))
    dead_run = InferenceRun.objects.create(
        scan=dead,
        status=Status.RUNNING,
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=5),
    )
    fresh = ScanFactory(status="queued")
    fresh_run = InferenceRun.objects.create(
        scan=fresh, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert runs_sweep() == 2
    for run in (lost, dead_run):
        run.refresh_from_db()
        assert run.status == Status.SUCCEEDED
    dead_run.refresh_from_db()
    assert dead_run.attempts == 2
    fresh_run.refresh_from_db()
    assert fresh_run.status == Status.QUEUED and fresh_run.attempts == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_rolled_back_upload_never_reaches_a_worker(bob):
    calls = FakePredictor.calls
    with pytest.raises(RuntimeError), transaction.atomic():
        outcome = scan_upload(uploaded_by=bob, filename="a.png", data=images.png_bytes(seed=3))
        assert outcome.status == "created"
        raise RuntimeError("the request failed after the upload")
    assert Scan.objects.count() == 0
    assert InferenceRun.objects.count() == 0
    assert FakePredictor.calls == calls


@pytest.fixture
def broker_down(monkeypatch):
    """Really try to send, to a port where no broker listens."""
    real = celery_app.connection_for_write

    def nowhere(url=None, **kwargs):
        return real(url="redis://127.0.0.1:9/0", **kwargs)

    monkeypatch.setattr(celery_app, "connection_for_write", nowhere)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    _forget_connections()
    yield
    celery_app.conf.task_always_eager = eager
    monkeypatch.undo()
    _forget_connections()


def _forget_connections():
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_when_the_broker_is_down_the_upload_is_kept_for_the_sweeper(bob, broker_down, caplog):
    # when a technologist uploads while the broker is down
    outcome = scan_upload(uploaded_by=bob, filename="a.png", data=images.png_bytes(seed=11))
    # then the upload is stored and its run stays queued, and the failure is logged
    assert outcome.status == "created"
    run = InferenceRun.objects.get(scan=outcome.scan)
    assert run.status == Status.QUEUED
    assert "left for the sweeper" in caplog.text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sweeper_predicts_an_upload_made_while_the_broker_was_down(bob, broker_down):
    outcome = scan_upload(uploaded_by=bob, filename="a.png", data=images.png_bytes(seed=12))
    run = InferenceRun.objects.get(scan=outcome.scan)
    # given the broker is back (eager here) and the run's lease has run out
    celery_app.conf.task_always_eager = True
    expire_lease(run)
    assert runs_sweep() == 1
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED


def test_the_predictor_is_loaded_once_per_process(settings, db):
    predictor_module._loaded.clear()
    loads = FakePredictor.loads
    first = predictor_module.get_predictor()
    second = predictor_module.get_predictor()
    assert first is second
    assert FakePredictor.loads == loads + 1


def test_the_web_process_never_imports_tensorflow():
    import subprocess
    import sys

    code = (
        "import django, sys; django.setup();"
        "import tumorapp.urls, tumorapp.scans.api, tumorapp.scans.views, tumorapp.inference.tasks;"
        "from django.test import Client;"
        "print('tensorflow' in sys.modules, 'ml.predict' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"DJANGO_SETTINGS_MODULE": "tumorapp.settings.test", "PATH": "/usr/bin"},
        check=True,
    )
    assert out.stdout.split() == ["False", "False"]


def test_a_model_that_cannot_load_fails_the_run_with_that_reason(queued_run, settings):
    settings.INFERENCE_PREDICTOR = "tests.tumorapp.inference.fakes.MissingModelPredictor"
    predict_run.apply(args=[queued_run.pk])
    queued_run.refresh_from_db()
    assert queued_run.status == Status.FAILED and queued_run.attempts == 1
    assert "The model could not be loaded" in queued_run.error
    assert "manifest.json" in queued_run.error


def test_a_missing_stored_image_fails_the_run(queued_run):
    default_storage.delete(queued_run.scan.image.name)
    predict_run.apply(args=[queued_run.pk])
    queued_run.refresh_from_db()
    assert queued_run.status == Status.FAILED
    assert queued_run.error == "The stored image is missing."
