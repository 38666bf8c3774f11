import uuid

from django.conf import settings
from django.db import models


class Scan(models.Model):
    """One uploaded slice, stored once under its content hash (no user text in the key)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the model"
        PREDICTED = "predicted", "Predicted"
        FAILED = "failed", "Prediction failed"
        QUARANTINED = "quarantined", "Quarantined"

    class Format(models.TextChoices):
        PNG = "png", "PNG"
        JPEG = "jpeg", "JPEG"
        DICOM = "dicom", "DICOM"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="uploads"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    original_filename = models.CharField(max_length=255, blank=True)
    source_format = models.CharField(max_length=8, choices=Format.choices)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.PositiveBigIntegerField()
    image = models.FileField(max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # Intensity statistics of the stored greyscale image, kept for drift monitoring.
    intensity_mean = models.FloatField()
    intensity_std = models.FloatField()
    intensity_p01 = models.FloatField()
    intensity_p99 = models.FloatField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    status_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        indexes = [models.Index(fields=["uploaded_by", "-uploaded_at"])]

    def __str__(self) -> str:
        return f"Scan {self.public_id}"
