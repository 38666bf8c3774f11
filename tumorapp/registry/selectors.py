"""Reads for the model registry."""

from __future__ import annotations

from django.db.models import QuerySet

from tumorapp.inference.models import Prediction
from tumorapp.registry.models import Comparison, ModelVersion, RescoreJob, TrainingJob


def active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def operating_point(version: str) -> dict | None:
    """The tumour threshold of a registered version and its sensitivity and specificity on
    that version's validation images, or None for a version the registry does not know."""
    model = ModelVersion.objects.filter(version=version).only("metrics", "card").first()
    if model is None:
        return None
    tumour = (model.metrics or {}).get("tumour") or {}
    threshold = tumour.get("threshold", (model.card or {}).get("threshold"))
    if threshold is None:
        return None
    return {
        "threshold": threshold,
        "sensitivity": tumour.get("sensitivity"),
        "specificity": tumour.get("specificity"),
    }


def training_recipe(model: ModelVersion) -> dict:
    """The hyper-parameters a fine-tune of ``model`` starts from: its own, from its manifest
    (``training``: ``max_epochs`` or else ``epochs_run``, ``learning_rate``, and for the
    pretrained network ``frozen_blocks``). Keys the manifest lacks are left out, so ml.train
    uses its own default."""
    training = (model.card or {}).get("training") or {}
    recipe = {}
    epochs = training.get("max_epochs") or training.get("epochs_run")
    if epochs:
        recipe["epochs"] = int(epochs)
    if training.get("learning_rate"):
        recipe["learning_rate"] = float(training["learning_rate"])
    if training.get("frozen_blocks") is not None:
        recipe["frozen_blocks"] = int(training["frozen_blocks"])
    return recipe


def models_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("parent", "replaces").prefetch_related(
        "training_exports"
    )


def model_detail(*, public_id) -> ModelVersion:
    return models_list().get(public_id=public_id)


def training_jobs() -> QuerySet[TrainingJob]:
    return TrainingJob.objects.select_related("created_by", "init_from", "candidate")


def comparisons() -> QuerySet[Comparison]:
    return Comparison.objects.select_related("candidate", "baseline", "export", "created_by")


def rescore_jobs() -> QuerySet[RescoreJob]:
    return RescoreJob.objects.select_related("model", "created_by")


def rescore_done(*, job: RescoreJob) -> int:
    """Predictions of the job's version made since it started, at most its total (new
    uploads predicted meanwhile count too: it is a progress figure, not an audit)."""
    if job.total == 0:
        return 0
    made = Prediction.objects.filter(
        model_version=job.model.version, created_at__gte=job.created_at
    ).count()
    return min(made, job.total)
