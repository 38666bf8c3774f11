import uuid

from django.db import models

from tumorapp.core.jobs import Job, JobStatus
from tumorapp.scans.models import Scan


class InferenceRun(Job):
    """A job row (tumorapp.core.jobs): the attempt history of predicting one scan with one
    model version. Its lease and attempts are INFERENCE_LEASE_SECONDS and
    INFERENCE_MAX_ATTEMPTS; it was queued at ``queued_at``."""

    Status = JobStatus
    task_name = "inference.predict_run"
    lease_setting = "INFERENCE_LEASE_SECONDS"
    attempts_setting = "INFERENCE_MAX_ATTEMPTS"
    claim_related = ("scan",)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="runs")
    model_version = models.CharField(max_length=64, blank=True)
    created_at = None
    queued_at = models.DateTimeField(auto_now_add=True)
    timings = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        ordering = ["-queued_at"]

    def __str__(self) -> str:
        return f"InferenceRun {self.public_id} ({self.status})"


class Prediction(models.Model):
    """The model's opinion on one scan: at most one per scan and model version."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="predictions")
    run = models.OneToOneField(InferenceRun, on_delete=models.PROTECT, related_name="prediction")
    model_version = models.CharField(max_length=64)
    # The AI's answer (ml's ``Prediction.answer``): the most likely tumour class when a
    # tumour is suspected, else no tumour; never "no tumour" on a flagged scan.
    label = models.CharField(max_length=16)
    probabilities = models.JSONField()
    p_tumor = models.FloatField(db_index=True)
    tumor_suspected = models.BooleanField()
    ood = models.BooleanField()
    ood_score = models.FloatField(null=True, blank=True)
    ood_reasons = models.JSONField(default=list, blank=True)
    heatmap = models.FileField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "model_version"], name="one_prediction_per_scan_and_model"
            )
        ]

    def __str__(self) -> str:
        return f"Prediction {self.label} p_tumor={self.p_tumor:.2f} ({self.model_version})"
