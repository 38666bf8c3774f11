"""Issue 17's check, with real workers: a site whose images differ from the base set uploads,
reads, exports and retrains with the Retrain button's defaults; the candidate ranks tumours
better than the active model on the site's never-uploaded slices, and the promotion gate
decides as the comparison says; a crafted export-only candidate that forgets the classes the
site never sees is refused promotion without an override.

The site (``ml.site_shift``): the shipped model's LGG FLAIR slices as a low-field scanner
would give them (80x80 resolution, Rician noise). The site uploads slices of the patients in
the shipped model's validation split; the slices of patients in its training split are never
uploaded and are scored before and after.

Real parts: PostgreSQL, Redis, two ``celery worker`` processes (inference + default queues,
and the training queue, as docker/compose.yaml runs them), the real ``python -m ml.train``
subprocess fine-tuning the real shipped model. What is made small for CI is the data, not the
recipe: the base data (REGISTRY_BASE_DATA_DIR) is a few dozen Sartaj images per class and the
LGG replay a few dozen slices (``--lgg``), the batch is 8 and the outlier-exposure set 3
images a kind (REGISTRY_TRAINING_ARGS); the service's defaults pick the parent (the active
version), the replay of the base data and the recipe (epochs, learning rate, frozen blocks)
from the parent's manifest.

Not asserted here (see docs/operations.md, *The loop's checks*): that the gate passes the
defaults' candidate with no override. It does not at full size (docs/retraining-demo.md:
base Testing recall of no tumour falls beyond the interval), and on this small base the
verdict varies between runs; missed tumours at each model's own threshold vary too (the
candidate's threshold is fitted on a validation split of a few dozen images).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from ml.site_shift import low_field_png, site_patients
from reviews.models import Case
from tests.factories import UserFactory
from tests.tumorapp.datasets.reviewed import read, single_reads_only
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import AuditEvent
from tumorapp.celery import app as celery_app
from tumorapp.datasets.models import DatasetExport
from tumorapp.datasets.services import export_create
from tumorapp.registry import stats
from tumorapp.registry.models import Comparison, JobStatus, ModelVersion, TrainingJob
from tumorapp.registry.services import model_promote, model_register
from tumorapp.scans.models import Scan

REPO = Path(__file__).resolve().parents[3]
SHIPPED = Path(django_settings.REGISTRY_SHIPPED_MODEL_DIR)
DATA = Path(django_settings.REGISTRY_BASE_DATA_DIR)
LGG = DATA.parent / "lgg-flair"
FOLDERS = ("glioma_tumor", "meningioma_tumor", "pituitary_tumor", "no_tumor")
BASE_TRAINING, BASE_TESTING, LGG_REPLAY = 40, 20, 20  # images per class
SITE_UPLOAD, SITE_HELD_OUT = 204, 100  # slices per class at most (glioma, no tumour)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not (DATA / "Testing").is_dir()
        or not LGG.is_dir()
        or not (SHIPPED / "split.csv").is_file(),
        reason="the public data sets or the shipped model are not checked out",
    ),
]


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spread over ``items`` (deterministic)."""
    if len(items) <= n:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n)]


def _link(target: Path, sources: list[Path]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in sources:
        (target / path.name).symlink_to(path)


@pytest.fixture
def small_base(tmp_path) -> tuple[Path, Path]:
    """A few Sartaj images per class (Training and Testing) and a few LGG slices."""
    base = tmp_path / "base"
    for folder in FOLDERS:
        _link(
            base / "Training" / folder,
            _spread(sorted((DATA / "Training" / folder).glob("*.jpg")), BASE_TRAINING),
        )
        _link(
            base / "Testing" / folder,
            _spread(sorted((DATA / "Testing" / folder).glob("*.jpg")), BASE_TESTING),
        )
    lgg = tmp_path / "lgg"
    lgg.mkdir()
    shutil.copy(LGG / "metadata.csv", lgg / "metadata.csv")
    for label in ("glioma", "no_tumor"):
        _link(lgg / label, _spread(sorted((LGG / label).glob("*.png")), LGG_REPLAY))
    return base, lgg


class Workers:
    """Worker processes, each in its own process group, always killed at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, queues: str) -> None:
        log = open(self.log_dir / f"worker-{queues}.log", "wb")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(
                [
                    *(str(Path(sys.executable).parent / "celery"), "-A", "tumorapp", "worker"),
                    *("-Q", queues, "--pool=solo", "--concurrency=1", "--loglevel=INFO"),
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                    *("-n", f"{queues.replace(',', '-')}@%h"),
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.log_dir.glob("*.log"))

    def stop_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


@pytest.fixture
def workers(media_dir, small_base, tmp_path, settings):
    base, lgg = small_base
    broker = settings.CELERY_BROKER_URL
    logs = tmp_path / "logs"
    logs.mkdir()
    training_args = ["--outliers", "3", "--batch-size", "8", "--threads", "2", "--no-cache"]
    training_args += ["--lgg", str(lgg)]
    settings.INFERENCE_PREDICTOR = "ml.predict.Predictor"
    settings.REGISTRY_BASE_DATA_DIR = base
    settings.REGISTRY_MODELS_DIR = tmp_path / "site-models"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tumorapp.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(media_dir),
        "INFERENCE_PREDICTOR": "ml.predict.Predictor",
        "REGISTRY_BASE_DATA_DIR": str(base),
        "REGISTRY_MODELS_DIR": str(settings.REGISTRY_MODELS_DIR),
        "REGISTRY_TRAINING_ARGS": ",".join(training_args),
        "PYTHONPATH": str(REPO),
        # The same run gives the same candidate: TensorFlow's deterministic kernels, and
        # no oneDNN reordering of float sums (ml.train seeds everything else).
        "TF_DETERMINISTIC_OPS": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0",
    }
    client = redis.Redis.from_url(broker)
    client.flushdb()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # really send to Redis
    pool = Workers(env, logs)
    try:
        pool.start("inference,default")
        pool.start("training")
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
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{workers.logs()}")


def _held_out_auc(model_dir: Path, slices, pngs) -> dict:
    """ROC AUC of P(tumour) (DeLong interval) of one model on the held-out slices."""
    from ml.predict import Predictor

    predictor = Predictor(model_dir)
    predictions = []
    for start in range(0, len(pngs), 32):
        predictions += predictor.predict(pngs[start : start + 32])
    tumour = np.array([s.label != "no_tumor" for s in slices])
    p_tumor = np.array([p.p_tumor for p in predictions])
    return stats.roc_auc_ci(p_tumor, tumour)


def _finished(model, pk):
    row = model.objects.get(pk=pk)
    return row if row.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) else None


def test_a_shifted_site_retrains_with_the_defaults_and_gains_without_losing_a_base_class(
    workers, bob, alice, carol, dave, api_for
):
    single_reads_only()
    shipped = model_register(path=SHIPPED)
    model_promote(model=shipped, actor=carol)
    parts = site_patients(SHIPPED, DATA.parent)

    def pick(part: str, n: int):
        return [
            s
            for label in ("glioma", "no_tumor")
            for s in _spread([s for s in parts[part] if s.label == label], n)
        ]

    site, held_out = pick("upload", SITE_UPLOAD), pick("held_out", SITE_HELD_OUT)
    assert not {s.patient for s in site} & {s.patient for s in held_out}

    # given the site's slices uploaded by a technologist and predicted by the worker
    for start in range(0, len(site), 40):  # the upload API takes 50 files a request
        files = [
            SimpleUploadedFile(s.name, low_field_png(s), "image/png")
            for s in site[start : start + 40]
        ]
        response = api_for(bob).post("/api/v1/scans/", {"files": files})
        assert response.status_code == 201, response.content
    scans = Scan.objects.filter(uploaded_by=bob)
    assert scans.count() == len(site)
    wait_for(
        lambda: not scans.filter(status=Scan.Status.QUEUED).exists(),
        timeout=240,
        what="the site's predictions",
        workers=workers,
    )
    assert set(scans.values_list("status", flat=True)) == {Scan.Status.PREDICTED}
    truth = {s.name: s.label for s in site}

    # and read by the site's radiologists with the true class (corrections where it erred)
    second = UserFactory(username="grace", role=Role.RADIOLOGIST)
    for case in Case.objects.select_related("scan"):
        label = truth[case.scan.original_filename]
        if read(case, alice, label).status == Case.Status.SECOND_READ:
            read(case, second, label)
    assert Case.objects.filter(status=Case.Status.DONE).count() == len(site)

    # when the data team exports them (the default worker builds the zip)
    export = export_create(actor=dave)
    wait_for(
        lambda: (
            DatasetExport.objects.get(pk=export.pk).status
            in (DatasetExport.Status.SUCCEEDED, DatasetExport.Status.FAILED)
        ),
        timeout=120,
        what="the export",
        workers=workers,
    )
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.SUCCEEDED, export.error

    # and retrains with the Retrain button's defaults (only the export is chosen); and, to
    # check the gate, a crafted candidate trained on the export alone (the site has gliomas
    # and normals only) for longer than the recipe, so it forgets meningioma and pituitary
    team, admin = api_for(dave), api_for(carol)
    created = team.post("/api/v1/trainings/", {"exports": [str(export.public_id)]}, format="json")
    assert created.status_code == 202, created.data
    time.sleep(1.1)  # a job's version is named by the second it starts
    crafted = {
        "exports": [str(export.public_id)],
        "include_base": False,
        "base_excluded_reason": "Crafted: export only, to check the gate refuses it.",
        "epochs": 12,
    }
    forgetful = team.post("/api/v1/trainings/", crafted, format="json")
    assert forgetful.status_code == 202, forgetful.data
    recipe = shipped.card["training"]
    job = TrainingJob.objects.get(public_id=created.data["id"])
    assert job.init_from == shipped and job.include_base
    assert job.epochs == recipe["max_epochs"] and job.learning_rate == recipe["learning_rate"]
    assert job.frozen_blocks == recipe["frozen_blocks"]
    candidate = _trained(job, workers)
    assert str(workers.env["REGISTRY_BASE_DATA_DIR"]) in job.command
    assert candidate.parent == shipped and candidate.status == ModelVersion.Status.CANDIDATE
    crafted_job = TrainingJob.objects.get(public_id=forgetful.data["id"])
    assert crafted_job.init_from == shipped and not crafted_job.include_base
    crafted_candidate = _trained(crafted_job, workers)

    # then the crafted candidate's comparison shows a lost base class, and the admin's
    # promotion without an override is refused, naming it
    _compared(team, crafted_candidate, export, workers)
    url = f"/api/v1/models/{crafted_candidate.public_id}/promote/"
    refused = admin.post(url, {"confirm": True}, format="json")
    assert refused.status_code == 400, refused.data
    assert "Base Testing recall of" in str(refused.data), refused.data
    crafted_candidate.refresh_from_db()
    assert crafted_candidate.status == ModelVersion.Status.CANDIDATE

    # and on the site's held-out slices (other patients, never uploaded) the candidate
    # trained with the defaults ranks tumours better than the active model
    comparison = _compared(team, candidate, export, workers)
    pngs = [low_field_png(s) for s in held_out]
    before = _held_out_auc(SHIPPED, held_out, pngs)
    after = _held_out_auc(Path(candidate.path), held_out, pngs)
    assert after["auc"] > before["auc"], (before, after)

    # and the gate decides as its comparison says: promoted without an override when no
    # base class recall nor site sensitivity is worse beyond the candidate's interval;
    # otherwise refused until the admin writes why, audited as an override. (With the
    # defaults the full-size run, docs/retraining-demo.md, is refused: see there.)
    lost = comparison.result["gate"]["regressions"]
    url = f"/api/v1/models/{candidate.public_id}/promote/"
    promoted = admin.post(url, {"confirm": True}, format="json")
    if lost:
        assert promoted.status_code == 400 and "regression" in str(promoted.data)
        reason = {"confirm": True, "override_reason": "The site's own scans gain; see the gate."}
        promoted = admin.post(url, reason, format="json")
    assert promoted.status_code == 200, promoted.data
    assert promoted.data["status"] == "active"
    event = AuditEvent.objects.filter(action="model.promoted").latest("pk")
    assert event.details.get("gate_overridden", False) == bool(lost)
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE) == candidate


def _trained(job: TrainingJob, workers: Workers) -> ModelVersion:
    job = wait_for(
        lambda: _finished(TrainingJob, job.pk), timeout=900, what="training", workers=workers
    )
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log_tail + workers.logs()
    return job.candidate


def _compared(team, candidate: ModelVersion, export, workers: Workers) -> Comparison:
    """The candidate next to the active model on the export's test split and base Testing."""
    payload = {
        "candidate": str(candidate.public_id),
        "export": str(export.public_id),
        "include_base_testing": True,
    }
    compared = team.post("/api/v1/comparisons/", payload, format="json")
    assert compared.status_code == 202, compared.data
    comparison = wait_for(
        lambda: _finished(Comparison, Comparison.objects.get(public_id=compared.data["id"]).pk),
        timeout=300,
        what="the comparison",
        workers=workers,
    )
    assert comparison.status == JobStatus.SUCCEEDED, comparison.error + workers.logs()
    return comparison
