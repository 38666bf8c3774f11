"""The PACS is down while results are due: a real worker process retries with backoff, and
once Orthanc is back every SR arrives exactly once (counted through Orthanc's REST API).

The worker (``celery -A tumorapp worker -Q default``, its own process group, killed in
teardown) runs against the pytest database and this run's Redis database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from reviews.models import ReadLabel, Review, SiteOptions
from reviews.services import case_amend
from tests.tumorapp.results.cases import linked_study_case, read
from tests.tumorapp.results.conftest import instances_of_study
from tumorapp.celery import app as celery_app
from tumorapp.core.jobs import JobStatus
from tumorapp.results.models import ResultSend

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def worker(orthanc, tmp_path):
    broker = settings.CELERY_BROKER_URL
    redis.Redis.from_url(broker).flushdb()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # really send to Redis
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tumorapp.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "RESULTS_PACS_HOST": "127.0.0.1",
        "RESULTS_PACS_PORT": str(orthanc.dicom_port),
        "RESULTS_PACS_AE_TITLE": orthanc.aet,
        "RESULTS_PACS_TIMEOUT": "3",
        "RESULTS_SEND_MAX_ATTEMPTS": "40",
        "RESULTS_SEND_BACKOFF_MAX_SECONDS": "1",
        "PYTHONPATH": str(REPO),
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "tumorapp",
                "worker",
                "-Q",
                "default",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                "results@%h",
                "--loglevel=INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log_path = log_path
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        celery_app.conf.task_always_eager = eager
        redis.Redis.from_url(broker).flushdb()


def wait_for(predicate, *, timeout: float, what: str, worker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}\n{worker.log_path.read_text()[-4000:]}")


def test_orthanc_down_then_back_every_sr_arrives_once(settings, orthanc, worker, alice):
    settings.RESULTS_PACS_HOST = "127.0.0.1"
    settings.RESULTS_PACS_PORT = orthanc.dicom_port
    settings.RESULTS_PACS_AE_TITLE = orthanc.aet
    SiteOptions.objects.update_or_create(pk=1, defaults={"double_read_rate": 0.0})
    cases = [linked_study_case() for _ in range(3)]
    orthanc.stop()

    # Given three cases reported while the PACS is down,
    for case, _ in cases:
        read(case, alice, case.ai_label)
    # they are tried, and tried again, and none is lost or failed.
    wait_for(
        lambda: ResultSend.objects.filter(attempts__gte=2).count() == 3,
        timeout=60,
        what="every send to be retried",
        worker=worker,
    )
    assert not ResultSend.objects.filter(status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED))
    assert "could not be reached" in ResultSend.objects.first().error

    # When the PACS is back, every SR arrives, each exactly once.
    orthanc.start()
    wait_for(
        lambda: ResultSend.objects.filter(status=JobStatus.SUCCEEDED).count() == 3,
        timeout=60,
        what="every send to succeed",
        worker=worker,
    )
    for case, original in cases:
        (send,) = ResultSend.objects.filter(case=case)
        (instance,) = instances_of_study(orthanc, original.study_instance_uid)
        tags = orthanc.get(f"/instances/{instance['ID']}/simplified-tags")
        assert tags["SOPInstanceUID"] == send.sop_instance_uid

    # And an amendment adds one superseding SR to its study, nothing else.
    case, original = cases[0]
    case_amend(
        case=case,
        reader=alice,
        label=ReadLabel.PITUITARY,
        reason=Review.Reason.PRIOR_IMAGING,
        note="Prior imaging shows a pituitary macroadenoma.",
    )
    wait_for(
        lambda: len(instances_of_study(orthanc, original.study_instance_uid)) == 2,
        timeout=30,
        what="the amendment's SR",
        worker=worker,
    )
    time.sleep(1)
    assert len(instances_of_study(orthanc, original.study_instance_uid)) == 2
    assert sum(len(instances_of_study(orthanc, o.study_instance_uid)) for _, o in cases) == 4
