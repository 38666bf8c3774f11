"""Daily roll-ups of the quality figures, the refresh job rows, and alert episodes."""

import uuid

from django.db import models


class DailyCounts(models.Model):
    """Additive counts (tumorapp.quality.metrics) of one local day and one model version.

    Rewritten whole by each refresh of that day; the dashboard sums the rows of a range.
    """

    day = models.DateField()
    model_version = models.CharField(max_length=64)
    counts = models.JSONField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "model_version"]
        constraints = [
            models.UniqueConstraint(fields=["day", "model_version"], name="one_count_per_day")
        ]

    def __str__(self) -> str:
        return f"Quality counts {self.day} {self.model_version}"


class Refresh(models.Model):
    """One run of quality_refresh: which days it rewrote and when it finished."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    first_day = models.DateField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"Quality refresh {self.finished_at:%Y-%m-%d %H:%M}"


class Alert(models.Model):
    """One alert episode: opened when a check first fails, closed when it passes again.

    At most one open episode per (kind, model version), so a failing check raises (and
    audits) once, however often it is evaluated or the dashboard is viewed.
    """

    class Kind(models.TextChoices):
        SENSITIVITY = "sensitivity", "Sensitivity below the model card"
        DRIFT = "drift", "Input drift"
        AUTOMATION_BIAS = "automation_bias", "Readers switching to the AI"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    model_version = models.CharField(max_length=64)
    message = models.TextField()
    details = models.JSONField(default=dict)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "model_version"],
                condition=models.Q(closed_at__isnull=True),
                name="one_open_alert_per_kind_and_model",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.model_version})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
