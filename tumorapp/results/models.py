"""Results sent back into the patient's study: one job row per DICOM SR."""

from __future__ import annotations

import uuid

from django.db import models

from reviews.models import Case, Review
from tumorapp.core.jobs import Job, JobStatus


class ResultSend(Job):
    """One SR for one report of a case (the report, or an amendment), sent to the PACS.

    The SR's SOP Instance UID, its series and instance number and what it says are fixed
    when the row is made, before the first attempt: every retry sends the same instance with
    the same content, which the PACS stores once. An amendment is a new row (a new UID) that
    supersedes the case's previous one; a row is never re-used for a different content.
    """

    class Kind(models.TextChoices):
        REPORT = "report", "Report"
        AMENDMENT = "amendment", "Amendment"

    task_name = "results.send"
    lease_setting = "RESULTS_SEND_LEASE_SECONDS"
    attempts_setting = "RESULTS_SEND_MAX_ATTEMPTS"
    claim_related = ("case",)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="result_sends")
    # The read that reported or amended the case (None for a consensus confirmed elsewhere).
    review = models.ForeignKey(
        Review, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    series_instance_uid = models.CharField(max_length=64)
    instance_number = models.PositiveIntegerField()
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    # What the SR says, as it was when the case was reported (or amended).
    ai_class = models.CharField(max_length=32)
    p_tumour = models.FloatField()
    final_class = models.CharField(max_length=32)
    resolution = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=100)
    # Where it went ("AE@host:port"), when the PACS confirmed it.
    destination = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta(Job.Meta):
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "instance_number"], name="one_result_per_case_and_number"
            )
        ]

    def __str__(self) -> str:
        return f"Result {self.kind} of case {self.case.public_id} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)
