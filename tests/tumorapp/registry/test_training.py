import sys

import pytest

from tumorapp.registry import training
from tumorapp.registry.models import JobStatus, TrainingJob
from tumorapp.registry.services import training_job_execute

pytestmark = pytest.mark.django_db

FAKE_TRAIN = (
    "import sys, time\n"
    "for e in (1, 2):\n"
    "    print(f'Epoch {e}/2', flush=True)\n"
    "    time.sleep(0.2)\n"
    "time.sleep(float(sys.argv[1]))\n"
)


@pytest.fixture
def job(dave, settings, tmp_path):
    settings.REGISTRY_MODELS_DIR = tmp_path / "models"
    return TrainingJob.objects.create(created_by=dave, version="site-x", epochs=2)


def _fake(monkeypatch, seconds: float, out_dir=None):
    def command(job, folders, out):
        if out_dir is not None:
            out_dir.append(out)
        return [sys.executable, "-c", FAKE_TRAIN, str(seconds)]

    monkeypatch.setattr(training, "command", command)
    monkeypatch.setattr(training, "UPDATE_SECONDS", 0.1)


def test_a_training_run_past_its_time_limit_is_stopped_and_failed(job, settings, monkeypatch):
    # given a run that would take a minute, and a two-second limit
    settings.REGISTRY_TRAINING_TIME_LIMIT = 2
    _fake(monkeypatch, 60)
    # when the worker executes the job
    training_job_execute(job_id=job.pk)
    # then the process was killed at the limit and the job says so, with the log's tail
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "Stopped after 2 s" in job.error and "Epoch 2/2" in job.error
    assert job.finished_at is not None


def test_progress_follows_the_epochs_and_a_failed_exit_keeps_the_log(job, monkeypatch):
    # given a run that prints two epochs and then exits without writing a model folder
    _fake(monkeypatch, 0.1)
    monkeypatch.setattr(training, "_supervise", _exit_with(training._supervise, code_after=3))
    training_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "exited with 3" in job.error
    assert "Epoch 1/2" in job.log_tail and job.progress >= 5 + 85 // 2


def _exit_with(supervise, code_after: int):
    def run(job, cmd):
        _, tail = supervise(job, cmd)
        return code_after, tail

    return run


def test_a_redelivered_training_task_does_nothing(job, monkeypatch):
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    _fake(monkeypatch, 0)
    assert training_job_execute(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and not job.log_tail
