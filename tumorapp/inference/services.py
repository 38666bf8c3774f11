"""Inference runs: create, execute, record, fail.

A run is a job row of the job kernel (tumorapp.core.jobs): the task claims it (every claim
counts as an attempt, and the claim after the last allowed attempt fails the run instead,
so an input that kills its worker each time is given up on), and the kernel's sweeper
re-sends runs whose lease ran out (lost message, dead worker, broker down at upload time).
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.core.jobs import TRANSIENT_ERRORS, UNFINISHED, JobRefused, job_submit, job_succeed
from tumorapp.inference.hooks import prediction_made, threshold_in_force
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.inference.predictor import get_predictor
from tumorapp.scans.models import Scan

logger = logging.getLogger(__name__)

Status = InferenceRun.Status


class PredictionRefused(JobRefused):
    """This run cannot succeed by trying again; the message is the reason shown to users."""


def run_create(*, scan: Scan) -> InferenceRun:
    """Queue a prediction of ``scan``; the task is sent only if the caller's transaction
    commits. For a queued run the lease says when the sweeper may send it again."""
    run = InferenceRun.objects.create(
        scan=scan, lease_expires_at=timezone.now() + InferenceRun.lease()
    )
    job_submit(run)
    return run


def run_create_for_ready_scan(*, scan: Scan) -> None:
    """Subscribed to ``tumorapp.scans.hooks.scan_ready`` (InferenceConfig.ready): a slice
    stored for the model to read is queued."""
    run_create(scan=scan)


def run_execute(*, run: InferenceRun) -> Prediction | None:
    """Predict a claimed run's scan and store the result. Idempotent: a second result for
    the same scan and model version is never written.

    A bad image, a missing file or a model that cannot load raises PredictionRefused (the
    run fails at once with the reason); database or network trouble propagates, and the
    task releases the run and retries with backoff (tumorapp.core.jobs.JobTask).
    """
    result, timings = _predict(run)
    heatmap_key = _store_heatmap(getattr(result, "overlay_png", None))
    return prediction_record(run_id=run.pk, result=result, heatmap_key=heatmap_key, timings=timings)


def _predict(run: InferenceRun) -> tuple[object, dict]:
    started = time.monotonic()
    try:
        with default_storage.open(run.scan.image.name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise PredictionRefused("The stored image is missing.") from None
    if settings.INFERENCE_TEST_DELAY_SECONDS:
        time.sleep(settings.INFERENCE_TEST_DELAY_SECONDS)
    read = time.monotonic()
    try:
        predictor = get_predictor()
    except Exception as exc:
        logger.exception("the predictor could not be loaded")
        raise PredictionRefused(f"The model could not be loaded: {exc}") from exc
    ready = time.monotonic()
    try:
        result = predictor.predict([data], heatmap=True)[0]
    except TRANSIENT_ERRORS:
        raise
    except ValueError as exc:  # ml.images.ImageDecodeError: the input itself is unusable
        raise PredictionRefused(f"The image cannot be predicted: {exc}") from exc
    except Exception as exc:
        logger.exception("inference run %s: the model failed", run.pk)
        raise PredictionRefused(f"The model failed: {type(exc).__name__}: {exc}") from exc
    timings = {
        "read_s": round(read - started, 4),
        "load_model_s": round(ready - read, 4),
        "predict_s": round(time.monotonic() - ready, 4),
        "queue_wait_s": round((run.started_at - run.queued_at).total_seconds(), 4),
    }
    return result, timings


def _store_heatmap(png: bytes | None) -> str:
    """Heat maps are stored like scans: under their content hash, never under user text."""
    if not png:
        return ""
    digest = hashlib.sha256(png).hexdigest()
    key = f"heatmaps/{digest[:2]}/{digest}.png"
    if not default_storage.exists(key):
        saved = default_storage.save(key, ContentFile(png))
        if saved != key:  # pragma: no cover - a concurrent writer stored identical bytes
            default_storage.delete(saved)
    return key


@transaction.atomic
def prediction_record(*, run_id: int, result, heatmap_key: str, timings: dict) -> Prediction | None:
    """Write the result of a run: one Prediction per scan and model version, the run
    succeeded, the scan predicted, one audit event. A run already finished is left alone."""
    run = InferenceRun.objects.select_for_update().select_related("scan").get(pk=run_id)
    if run.status not in UNFINISHED:
        return Prediction.objects.filter(run=run).first()
    scan = run.scan
    version = str(result.model_version)
    # The site's operating point, when one is applied to this version, decides the flag.
    threshold = threshold_in_force(version)
    suspected = (
        bool(result.tumor_suspected) if threshold is None else float(result.p_tumor) >= threshold
    )
    prediction = Prediction.objects.filter(scan=scan, model_version=version).first()
    if prediction is None:
        try:
            with transaction.atomic():
                prediction = Prediction.objects.create(
                    scan=scan,
                    run=run,
                    model_version=version,
                    label=str(result.answer),
                    probabilities={k: float(v) for k, v in dict(result.probabilities).items()},
                    p_tumor=float(result.p_tumor),
                    tumor_suspected=suspected,
                    ood=bool(result.ood),
                    ood_score=_optional_float(getattr(result, "ood_score", None)),
                    ood_reasons=[str(r) for r in getattr(result, "ood_reasons", []) or []],
                    heatmap=heatmap_key,
                )
        except IntegrityError:
            prediction = Prediction.objects.get(scan=scan, model_version=version)
    now = timezone.now()
    job_succeed(
        InferenceRun,
        job_id=run.pk,
        model_version=version,
        finished_at=now,
        timings={**timings, "total_s": round((now - run.queued_at).total_seconds(), 4)},
    )
    Scan.objects.filter(pk=scan.pk).update(status=Scan.Status.PREDICTED, status_reason="")
    audit_record(
        action=Action.PREDICTION_MADE,
        target=scan,
        details={
            "run": str(run.public_id),
            "model_version": version,
            "label": prediction.label,
            "p_tumor": prediction.p_tumor,
            "tumor_suspected": prediction.tumor_suspected,
            "ood": prediction.ood,
        },
    )
    # The stored prediction puts the scan on the radiologists' worklist, in triage order
    # (reviews subscribes: reviews.services.case_open_for_prediction).
    prediction_made.publish(prediction=prediction)
    return prediction


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


def run_failed(*, run_id: int, reason: str) -> None:
    """A run was given up (tumorapp.core.jobs.JobTask.give_up, in its transaction): its scan
    is failed with the reason, unless another run predicted it, and the failure audited."""
    run = InferenceRun.objects.select_related("scan").get(pk=run_id)
    Scan.objects.filter(pk=run.scan_id).exclude(status=Scan.Status.PREDICTED).update(
        status=Scan.Status.FAILED, status_reason=reason
    )
    audit_record(
        action=Action.PREDICTION_FAILED,
        target=run.scan,
        details={"run": str(run.public_id), "attempts": run.attempts, "reason": reason},
    )
