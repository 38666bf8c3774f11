"""Reads for the model registry."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from reviews.labels import UNREADABLE, is_tumour
from reviews.models import Case
from tumorapp.inference.models import Prediction
from tumorapp.registry.models import (
    Comparison,
    ModelVersion,
    RescoreJob,
    SiteOperatingPoint,
    TrainingJob,
)


def active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def _version_name(model_version: ModelVersion | str) -> str:
    return model_version.version if isinstance(model_version, ModelVersion) else str(model_version)


def site_operating_point(model_version: ModelVersion | str) -> SiteOperatingPoint | None:
    """The operating point this site applied to the version, the newest one; None if none."""
    return (
        SiteOperatingPoint.objects.filter(model__version=_version_name(model_version))
        .select_related("applied_by")
        .first()
    )


def _with_site_threshold() -> QuerySet[ModelVersion]:
    newest = SiteOperatingPoint.objects.filter(model=OuterRef("pk")).order_by("-created_at", "-pk")
    return ModelVersion.objects.annotate(site_threshold=Subquery(newest.values("threshold")[:1]))


def threshold_in_force(model_version: ModelVersion | str) -> tuple[float | None, str]:
    """The tumour threshold in force for a version and where it comes from (one query):
    ``"site"``, the site's newest operating point; ``"model"``, the model's own (its
    manifest's); ``(None, "")`` for a version the registry does not know."""
    model = _with_site_threshold().filter(version=_version_name(model_version)).only("card")
    model = model.first()
    if model is None:
        return None, ""
    if model.site_threshold is not None:
        return float(model.site_threshold), "site"
    threshold = (model.card or {}).get("threshold")
    return (None if threshold is None else float(threshold)), "model"


def effective_threshold(model_version: ModelVersion | str) -> float | None:
    """The tumour threshold in force for a version (``threshold_in_force``). Every "tumour
    suspected" of a new prediction is decided with it."""
    return threshold_in_force(model_version)[0]


def operating_point(version: str) -> dict | None:
    """The tumour threshold in force for a registered version (``effective_threshold``) with
    what its figures were measured on: the model's validation images, or, for a site
    operating point, the site's reviewed cases. None for a version the registry does not
    know."""
    model = ModelVersion.objects.filter(version=version).only("metrics", "card").first()
    if model is None:
        return None
    point = site_operating_point(model)
    if point is not None:
        return {
            "threshold": point.threshold,
            "source": "site",
            "applied_at": point.created_at,
            "target_sensitivity": point.target_sensitivity,
            "site_sensitivity": point.sensitivity,
            "site_false_alarm_rate": point.false_alarm_rate,
            # The validation figures describe the model's own threshold, not this one.
            "sensitivity": None,
            "specificity": None,
        }
    tumour = (model.metrics or {}).get("tumour") or {}
    threshold = tumour.get("threshold", (model.card or {}).get("threshold"))
    if threshold is None:
        return None
    return {
        "threshold": threshold,
        "source": "model",
        "sensitivity": tumour.get("sensitivity"),
        "specificity": tumour.get("specificity"),
    }


def reviewed_scores(model: ModelVersion) -> tuple[list[float], list[bool]]:
    """P(tumour) by ``model`` and "tumour" in the final answer, for every reported case
    whose (key) slice ``model`` predicted."""
    rows = Prediction.objects.filter(
        model_version=model.version, scan__case__status=Case.Status.DONE
    ).exclude(scan__case__final_label__in=("", UNREADABLE))
    pairs = list(rows.values_list("p_tumor", "scan__case__final_label"))
    return [float(p) for p, _ in pairs], [is_tumour(label) for _, label in pairs]


#: Fewer reviewed tumours or normals than this and a fitted threshold means little.
OPERATING_POINT_MIN_CASES = 5


def operating_point_proposal(*, model: ModelVersion, target: float) -> dict:
    """The tumour threshold for ``target`` sensitivity on the site's reviewed cases, its
    bootstrap interval, and what it means there: sensitivity and the false-alarm rate
    (share of normal cases flagged), each with its Wilson interval, next to the threshold
    in force. ``error`` says why there is no proposal."""
    import numpy as np

    from tumorapp.registry import stats

    p_tumor, positive = reviewed_scores(model)
    tumours = sum(positive)
    normals = len(positive) - tumours
    current = effective_threshold(model)
    result: dict = {
        "target": target,
        "n": len(positive),
        "tumours": tumours,
        "normals": normals,
        "current_threshold": current,
    }
    if min(tumours, normals) < OPERATING_POINT_MIN_CASES:
        result["error"] = (
            f"Too few reviewed cases predicted by {model.version}: {tumours} tumours and "
            f"{normals} normal cases (at least {OPERATING_POINT_MIN_CASES} of each)."
        )
        return result
    scores, truth = np.array(p_tumor), np.array(positive)

    def at(threshold: float) -> dict:
        flagged = scores >= threshold
        return {
            "sensitivity": stats.proportion(int(np.sum(flagged & truth)), tumours),
            "false_alarm_rate": stats.proportion(int(np.sum(flagged & ~truth)), normals),
            "flagged_share": float(np.mean(flagged)),
        }

    threshold = stats.fit_threshold(scores, truth, target)
    result.update(
        threshold=threshold,
        threshold_ci95=stats.threshold_interval(scores, truth, target),
        at_threshold=at(threshold),
        at_current=at(current) if current is not None else None,
    )
    return result


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
    """Versions with ``site_threshold``: the site's operating point in force, if any."""
    return (
        _with_site_threshold()
        .select_related("parent", "replaces")
        .prefetch_related("training_exports")
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
