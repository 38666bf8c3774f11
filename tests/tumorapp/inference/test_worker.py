"""Real worker processes on the real Redis and PostgreSQL: an upload is predicted and shown,
and a worker killed with SIGKILL in the middle of a prediction loses nothing.

Each test starts ``celery -A tumorapp worker -Q inference --pool=solo`` in its own process
group against the pytest database, and kills the group in teardown. The end-to-end test's
worker loads the shipped model when models/ has one (otherwise the test stand-in,
tests/tumorapp/inference/fakes.py); the kill test is about the queue, not the model, so its
workers use the stand-in and start in seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from ml import DEFAULT_MODEL_DIR
from tests.tumorapp.scans import images
from tumorapp.celery import app as celery_app
from tumorapp.core.jobs import jobs_sweep as runs_sweep
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.scans.models import Scan

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# The broker the test process sends to (tumorapp.settings.test: CELERY_BROKER_URL, else db 15).
BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
REPO = Path(__file__).resolve().parents[3]
LEASE_SECONDS = 3
FAKE = "tests.tumorapp.inference.fakes.FakePredictor"


def _predictor() -> tuple[str, str]:
    """The predictor the workers load, and the model version its results carry."""
    manifest = DEFAULT_MODEL_DIR / "manifest.json"
    if manifest.exists():
        return "ml.predict.Predictor", str(json.loads(manifest.read_text())["version"])
    return FAKE, "fake-1"


class Workers:
    """Starts worker processes (each its own process group) and always kills them."""

    def __init__(self, media_dir: Path, log_dir: Path):
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tumorapp.settings.base",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": BROKER,
            "MEDIA_ROOT": str(media_dir),
            "INFERENCE_LEASE_SECONDS": str(LEASE_SECONDS),
            "INFERENCE_PREDICTOR": _predictor()[0],
            "PYTHONPATH": str(REPO),
        }
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, pool: str = "solo", **extra_env: str) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "tumorapp",
                "worker",
                "-Q",
                "inference",
                f"--pool={pool}",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test{len(self.procs)}@%h",
                "--loglevel=INFO",
            ],
            cwd=REPO,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.log_dir.glob("*.log"))

    def stop_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                self.kill(proc)


@pytest.fixture
def workers(media_dir, tmp_path):
    client = redis.Redis.from_url(BROKER)
    client.flushdb()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # really send to Redis
    pool = Workers(media_dir, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
        celery_app.conf.task_always_eager = eager
        client.flushdb()


def wait_for(predicate, *, timeout: float, what: str, workers: Workers):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{workers.logs()}")


def upload(api, bob, seed: int) -> Scan:
    name, data = images.real_slice(seed)
    response = api.post("/api/v1/scans/", {"files": [_file(name, data)]})
    assert response.status_code == 201, response.content
    return Scan.objects.get(public_id=response.json()["results"][0]["scan"]["id"])


def _file(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def test_an_upload_is_predicted_by_a_worker_and_shown(bob, api_for, client_for, workers):
    # given a running worker
    workers.start()
    # when a technologist uploads a real slice
    scan = upload(api_for(bob), bob, seed=3)
    # then the worker predicts it
    wait_for(
        lambda: Scan.objects.get(pk=scan.pk).status != Scan.Status.QUEUED,
        timeout=60,
        what="the prediction",
        workers=workers,
    )
    scan.refresh_from_db()
    assert scan.status == Scan.Status.PREDICTED, workers.logs()
    # and the API and the scan page show it, with its heat map
    detail = api_for(bob).get(f"/api/v1/scans/{scan.public_id}/").json()
    assert detail["prediction"]["p_tumor"] == pytest.approx(
        Prediction.objects.get(scan=scan).p_tumor
    )
    assert detail["run"]["status"] == "succeeded" and detail["run"]["attempts"] == 1
    assert detail["prediction"]["model_version"] == _predictor()[1]
    html = client_for(bob).get(f"/scans/{scan.public_id}/").content.decode()
    assert "P(tumour)" in html and "Waiting for the model" not in html
    heatmap = client_for(bob).get(f"/scans/{scan.public_id}/heatmap/")
    assert heatmap.status_code == 200
    assert b"".join(heatmap.streaming_content).startswith(b"\x89PNG")


def test_a_worker_killed_mid_prediction_loses_nothing_and_duplicates_nothing(bob, api_for, workers):
    # given a worker that is slow to predict (test hook), and an upload it has claimed
    first = workers.start(INFERENCE_TEST_DELAY_SECONDS="60", INFERENCE_PREDICTOR=FAKE)
    scan = upload(api_for(bob), bob, seed=4)
    run = InferenceRun.objects.get(scan=scan)
    wait_for(
        lambda: InferenceRun.objects.get(pk=run.pk).status == InferenceRun.Status.RUNNING,
        timeout=60,
        what="the first worker to claim the run",
        workers=workers,
    )
    # when the worker is killed with SIGKILL in the middle of the prediction
    workers.kill(first)
    assert first.returncode == -signal.SIGKILL
    # and a new worker starts, and the sweeper runs once the dead worker's lease is over
    workers.start(INFERENCE_PREDICTOR=FAKE)
    time.sleep(LEASE_SECONDS + 0.5)
    assert runs_sweep() == 1
    # then the scan ends with exactly one prediction, on the second attempt
    wait_for(
        lambda: InferenceRun.objects.get(pk=run.pk).status == InferenceRun.Status.SUCCEEDED,
        timeout=60,
        what="the second worker to finish the run",
        workers=workers,
    )
    run.refresh_from_db()
    assert run.attempts == 2
    assert Prediction.objects.filter(scan=scan).count() == 1
    assert Scan.objects.get(pk=scan.pk).status == Scan.Status.PREDICTED
    # and a late duplicate delivery of the same run changes nothing
    time.sleep(0.5)
    assert runs_sweep() == 0
    assert Prediction.objects.filter(scan=scan).count() == 1


def test_a_scan_that_kills_its_worker_is_given_up_after_three_attempts(bob, api_for, workers):
    # given a prefork worker (its parent replaces a dead child) and an input that kills the
    # child each time it is predicted
    worker = workers.start(
        pool="prefork", INFERENCE_PREDICTOR="tests.tumorapp.inference.fakes.CrashingPredictor"
    )
    scan = upload(api_for(bob), bob, seed=7)
    run = InferenceRun.objects.get(scan=scan)
    # when each attempt dies, and the sweeper (or the broker's own redelivery of the lost
    # message) sends the run again once the dead child's lease is over
    deadline = time.monotonic() + 60
    while InferenceRun.objects.get(pk=run.pk).status != InferenceRun.Status.FAILED:
        if time.monotonic() > deadline:
            pytest.fail(f"the run was never given up\n{workers.logs()}")
        assert InferenceRun.objects.get(pk=run.pk).attempts <= 3
        time.sleep(LEASE_SECONDS + 0.5)
        runs_sweep()
    # then the fourth delivery is not run: the run and the scan are failed with the reason
    run.refresh_from_db()
    assert run.attempts == 3
    assert "Gave up after 3 attempts" in run.error
    scan.refresh_from_db()
    assert scan.status == Scan.Status.FAILED and "Gave up" in scan.status_reason
    assert not Prediction.objects.filter(scan=scan).exists()
    # and the queue drains, and the worker is still there for the next scan
    wait_for(
        lambda: redis.Redis.from_url(BROKER).llen("inference") == 0,
        timeout=10,
        what="the queue to drain",
        workers=workers,
    )
    assert worker.poll() is None
