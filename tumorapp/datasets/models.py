"""Versioned, immutable dataset exports of reviewed cases (the data team's training data)."""

import uuid

from django.conf import settings
from django.db import models

from tumorapp.core.jobs import Job, JobStatus
from tumorapp.scans.models import Scan


class DatasetExport(Job):
    """A job row (tumorapp.core.jobs) and, once it succeeded, an immutable zip: ImageFolder
    images, a manifest (CSV and JSONL) and a dataset card. ``version_id`` hashes the sorted
    (sha256, label) list, so two exports of the same images with the same labels share it."""

    Status = JobStatus
    task_name = "datasets.build_export"

    class Correction(models.TextChoices):
        ANY = "any", "All reviewed cases"
        CORRECTED = "corrected", "Only cases where the final label differs from the AI"
        CONFIRMED = "confirmed", "Only cases where the final label equals the AI"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The choice of cases (empty lists: every resolution / every class).
    reviewed_from = models.DateField(null=True, blank=True)
    reviewed_to = models.DateField(null=True, blank=True)
    resolutions = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=list, blank=True)
    correction = models.CharField(max_length=16, choices=Correction.choices, default="any")
    # Data hygiene: cases answered "unreadable / not a brain MRI" and cases a reader marked
    # poor image quality are left out unless asked for (``selectors.cases_for_export``).
    include_unreadable = models.BooleanField(default=False)
    include_poor_quality = models.BooleanField(default=False)
    # Progress and outcome.
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    version_id = models.CharField(max_length=64, blank=True, db_index=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    changes = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    card = models.TextField(blank=True)
    file = models.FileField(max_length=200, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)

    class Meta(Job.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export {self.short_version or self.public_id} ({self.status})"

    @property
    def short_version(self) -> str:
        return self.version_id[:12]

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class ExportItem(models.Model):
    """One image of an export: what the zip holds, kept to diff exports and to find the
    held-out cases of a comparison without unpacking the zip."""

    export = models.ForeignKey(DatasetExport, on_delete=models.CASCADE, related_name="items")
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="+")
    image_sha256 = models.CharField(max_length=64)
    label = models.CharField(max_length=16)
    split = models.CharField(max_length=8)

    class Meta:
        indexes = [models.Index(fields=["export", "split"])]
        constraints = [
            models.UniqueConstraint(fields=["export", "scan"], name="one_item_per_export_and_scan")
        ]

    def __str__(self) -> str:
        return f"{self.split}/{self.label}/{self.image_sha256[:12]}"


class SplitGroup(models.Model):
    """The split group of a scan, fixed the first time the scan is exported so every later
    export puts it in the same split: its patient (DICOM), else its near-duplicate cluster
    (the first earlier scan whose perceptual hash is within a few bits, or itself)."""

    scan = models.OneToOneField(Scan, on_delete=models.CASCADE, related_name="split_group")
    phash = models.BigIntegerField()
    group_key = models.CharField(max_length=80)

    def __str__(self) -> str:
        return self.group_key
