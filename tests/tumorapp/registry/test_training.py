import sys

import pytest

from tumorapp.registry import training
from tumorapp.registry.models import JobStatus, TrainingJob
from tumorapp.registry.tasks import train


def training_job_execute(*, job_id: int) -> None:
    """As the worker runs it: the task claims the job and runs the service."""
    train.apply(args=[job_id])


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
    training_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and not job.log_tail


NOISY_TRAIN = (
    "import json, os, sys, time\n"
    "print('2025-01-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom "
    "operations are on. You may see slightly different numerical results', flush=True)\n"
    "print('WARNING: All log messages before absl::InitializeLog() is called are written to "
    "STDERR', flush=True)\n"
    "print('W0000 00:00:1700000000.000000   123 cpu_feature_guard.cc:210] AVX2', flush=True)\n"
    "print('/venv/keras/src/trainer.py:12: UserWarning: `input_shape` is deprecated', flush=True)\n"
    "print('  warnings.warn(', flush=True)\n"
    "print('env', os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['PYTHONWARNINGS'], flush=True)\n"
    "for e in (1, 2):\n"
    "    print(f'Epoch {e}/2 loss 0.5', flush=True)\n"
    "    time.sleep(0.15)\n"
    "print('Calibrating: temperature and threshold', flush=True)\n"
    "time.sleep(0.3)\n"
    "print('Fitting the OOD guard', flush=True)\n"
    "time.sleep(0.3)\n"
    "print(json.dumps({'model_dir': 'x', 'seconds': 9, 'phases': {'read data': 1.5, "
    "'training': 4.0, 'calibration': 2.0, 'ood guard': 1.5}}), flush=True)\n"
)


def test_the_job_reports_calibration_and_the_time_per_phase_with_a_clean_log(
    job, monkeypatch, client_for, dave
):
    # given a run that prints TensorFlow noise, two epochs, the calibration and OOD phases
    # and ml.train's closing summary with its phase times
    monkeypatch.setattr(
        training, "command", lambda job, folders, out: [sys.executable, "-c", NOISY_TRAIN]
    )
    monkeypatch.setattr(training, "UPDATE_SECONDS", 0.05)
    seen = []
    report = training._report

    def spy(job, progress):
        seen.append((progress.phase, progress.progress()))
        report(job, progress)

    monkeypatch.setattr(training, "_report", spy)
    monkeypatch.setattr(training, "_supervise", _exit_with(training._supervise, code_after=3))
    training_job_execute(job_id=job.pk)
    job.refresh_from_db()
    # then the job went through calibration and the OOD guard with rising progress
    phases = [phase for phase, _ in seen]
    assert "calibrating" in phases and "ood_guard" in phases
    calibrating = max(p for phase, p in seen if phase == "calibrating")
    assert calibrating > max(p for phase, p in seen if phase == "training")
    # the warnings were silenced at source and the known noise dropped from the log
    assert "env 3 ignore" in job.log_tail
    for noise in ("oneDNN", "absl", "cpu_feature_guard", "UserWarning", "warnings.warn"):
        assert noise not in job.log_tail
    assert "Epoch 2/2" in job.log_tail and "Fitting the OOD guard" in job.log_tail
    # and ml.train's own phase times are kept and shown on the job page
    assert job.phase_seconds == {
        "read data": 1.5,
        "training": 4.0,
        "calibration": 2.0,
        "ood guard": 1.5,
    }
    page = client_for(dave).get(f"/models/training/{job.public_id}/").content.decode()
    assert "Time per phase" in page and "calibration" in page


def test_without_ml_train_phase_figures_the_observed_phases_are_kept(job, monkeypatch):
    _fake(monkeypatch, 0.1)
    monkeypatch.setattr(training, "_supervise", _exit_with(training._supervise, code_after=1))
    training_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert {"Reading the data", "Training"} <= set(job.phase_seconds)


def test_a_training_worker_says_at_start_up_when_the_base_data_is_missing(
    settings, tmp_path, caplog
):
    from types import SimpleNamespace

    from tumorapp.registry.worker import check_base_data

    def worker(*queues):
        return SimpleNamespace(
            app=SimpleNamespace(
                amqp=SimpleNamespace(queues=SimpleNamespace(consume_from={q: None for q in queues}))
            )
        )

    settings.REGISTRY_BASE_DATA_DIR = tmp_path / "nowhere"
    # a worker of the training queue logs what is wrong and what to do
    problem = check_base_data(sender="celery@t", instance=worker("training"))
    assert "REGISTRY_BASE_DATA_DIR" in problem and "does not exist" in problem
    assert "Put the public base data set there" in caplog.text
    # an inference worker does not care
    assert check_base_data(sender="celery@i", instance=worker("inference", "default")) is None
    # with the data set in place, nothing to say
    (tmp_path / "nowhere" / "Testing" / "glioma").mkdir(parents=True)
    assert check_base_data(sender="celery@t", instance=worker("training")) is None


def test_a_job_replaying_missing_base_data_fails_with_what_to_do(job, settings, tmp_path):
    settings.REGISTRY_BASE_DATA_DIR = tmp_path / "nowhere"
    TrainingJob.objects.filter(pk=job.pk).update(include_base=True)
    training_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "REGISTRY_BASE_DATA_DIR" in job.error
