"""The model registry: register, promote, roll back; training, comparison and re-scoring jobs.

Every job is a row of the job kernel (tumorapp.core.jobs): its task claims it, keeps its
lease alive by heartbeat and gives it up; the services here create the rows and do the work
of a claimed row, publishing its result only while the worker still holds it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ml import artefact
from reviews.models import Case
from reviews.selectors import case_slices
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.core.jobs import JobLost, JobRefused, job_submit, job_succeed
from tumorapp.datasets.models import DatasetExport
from tumorapp.inference.services import run_create
from tumorapp.registry.models import (
    Comparison,
    JobStatus,
    ModelVersion,
    RescoreJob,
    SiteOperatingPoint,
    TrainingJob,
)
from tumorapp.registry.selectors import active_model, operating_point_proposal, training_recipe

logger = logging.getLogger(__name__)

Status = ModelVersion.Status


# --- versions ---------------------------------------------------------------------------------


@transaction.atomic
def model_register(
    *,
    path: Path | str,
    actor=None,
    parent: ModelVersion | None = None,
    training_exports: list[DatasetExport] | tuple = (),
    request=None,
) -> ModelVersion:
    """Register a model folder as a candidate (its manifest is the card). Registering the
    same version again returns the existing row; a different folder under a known version
    name is refused."""
    path = Path(path).resolve()
    manifest = artefact.read_manifest(path)
    version = str(manifest["version"])
    existing = ModelVersion.objects.filter(version=version).first()
    if existing is not None:
        if Path(existing.path) != path:
            raise ValidationError(f"Version {version} is registered from {existing.path}.")
        return existing
    fingerprint_file = path / artefact.FINGERPRINT_FILE
    fingerprint = json.loads(fingerprint_file.read_text()) if fingerprint_file.exists() else {}
    model = ModelVersion.objects.create(
        version=version,
        path=str(path),
        parent=parent,
        card=manifest,
        metrics=manifest.get("validation", {}),
        fingerprint=fingerprint,
        training_data=manifest.get("training", {}).get("data", []),
        registered_by=actor,
    )
    model.training_exports.set(training_exports)
    audit_record(
        action=Action.MODEL_REGISTERED,
        actor=actor,
        request=request,
        target=model,
        details={
            "version": version,
            "parent": parent.version if parent else "",
            "exports": [e.version_id for e in training_exports],
        },
    )
    return model


@transaction.atomic
def model_promote(
    *, model: ModelVersion, actor=None, override_reason: str = "", request=None
) -> ModelVersion:
    """Make ``model`` the active version; the one it replaces is retired (and is what a
    rollback brings back). Workers pick it up at their next prediction, without a restart.

    The non-regression gate (tumorapp.registry.gate) reads the newest finished comparison of
    ``model`` with the active version: when it lost a base class's recall or site
    sensitivity beyond the interval, promotion needs ``override_reason`` (audited)."""
    model = ModelVersion.objects.select_for_update().get(pk=model.pk)
    if model.status == Status.ACTIVE:
        raise ValidationError("This version is already active.")
    current = ModelVersion.objects.select_for_update().filter(status=Status.ACTIVE).first()
    lost = promotion_regressions(model=model, baseline=current)
    override_reason = override_reason.strip()
    if lost and len(override_reason) < 10:
        raise ValidationError(
            "The comparison with the active version shows a regression: "
            + " ".join(lost)
            + " Promote only with a written reason (at least 10 characters)."
        )
    now = timezone.now()
    if current is not None:
        current.status, current.retired_at = Status.RETIRED, now
        current.save(update_fields=["status", "retired_at"])
    model.status, model.activated_at, model.retired_at = Status.ACTIVE, now, None
    model.replaces = current
    model.save(update_fields=["status", "activated_at", "retired_at", "replaces"])
    audit_record(
        action=Action.MODEL_PROMOTED,
        actor=actor,
        request=request,
        target=model,
        details={
            "version": model.version,
            "replaces": current.version if current else "",
            # One event per promotion: an override of the gate is part of it.
            **(
                {"gate_overridden": True, "reason": override_reason, "regressions": lost}
                if lost
                else {}
            ),
        },
    )
    return model


def promotion_regressions(*, model: ModelVersion, baseline: ModelVersion | None) -> list[str]:
    """What the newest finished comparison of ``model`` with ``baseline`` says it lost."""
    from tumorapp.registry import gate

    if baseline is None:
        return []
    comparison = (
        Comparison.objects.filter(candidate=model, baseline=baseline, status=JobStatus.SUCCEEDED)
        .order_by("-finished_at")
        .first()
    )
    return gate.regressions(comparison.result) if comparison else []


@transaction.atomic
def model_rollback(*, actor=None, request=None) -> ModelVersion:
    """Retire the active version and make the one it replaced active again."""
    current = ModelVersion.objects.select_for_update().filter(status=Status.ACTIVE).first()
    if current is None or current.replaces_id is None:
        raise ValidationError("There is no earlier version to roll back to.")
    previous = ModelVersion.objects.select_for_update().get(pk=current.replaces_id)
    now = timezone.now()
    current.status, current.retired_at = Status.RETIRED, now
    current.save(update_fields=["status", "retired_at"])
    previous.status, previous.activated_at, previous.retired_at = Status.ACTIVE, now, None
    previous.save(update_fields=["status", "activated_at", "retired_at"])
    audit_record(
        action=Action.MODEL_ROLLED_BACK,
        actor=actor,
        request=request,
        target=previous,
        details={"version": previous.version, "rolled_back": current.version},
    )
    return previous


# --- site operating point --------------------------------------------------------------------


@transaction.atomic
def operating_point_apply(
    *, model: ModelVersion, target: float, actor, request=None
) -> SiteOperatingPoint:
    """Fit the tumour threshold for ``target`` sensitivity on the site's reviewed cases
    (re-fitted here, never taken from the form) and put it in force for ``model``: new
    predictions by that version are flagged with it. A new row each time (the history
    stays), audited."""
    if not 0.5 <= target < 1:
        raise ValidationError({"target": "A target sensitivity between 0.5 and 0.999."})
    proposal = operating_point_proposal(model=model, target=target)
    if "error" in proposal:
        raise ValidationError(proposal["error"])
    figures = proposal["at_threshold"]
    false_alarms = figures["false_alarm_rate"]
    point = SiteOperatingPoint.objects.create(
        model=model,
        threshold=proposal["threshold"],
        threshold_ci95=list(proposal["threshold_ci95"]),
        target_sensitivity=target,
        n_cases=proposal["n"],
        n_tumours=proposal["tumours"],
        sensitivity=figures["sensitivity"]["value"],
        false_alarm_rate=false_alarms["value"] if false_alarms else None,
        applied_by=actor,
    )
    audit_record(
        action=Action.OPERATING_POINT_APPLIED,
        actor=actor,
        request=request,
        target=model,
        details={
            "version": model.version,
            "threshold": point.threshold,
            "threshold_ci95": point.threshold_ci95,
            "previous_threshold": proposal["current_threshold"],
            "target_sensitivity": target,
            "n_cases": point.n_cases,
            "n_tumours": point.n_tumours,
        },
    )
    return point


# --- training ---------------------------------------------------------------------------------


@transaction.atomic
def training_job_create(
    *,
    actor,
    exports: list[DatasetExport],
    include_base: bool = True,
    base_excluded_reason: str = "",
    init_from: ModelVersion | None = None,
    from_scratch: bool = False,
    epochs: int | None = None,
    learning_rate: float | None = None,
    request=None,
) -> TrainingJob:
    """Queue a retraining run on the ``training`` queue, with safe defaults:

    1. fine-tune from ``init_from``, the active version when none is named (from scratch only
       when asked with ``from_scratch``);
    2. replay the base data unless ``include_base`` is off with a written reason (stored and
       audited): a candidate trained on a site's export alone forgets the classes the site
       rarely sees;
    3. the recipe (epochs, learning rate, frozen blocks) comes from the parent's manifest;
       ``epochs`` and ``learning_rate`` override it when given.
    """
    exports = [e for e in exports if e.status == DatasetExport.Status.SUCCEEDED]
    if not exports and not include_base:
        raise ValidationError("Choose at least one finished export, or the base data.")
    base_excluded_reason = base_excluded_reason.strip()
    if not include_base and len(base_excluded_reason) < 10:
        raise ValidationError(
            {
                "base_excluded_reason": "Say why the base data is left out (at least 10 "
                "characters): a candidate trained on the export alone can forget a class."
            }
        )
    if include_base:
        base_excluded_reason = ""
    if from_scratch:
        init_from = None
    elif init_from is None:
        init_from = active_model()
        if init_from is None:
            raise ValidationError(
                {
                    "init_from": "No version is active: choose one to fine-tune from, or train "
                    "from scratch explicitly."
                }
            )
    recipe = training_recipe(init_from) if init_from is not None else {}
    epochs = epochs if epochs is not None else recipe.get("epochs")
    learning_rate = learning_rate if learning_rate is not None else recipe.get("learning_rate")
    if epochs is not None and not 1 <= epochs <= 200:
        raise ValidationError({"epochs": "Between 1 and 200."})
    if learning_rate is not None and not 0 < learning_rate < 1:
        raise ValidationError({"learning_rate": "Between 0 and 1."})
    version = f"site-{timezone.now():%Y%m%d-%H%M%S}"
    if TrainingJob.objects.filter(version=version).exists():
        raise ValidationError("A training job was started this second; try again.")
    job = TrainingJob.objects.create(
        created_by=actor,
        include_base=include_base,
        base_excluded_reason=base_excluded_reason,
        init_from=init_from,
        epochs=epochs,
        learning_rate=learning_rate,
        frozen_blocks=recipe.get("frozen_blocks"),
        version=version,
    )
    job.exports.set(exports)
    audit_record(
        action=Action.TRAINING_STARTED,
        actor=actor,
        request=request,
        target=job,
        details={
            "version": version,
            "exports": [e.version_id for e in exports],
            "include_base": include_base,
            "base_excluded_reason": base_excluded_reason,
            "init_from": init_from.version if init_from else "",
            "from_scratch": init_from is None,
            "epochs": epochs,
            "learning_rate": learning_rate,
            "frozen_blocks": job.frozen_blocks,
        },
    )
    job_submit(job)
    return job


def training_job_execute(*, job: TrainingJob) -> TrainingJob:
    """Run ``python -m ml.train`` for a claimed job (see tumorapp.registry.training: it trains
    into a folder of this attempt's own and publishes it under the version's name only when
    the run succeeded), then register that folder as a candidate. A failed run raises
    TrainingFailed (a JobRefused: the job fails with the reason)."""
    from tumorapp.registry import training

    out = training.run(job)
    return training_job_finish(job=job, model_dir=out)


def training_job_discard(*, job: TrainingJob) -> None:
    """Delete what a given-up job's attempts left: scratch folders, unpublished model folders
    and a published one that was never registered."""
    from tumorapp.registry import training

    training.discard(job)


@transaction.atomic
def training_job_finish(*, job: TrainingJob, model_dir: Path) -> TrainingJob:
    candidate = model_register(
        path=model_dir,
        actor=job.created_by,
        parent=job.init_from,
        training_exports=list(job.exports.all()),
    )
    if not job_succeed(
        TrainingJob,
        job_id=job.pk,
        worker=job.worker,
        progress=100,
        phase=TrainingJob.Phase.DONE,
        candidate=candidate,
    ):
        raise JobLost(f"training job {job.pk}: another worker holds it; nothing registered")
    audit_record(
        action=Action.TRAINING_FINISHED,
        actor=job.created_by,
        target=job,
        details={"version": candidate.version, "validation": candidate.metrics.get("accuracy")},
    )
    job.refresh_from_db()
    return job


# --- comparison -------------------------------------------------------------------------------


@transaction.atomic
def comparison_create(
    *,
    actor,
    candidate: ModelVersion,
    export: DatasetExport | None = None,
    include_base_testing: bool = False,
    request=None,
) -> Comparison:
    """Queue the evaluation of ``candidate`` next to the active version."""
    baseline = active_model()
    if baseline is None:
        raise ValidationError("No version is active: promote one first.")
    if baseline.pk == candidate.pk:
        raise ValidationError("The candidate is the active version.")
    if export is None and not include_base_testing:
        raise ValidationError("Choose an export (its test split) or the base Testing split.")
    if export is not None and export.status != DatasetExport.Status.SUCCEEDED:
        raise ValidationError({"export": "The export is not finished."})
    comparison = Comparison.objects.create(
        created_by=actor,
        candidate=candidate,
        baseline=baseline,
        export=export,
        include_base_testing=include_base_testing,
    )
    audit_record(
        action=Action.COMPARISON_STARTED,
        actor=actor,
        request=request,
        target=comparison,
        details={
            "candidate": candidate.version,
            "baseline": baseline.version,
            "export": export.version_id if export else "",
            "base_testing": include_base_testing,
        },
    )
    job_submit(comparison)
    return comparison


def comparison_execute(*, comparison: Comparison) -> Comparison:
    """Evaluate a claimed comparison's two versions and store the figures."""
    from tumorapp.registry import evaluation

    result = evaluation.compare(comparison)
    if not job_succeed(
        Comparison, job_id=comparison.pk, worker=comparison.worker, progress=100, result=result
    ):
        raise JobLost(f"comparison {comparison.pk}: another worker holds it")
    comparison.refresh_from_db()
    return comparison


# --- re-scoring -------------------------------------------------------------------------------


def rescore_candidates(*, model: ModelVersion):
    """Cases still waiting for their first read whose newest prediction is not ``model``'s."""
    return (
        Case.objects.filter(status=Case.Status.FIRST_READ, first_reader__isnull=True)
        .exclude(scan__predictions__model_version=model.version)
        .select_related("scan")
    )


@transaction.atomic
def rescore_create(*, actor, request=None) -> RescoreJob:
    """Queue the re-prediction of the waiting cases by the active version."""
    model = active_model()
    if model is None:
        raise ValidationError("No version is active.")
    job = RescoreJob.objects.create(created_by=actor, model=model)
    audit_record(
        action=Action.RESCORE_STARTED,
        actor=actor,
        request=request,
        target=job,
        details={"version": model.version},
    )
    job_submit(job)
    return job


def rescore_execute(*, job: RescoreJob) -> RescoreJob:
    """Send one inference run per waiting case. The inference worker predicts it with the
    active version and stores a new Prediction (one per scan and version: the old stays in
    the history); reviews.services.case_open_for_prediction then re-ranks the case."""
    if job.model.status != Status.ACTIVE:
        raise JobRefused("The version is no longer active.")
    with transaction.atomic():
        scans = []
        for case in rescore_candidates(model=job.model):
            # A study case is re-ranked from all its slices, so every slice is re-read.
            scans.extend(case_slices(case=case) if case.study_id else [case.scan])
        for scan in scans:
            run_create(scan=scan)
        if not job_succeed(RescoreJob, job_id=job.pk, worker=job.worker, total=len(scans)):
            raise JobLost(f"re-scoring {job.pk}: another worker holds it; nothing sent")
    job.refresh_from_db()
    return job


def shipped_model_dir() -> Path:
    return Path(settings.REGISTRY_SHIPPED_MODEL_DIR)
