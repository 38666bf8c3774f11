"""What the DICOM receiver records: each association, each received instance and its fate,
and each received study's quiet-period clock. None of it holds an original identifier: the
SOP Instance UID is kept only as a keyed hash (the clinical link, tumorapp.clinical, holds
the originals, encrypted)."""

import uuid

from django.db import models
from django.db.models import Q

from tumorapp.scans.models import Scan, Study


class DicomAssociation(models.Model):
    """One association a peer asked for: accepted (then released or aborted) or refused."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RELEASED = "released", "Released"
        ABORTED = "aborted", "Aborted"
        REJECTED = "rejected", "Rejected"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    calling_ae_title = models.CharField(max_length=16, blank=True)
    called_ae_title = models.CharField(max_length=16, blank=True)
    peer_address = models.CharField(max_length=64)
    peer_port = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # Why it was rejected (unknown calling AE title, address not allowed, too many at once).
    reason = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Association {self.calling_ae_title or '?'}@{self.peer_address} ({self.status})"


class ReceivedStudy(models.Model):
    """A study arriving over DICOM. It becomes a case when no instance of it has arrived for
    the quiet period (``DICOM_STUDY_QUIET_SECONDS``): then its held slices are predicted
    (``services.received_studies_finalise``). An instance arriving later holds it again."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="received")
    first_instance_at = models.DateTimeField()
    last_instance_at = models.DateTimeField(db_index=True)
    # Instances arrived since it was last finalised (set under the row's lock by each stored
    # instance, cleared by the finaliser under the same lock: no clock comparison, so an
    # instance racing a finalisation is never left held).
    receiving = models.BooleanField(default=True, db_index=True)
    # The last time its held slices were sent to the model; None until the first quiet period.
    finalised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_instance_at"]
        verbose_name_plural = "received studies"

    def __str__(self) -> str:
        return f"Received study {self.public_id}"

    @property
    def is_receiving(self) -> bool:
        """Within its quiet period: instances may follow, no case yet for the latest ones."""
        return self.receiving


class ReceivedInstance(models.Model):
    """One C-STORE request and what became of it."""

    class Status(models.TextChoices):
        STORED = "stored", "Stored"
        QUARANTINED = "quarantined", "Stored in quarantine"
        DUPLICATE = "duplicate", "Already stored (acknowledged)"
        REFUSED = "refused", "Refused"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    association = models.ForeignKey(
        DicomAssociation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="instances",
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    # A stable code (sop_class_not_accepted, too_large, corrupt, ...) and a sentence for people.
    reason_code = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    # Keyed hash of the SOP Instance UID (never the UID itself): an instance is stored once.
    sop_key = models.CharField(max_length=64, blank=True, db_index=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    scan = models.ForeignKey(
        Scan, null=True, blank=True, on_delete=models.SET_NULL, related_name="received_as"
    )
    received_study = models.ForeignKey(
        ReceivedStudy,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="instances",
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # The exactly-once guarantee: a second copy of an instance can only be recorded
            # as a duplicate (or a refusal), never stored again, however the two race.
            models.UniqueConstraint(
                fields=["sop_key"],
                condition=Q(status__in=["stored", "quarantined"]),
                name="received_instance_stored_once",
            )
        ]

    def __str__(self) -> str:
        return f"Received instance {self.public_id} ({self.status})"


class ReceiverHeartbeat(models.Model):
    """The running receiver says it is alive (every few seconds, from its finaliser loop):
    what /health/ and the DICOM traffic page report as the receiver's state."""

    node = models.CharField(max_length=120, unique=True)  # "AE@bind:port"
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Receiver {self.node}"
