"""Model versions, and the jobs around them: training, comparison, re-scoring."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from tumorapp.core.jobs import Job, JobStatus
from tumorapp.datasets.models import DatasetExport

__all__ = [
    "Comparison",
    "JobStatus",
    "ModelVersion",
    "RescoreJob",
    "SiteOperatingPoint",
    "TrainingJob",
]


class ModelVersion(models.Model):
    """One model folder known to the site. Exactly one is active (a partial unique index):
    the workers predict new scans with it. ``replaces`` is the version that was active when
    this one was promoted, which a rollback brings back."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.CharField(max_length=64, unique=True)
    path = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The model folder's manifest (the card: training settings, validation figures).
    card = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, blank=True)
    fingerprint = models.JSONField(default=dict, blank=True)
    # What it was trained on: the exports (by version id) and any other data folders.
    training_exports = models.ManyToManyField(DatasetExport, blank=True, related_name="models")
    training_data = models.JSONField(default=list, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="one_active_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.status})"

    @property
    def validation_basis(self) -> str:
        """What the validation figures (``metrics``) were measured on, in words."""
        return validation_basis(
            self.card or {}, self.metrics or {}, has_parent=bool(self.parent_id)
        )


def _source_name(source: str) -> str:
    """``export:export-<12 hex>`` (a training job's unpacked export) as "export <12 hex>"."""
    if source.startswith("export:"):
        return "export " + source.removeprefix("export:").removeprefix("export-")
    return source


def validation_basis(card: dict, metrics: dict, *, has_parent: bool) -> str:
    """ "validation split of <sources, images each>, n=N; <the parent's training images>".

    The sources come from the manifest's ``training.split_counts["val"]`` (source -> class ->
    images for the pretrained recipe; class -> images for the older CNN, one folder); the
    parent's images from ``parent_training_images`` (rows kept out of validation and test).
    """
    if not metrics.get("n"):
        return "no validation figures in the manifest"
    val = ((card.get("training") or {}).get("split_counts") or {}).get("val") or {}
    if val and all(isinstance(v, dict) for v in val.values()):
        sources = ", ".join(
            f"{_source_name(src)} {sum(labels.values())}" for src, labels in sorted(val.items())
        )
    else:
        data = (card.get("training") or {}).get("data") or []
        sources = ", ".join(str(d).rstrip("/").rsplit("/", 1)[-1] for d in data) or "its data"
    text = f"validation split of {sources}; n={metrics['n']}"
    seen = card.get("parent_training_images")
    if seen:
        kept = seen.get("rows_kept_out_of_validation_and_test", 0)
        text += (
            f"; the parent's training images excluded ({kept} of these data's images kept "
            "out by hash, near-duplicate and patient)"
        )
    elif has_parent or (card.get("training") or {}).get("init_from"):
        text += "; the parent's training images were not checked (an older manifest)"
    return text


class TrainingJob(Job):
    """A retraining run on the worker: ``python -m ml.train`` on exports and the base data
    (replay; left out only with a written reason), fine-tuned from a registered version (the
    active one unless another is chosen) or, when asked explicitly, from scratch. The recipe
    (epochs, learning rate, frozen blocks) comes from the parent's manifest. A job row
    (tumorapp.core.jobs)."""

    task_name = "registry.train"
    claim_related = ("init_from",)

    class Phase(models.TextChoices):
        QUEUED = "", "Waiting"
        READING = "reading", "Reading the data"
        TRAINING = "training", "Training"
        CALIBRATING = "calibrating", "Calibrating (temperature and threshold)"
        OOD_GUARD = "ood_guard", "Fitting the OOD guard"
        REGISTERING = "registering", "Registering the candidate"
        DONE = "done", "Done"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    exports = models.ManyToManyField(DatasetExport, related_name="training_jobs")
    include_base = models.BooleanField(default=True)
    # Why the base data was left out (required then: training on the export alone forgets).
    base_excluded_reason = models.TextField(blank=True)
    init_from = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The recipe; empty means ml.train's own default (training from scratch).
    epochs = models.PositiveSmallIntegerField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    frozen_blocks = models.PositiveSmallIntegerField(null=True, blank=True)
    version = models.CharField(max_length=64)
    command = models.JSONField(default=list, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=16, choices=Phase.choices, blank=True)
    # Seconds per phase: ml.train's own figures when it reports them, else as observed.
    phase_seconds = models.JSONField(default=dict, blank=True)
    log_tail = models.TextField(blank=True)
    candidate = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(Job.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Training {self.version} ({self.status})"


class Comparison(Job):
    """A candidate and a baseline (the active version) evaluated side by side on held-out
    reviewed cases (an export's test split) and, optionally, the base data's Testing split.
    A job row (tumorapp.core.jobs)."""

    task_name = "registry.compare"
    claim_related = ("candidate", "baseline", "export")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    baseline = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    export = models.ForeignKey(
        DatasetExport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    include_base_testing = models.BooleanField(default=False)
    progress = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Comparison {self.candidate_id} vs {self.baseline_id} ({self.status})"


class RescoreJob(Job):
    """Re-predict the cases still waiting for a first read with a (newly promoted) version;
    the old predictions stay, the case follows the newest. A job row (tumorapp.core.jobs)."""

    task_name = "registry.rescore"
    claim_related = ("model",)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    model = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)

    class Meta(Job.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Rescore with {self.model_id} ({self.status})"


class SiteOperatingPoint(models.Model):
    """A tumour threshold this site fitted on its own reviewed cases for one model version,
    for a target sensitivity. Each application is a new row (the history stays); the newest
    row of a version is the threshold in force (``selectors.effective_threshold``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    model = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="operating_points"
    )
    threshold = models.FloatField()
    # 95 % bootstrap interval of the fitted threshold: [low, high].
    threshold_ci95 = models.JSONField(default=list)
    target_sensitivity = models.FloatField()
    # What it was fitted on: reviewed cases predicted by this version, and the figures there.
    n_cases = models.PositiveIntegerField()
    n_tumours = models.PositiveIntegerField()
    sensitivity = models.FloatField()
    false_alarm_rate = models.FloatField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.model_id}: threshold {self.threshold:.3f}"
