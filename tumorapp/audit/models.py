import uuid

from django.conf import settings
from django.db import models


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or remove an audit event."""


class Action(models.TextChoices):
    LOGIN = "auth.login", "Logged in"
    LOGOUT = "auth.logout", "Logged out"
    LOGIN_FAILED = "auth.login_failed", "Failed login"
    LOCKED_OUT = "auth.locked_out", "Locked out"
    PASSWORD_CHANGED = "auth.password_changed", "Changed password"
    USER_CREATED = "user.created", "Created user"
    USER_CHANGED = "user.changed", "Changed user"
    USER_ROLE_CHANGED = "user.role_changed", "Changed role"
    USER_DEACTIVATED = "user.deactivated", "Deactivated user"
    USER_ACTIVATED = "user.activated", "Activated user"
    USER_PASSWORD_RESET = "user.password_reset", "Forced password reset"
    SESSION_EXPIRED = "auth.session_expired", "Session expired (idle)"
    SCAN_UPLOADED = "scan.uploaded", "Uploaded scan"
    SCAN_COLOUR_CONFIRMED = "scan.colour_confirmed", "Confirmed a colour image for reading"
    SCAN_VIEWED = "scan.viewed", "Viewed scan"
    SCAN_IMAGE_VIEWED = "scan.image_viewed", "Viewed scan image"
    SCAN_HEATMAP_VIEWED = "scan.heatmap_viewed", "Viewed heat map"
    PREDICTION_MADE = "prediction.made", "Model predicted"
    PREDICTION_FAILED = "prediction.failed", "Prediction failed"
    PREDICTION_SHOWN = "prediction.shown", "Prediction shown"
    REVIEW_SUBMITTED = "review.submitted", "Submitted review"
    SECOND_READ_SUBMITTED = "review.second_read_submitted", "Submitted second read"
    ADJUDICATED = "review.adjudicated", "Adjudicated case"
    CONSENSUS_PROPOSED = "review.consensus_proposed", "Proposed a consensus answer"
    CONSENSUS_REACHED = "review.consensus", "Confirmed a consensus answer"
    ADJUDICATION_STALLED = "review.adjudication_stalled", "Adjudication waits with nobody eligible"
    CASE_CLAIMED = "case.claimed", "Claimed case"
    CASE_RELEASED = "case.released", "Released case"
    CASE_SKIPPED = "case.skipped", "Skipped a case"
    CASE_AMENDED = "case.amended", "Amended a reported case"
    CASE_ASSIGNED = "case.assigned", "Assigned a case to a reader"
    AUDIT_EXPORTED = "audit.exported", "Exported audit log"
    SITE_OPTIONS_CHANGED = "site.options_changed", "Changed site options"
    SCAN_RELEASED = "scan.released", "Released scan from quarantine"
    SCAN_REJECTED = "scan.rejected", "Rejected quarantined scan"
    SCAN_EXPORTED = "scan.exported", "Downloaded de-identified DICOM"
    QUALITY_ALERT_RAISED = "quality.alert_raised", "Quality alert raised"
    QUALITY_ALERT_CLEARED = "quality.alert_cleared", "Quality alert cleared"
    DATASET_EXPORT_STARTED = "dataset.export_started", "Started dataset export"
    DATASET_EXPORTED = "dataset.exported", "Dataset exported"
    DATASET_DOWNLOADED = "dataset.downloaded", "Downloaded dataset"
    DATASET_CHANGES_DOWNLOADED = "dataset.changes_downloaded", "Downloaded dataset changes"
    MODEL_REGISTERED = "model.registered", "Registered model version"
    MODEL_PROMOTED = "model.promoted", "Promoted model version"
    MODEL_ROLLED_BACK = "model.rolled_back", "Rolled back model version"
    TRAINING_STARTED = "model.training_started", "Started training"
    TRAINING_FINISHED = "model.training_finished", "Training finished"
    COMPARISON_STARTED = "model.comparison_started", "Started model comparison"
    RESCORE_STARTED = "model.rescore_started", "Started re-scoring"
    OPERATING_POINT_APPLIED = "model.operating_point_applied", "Applied a site operating point"
    STORAGE_SWEPT = "storage.swept", "Deleted orphaned stored files"
    CLINICAL_LINK_VIEWED = "clinical.viewed", "Viewed patient identifiers (clinical link)"
    DICOM_STUDY_COMPLETE = "dicom.study_complete", "Received DICOM study complete"
    RESULT_SEND_RETRIED = "result.send_retried", "Sent a failed result to the PACS again"


class AuditEventQuerySet(models.QuerySet):
    """Django's bulk paths would skip the chain (inserts) or rewrite history (updates and
    deletes); all of them are refused here, and the database trigger refuses them again for
    anything that bypasses the ORM."""

    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")

    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError("audit events are written one by one through audit_record")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")


class AuditEvent(models.Model):
    """One thing that happened. Rows are only ever inserted (see audit_record).

    ``hash`` covers this event's fields and ``prev_hash``, so editing or deleting any row
    breaks the chain from that row on (audit_verify names the first broken event).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # Users are deactivated, never deleted: deleting one would have to rewrite its events.
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["actor_name", "created_at"]),
            models.Index(fields=["target_type", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")

    @property
    def action_label(self) -> str:
        try:
            return Action(self.action).label
        except ValueError:
            return self.action
