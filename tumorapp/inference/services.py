"""Inference runs: create, claim, execute, record, fail, sweep.

A run is a job row. A worker claims it with a conditional UPDATE that changes exactly one
row (queued -> running, or running past its lease -> running); every claim counts as an
attempt, and the claim after the last allowed attempt marks the run failed instead, so an
input that kills its worker each time is given up on. The sweeper re-sends runs whose lease
ran out (lost message, dead worker, broker down at upload time).
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviews.services import case_open_for_prediction
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.core.queue import enqueue
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.inference.predictor import get_predictor
from tumorapp.registry.selectors import effective_threshold
from tumorapp.scans.models import Scan

logger = logging.getLogger(__name__)

Status = InferenceRun.Status
_UNFINISHED = (Status.QUEUED, Status.RUNNING)
#: Failures worth another attempt: the database, storage or network hiccuped, not the input.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


class TransientInferenceError(Exception):
    """Raised after a run was released back to the queue; the task retries with backoff."""


class PredictionRefused(Exception):
    """This run cannot succeed by trying again; the message is the reason shown to users."""


def _lease() -> timedelta:
    return timedelta(seconds=settings.INFERENCE_LEASE_SECONDS)


def run_create(*, scan: Scan) -> InferenceRun:
    """Queue a prediction of ``scan``; the task is sent only if the caller's transaction
    commits. For a queued run the lease says when the sweeper may send it again."""
    run = InferenceRun.objects.create(scan=scan, lease_expires_at=timezone.now() + _lease())
    _send(run.pk)
    return run


def _send(run_id: int) -> None:
    from tumorapp.inference.tasks import predict_run

    enqueue(predict_run, run_id)


def _claimable(now) -> Q:
    return Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=now)


def run_claim(*, run_id: int, worker: str) -> InferenceRun | None:
    """Claim a run for this worker, or return None when it is not this worker's to run
    (done, held by a live worker, or given up on: see the module docstring)."""
    now = timezone.now()
    claimed = InferenceRun.objects.filter(
        _claimable(now), pk=run_id, attempts__lt=settings.INFERENCE_MAX_ATTEMPTS
    ).update(
        status=Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        lease_expires_at=now + _lease(),
        worker=worker[:200],
    )
    if claimed:
        return InferenceRun.objects.select_related("scan").get(pk=run_id)
    exhausted = (
        InferenceRun.objects.filter(
            _claimable(now), pk=run_id, attempts__gte=settings.INFERENCE_MAX_ATTEMPTS
        )
        .values_list("attempts", flat=True)
        .first()
    )
    if exhausted is not None:
        run_fail(
            run_id=run_id,
            reason=f"Gave up after {exhausted} attempts: the worker stopped or failed each time.",
        )
    return None


def run_execute(*, run_id: int, worker: str) -> Prediction | None:
    """Claim the run, predict its scan, store the result. Idempotent: a second delivery of
    the same run finds nothing to claim, and a second result for the same scan and model
    version is never written.

    A bad image, a missing file or a model that cannot load fails the run at once with the
    reason; database or network trouble releases it and raises TransientInferenceError so
    the task retries with backoff.
    """
    run = run_claim(run_id=run_id, worker=worker)
    if run is None:
        logger.info("inference run %s: nothing to claim", run_id)
        return None
    try:
        result, timings = _predict(run)
        heatmap_key = _store_heatmap(getattr(result, "overlay_png", None))
        return prediction_record(
            run_id=run.pk, result=result, heatmap_key=heatmap_key, timings=timings
        )
    except TRANSIENT_ERRORS as exc:
        run_release(run_id=run.pk, worker=run.worker, error=f"{type(exc).__name__}: {exc}")
        raise TransientInferenceError(str(exc)) from exc
    except PredictionRefused as exc:
        run_fail(run_id=run.pk, reason=str(exc))
        return None


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
    if run.status not in _UNFINISHED:
        return Prediction.objects.filter(run=run).first()
    scan = run.scan
    version = str(result.model_version)
    # The site's operating point, when one is applied to this version, decides the flag.
    threshold = effective_threshold(version)
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
    run.status = Status.SUCCEEDED
    run.model_version = version
    run.finished_at = now
    run.lease_expires_at = None
    run.error = ""
    run.timings = {**timings, "total_s": round((now - run.queued_at).total_seconds(), 4)}
    run.save(
        update_fields=[
            "status",
            "model_version",
            "finished_at",
            "lease_expires_at",
            "error",
            "timings",
        ]
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
    # The stored prediction puts the scan on the radiologists' worklist, in triage order.
    case_open_for_prediction(prediction=prediction)
    return prediction


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


@transaction.atomic
def run_fail(*, run_id: int, reason: str) -> bool:
    """Mark an unfinished run failed and its scan failed, with the reason; False when the
    run had already finished (nothing changes, nothing is audited)."""
    now = timezone.now()
    changed = InferenceRun.objects.filter(pk=run_id, status__in=_UNFINISHED).update(
        status=Status.FAILED, error=reason, finished_at=now, lease_expires_at=None
    )
    if not changed:
        return False
    run = InferenceRun.objects.select_related("scan").get(pk=run_id)
    Scan.objects.filter(pk=run.scan_id).exclude(status=Scan.Status.PREDICTED).update(
        status=Scan.Status.FAILED, status_reason=reason
    )
    audit_record(
        action=Action.PREDICTION_FAILED,
        target=run.scan,
        details={"run": str(run.public_id), "attempts": run.attempts, "reason": reason},
    )
    logger.warning("inference run %s failed: %s", run_id, reason)
    return True


def run_release(*, run_id: int, worker: str, error: str) -> bool:
    """Give a claimed run back to the queue after a transient failure (the retry claims it)."""
    try:
        return bool(
            InferenceRun.objects.filter(pk=run_id, status=Status.RUNNING, worker=worker).update(
                status=Status.QUEUED,
                error=error,
                lease_expires_at=timezone.now() + _lease(),
            )
        )
    except DatabaseError:
        # The database is what failed: the lease runs out and the sweeper re-sends the run.
        logger.warning("inference run %s: could not release it (%s)", run_id, error)
        return False


def runs_sweep(*, limit: int = 500) -> int:
    """Re-send runs stuck past their lease; returns how many were sent.

    A running run past its lease lost its worker; a queued run past it lost its message
    (or was never sent: broker down at upload time). Each is put back to queued with a
    fresh lease by a conditional UPDATE, so two sweepers never send the same run twice.
    """
    now = timezone.now()
    stale = list(
        InferenceRun.objects.filter(status__in=_UNFINISHED, lease_expires_at__lt=now)
        .order_by("lease_expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for run_id in stale:
        changed = InferenceRun.objects.filter(
            pk=run_id, status__in=_UNFINISHED, lease_expires_at__lt=now
        ).update(status=Status.QUEUED, lease_expires_at=now + _lease())
        if changed:
            _send(run_id)
            sent += 1
    if sent:
        logger.info("inference sweep: re-sent %d stale runs", sent)
    return sent
