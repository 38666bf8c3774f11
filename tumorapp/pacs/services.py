"""What the DICOM receiver does with each association and instance (the network side is
tumorapp.pacs.receiver; everything that writes is here).

An instance goes through the upload path (tumorapp.scans.services.scan_upload: safe parse,
burned-in quarantine, de-identification) exactly once:

1. Refuse what is too large or not an MR image (MR, Enhanced MR) with a reason.
2. In one transaction: claim the instance's keyed SOP Instance UID with a row whose
   uniqueness the database enforces (a second copy, however it races, can only become a
   duplicate, acknowledged with success and not stored); store its slices held (no
   prediction yet); record the received study's clock and the clinical link.
3. Only after the commit is the sender told "success": a receiver killed before that
   stored nothing the sender will not send again, and one killed after it acknowledged
   nothing it has not kept.

A received study is predicted (and so becomes a case, the way uploads of a study do) once
no instance of it has arrived for ``DICOM_STUDY_QUIET_SECONDS``: received_studies_finalise.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from datetime import timedelta

import pydicom
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from pydicom.uid import UID

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_chain_lock, audit_record
from tumorapp.clinical.services import clinical_link_record
from tumorapp.pacs.models import (
    DicomAssociation,
    ReceivedInstance,
    ReceivedStudy,
    ReceiverHeartbeat,
)
from tumorapp.scans.deid import keyed_hash
from tumorapp.scans.models import Scan
from tumorapp.scans.services import STORE_FAILED, UploadOutcome, scan_upload, scans_release_held

logger = logging.getLogger(__name__)

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
#: The SOP classes the receiver stores; any other is refused with a reason.
ACCEPTED_SOP_CLASSES = (MR_IMAGE_STORAGE, ENHANCED_MR_IMAGE_STORAGE)
RECEIVER_USERNAME = "dicom-receiver"

# C-STORE response statuses (PS3.4 GG.4)
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # try again later: nothing was kept
SOP_CLASS_NOT_SUPPORTED = 0x0122
CANNOT_UNDERSTAND = 0xC000


@dataclass(frozen=True)
class Received:
    """The answer to the sender and the row that records it."""

    status: int
    record: ReceivedInstance | None


def receiver_user():
    """The account the receiver stores scans as: no role, no password, never signs in."""
    user, created = get_user_model().objects.get_or_create(
        username=RECEIVER_USERNAME,
        defaults={"is_active": False, "first_name": "DICOM", "last_name": "receiver"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def association_open(
    *, calling_ae_title: str, called_ae_title: str, address: str, port: int | None
) -> DicomAssociation:
    return DicomAssociation.objects.create(
        calling_ae_title=calling_ae_title.strip()[:16],
        called_ae_title=called_ae_title.strip()[:16],
        peer_address=address[:64],
        peer_port=port,
    )


def association_reject(
    *, calling_ae_title: str, called_ae_title: str, address: str, port: int | None, reason: str
) -> DicomAssociation:
    now = timezone.now()
    return DicomAssociation.objects.create(
        calling_ae_title=calling_ae_title.strip()[:16],
        called_ae_title=called_ae_title.strip()[:16],
        peer_address=address[:64],
        peer_port=port,
        status=DicomAssociation.Status.REJECTED,
        reason=reason,
        ended_at=now,
    )


def association_close(*, association_id: int, aborted: bool) -> None:
    status = DicomAssociation.Status.ABORTED if aborted else DicomAssociation.Status.RELEASED
    DicomAssociation.objects.filter(pk=association_id, status=DicomAssociation.Status.OPEN).update(
        status=status, ended_at=timezone.now()
    )


def sop_key(sop_instance_uid: str) -> str:
    return keyed_hash(settings.DEID_SECRET.encode(), "sop", sop_instance_uid.strip()).hex()


def _refuse(
    *, association_id, code: str, reason: str, sop_class: str, key: str, size: int, status: int
) -> Received:
    record = ReceivedInstance.objects.create(
        association_id=association_id,
        status=ReceivedInstance.Status.REFUSED,
        reason_code=code,
        reason=reason,
        sop_class_uid=sop_class[:64],
        sop_key=key,
        size_bytes=size,
    )
    logger.info("DICOM instance refused (%s) on association %s", code, association_id)
    return Received(status, record)


def _sop_class_name(uid: str) -> str:
    name = UID(uid).name if uid else ""
    return name if name and name != uid else "an unknown SOP class"


def instance_receive(
    *, association_id: int | None, sop_class_uid: str, sop_instance_uid: str, data: bytes
) -> Received:
    """Store one received instance (a DICOM Part 10 byte string) or refuse it; the returned
    status is the C-STORE response (see the module docstring)."""
    size = len(data)
    key = sop_key(sop_instance_uid) if sop_instance_uid else ""
    refuse = {"association_id": association_id, "sop_class": sop_class_uid, "key": key}
    if size > settings.DICOM_RECEIVER_MAX_INSTANCE_BYTES:
        return _refuse(
            **refuse,
            size=size,
            code="too_large",
            status=OUT_OF_RESOURCES,
            reason=f"The instance is {size:,} bytes; at most "
            f"{settings.DICOM_RECEIVER_MAX_INSTANCE_BYTES:,} are accepted.",
        )
    if sop_class_uid not in ACCEPTED_SOP_CLASSES:
        return _refuse(
            **refuse,
            size=size,
            code="sop_class_not_accepted",
            status=SOP_CLASS_NOT_SUPPORTED,
            reason=f"{_sop_class_name(sop_class_uid)} ({sop_class_uid or 'none given'}) is not "
            "read here: only MR Image Storage and Enhanced MR Image Storage are accepted.",
        )
    if not key:
        return _refuse(
            **refuse,
            size=size,
            code="no_sop_instance_uid",
            status=CANNOT_UNDERSTAND,
            reason="The request names no SOP Instance UID.",
        )
    try:
        return _store(association_id=association_id, key=key, data=data, sop_class=sop_class_uid)
    except _StoreFailed:
        return _refuse(
            **refuse,
            size=size,
            code="store_failed",
            status=OUT_OF_RESOURCES,
            reason=STORE_FAILED.message,
        )


class _StoreFailed(Exception):
    """Storage or the database failed: roll everything back, the sender tries again."""


def _duplicate(*, association_id, key: str, sop_class: str, size: int) -> Received:
    first = (
        ReceivedInstance.objects.filter(
            sop_key=key,
            status__in=[ReceivedInstance.Status.STORED, ReceivedInstance.Status.QUARANTINED],
        )
        .only("scan_id", "received_study_id")
        .first()
    )
    record = ReceivedInstance.objects.create(
        association_id=association_id,
        status=ReceivedInstance.Status.DUPLICATE,
        reason_code="duplicate",
        reason="This instance was stored before; acknowledged and not stored again.",
        sop_class_uid=sop_class,
        sop_key=key,
        size_bytes=size,
        scan_id=first.scan_id if first else None,
        received_study_id=first.received_study_id if first else None,
    )
    return Received(SUCCESS, record)


def _store(*, association_id, key: str, data: bytes, sop_class: str) -> Received:
    size = len(data)
    stored = [ReceivedInstance.Status.STORED, ReceivedInstance.Status.QUARANTINED]
    with transaction.atomic():
        if ReceivedInstance.objects.filter(sop_key=key, status__in=stored).exists():
            return _duplicate(
                association_id=association_id, key=key, sop_class=sop_class, size=size
            )
        try:
            with transaction.atomic():
                record = ReceivedInstance.objects.create(
                    association_id=association_id,
                    status=ReceivedInstance.Status.STORED,
                    sop_class_uid=sop_class,
                    sop_key=key,
                    size_bytes=size,
                )
        except IntegrityError:
            # Another association stored the same instance while we checked.
            return _duplicate(
                association_id=association_id, key=key, sop_class=sop_class, size=size
            )
        outcome = scan_upload(uploaded_by=receiver_user(), filename="", data=data, hold=True)
        if outcome.status == UploadOutcome.REJECTED:
            if outcome.error.code == STORE_FAILED.code:
                raise _StoreFailed
            record.status = ReceivedInstance.Status.REFUSED
            record.reason_code = outcome.error.code[:32]
            record.reason = outcome.error.message
            record.save(update_fields=["status", "reason_code", "reason"])
            logger.info(
                "DICOM instance refused (%s) on association %s", outcome.error.code, association_id
            )
            return Received(CANNOT_UNDERSTAND, record)
        if outcome.status == UploadOutcome.DUPLICATE:
            # The same file was uploaded through the web page before: nothing new stored.
            record.status = ReceivedInstance.Status.DUPLICATE
            record.reason_code = "duplicate"
            record.reason = "The same file was uploaded before; acknowledged, not stored again."
            record.save(update_fields=["status", "reason_code", "reason"])
            return Received(SUCCESS, record)
        _record_stored(record=record, scan=outcome.scan, data=data)
        return Received(SUCCESS, record)


def _record_stored(*, record: ReceivedInstance, scan: Scan, data: bytes) -> None:
    """Link the row to its slices, start or restart its study's quiet period, and keep the
    clinical link."""
    study = scan.series.study
    received, made = ReceivedStudy.objects.select_for_update().get_or_create(
        study=study,
        defaults={"first_instance_at": timezone.now(), "last_instance_at": timezone.now()},
    )
    if not made:
        # Under the row's lock: a finaliser that ran meanwhile has committed, so this
        # instance's slices (committed with this row) are released by the next one.
        received.last_instance_at = timezone.now()
        received.receiving = True
        received.save(update_fields=["last_instance_at", "receiving"])
    record.scan = scan
    record.received_study = received
    if scan.status == Scan.Status.QUARANTINED:
        record.status = ReceivedInstance.Status.QUARANTINED
        record.reason_code = "burned_in"
        record.reason = scan.status_reason
    record.save(update_fields=["scan", "received_study", "status", "reason_code", "reason"])
    slices = list(Scan.objects.filter(dicom_file=scan.dicom_file)) if scan.dicom_file else [scan]
    clinical_link_record(study=study, scans=slices, header=_header(data))


def _header(data: bytes) -> pydicom.Dataset:
    """The original header (ingest already read this file safely)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


def received_studies_finalise(*, now=None) -> int:
    """Predict the held slices of every received study that has been quiet for the quiet
    period; returns how many studies were finalised. Safe to run from several processes at
    once (each study is locked, skipping locked ones)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DICOM_STUDY_QUIET_SECONDS)
    due = Q(receiving=True)
    finalised = 0
    for pk in ReceivedStudy.objects.filter(due, last_instance_at__lte=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            # The chain lock first: a storing instance holds it (its upload's audit event)
            # when it locks the study's row, so taking them the other way round deadlocks.
            audit_chain_lock()
            received = (
                ReceivedStudy.objects.select_for_update(skip_locked=True)
                .filter(due, pk=pk, last_instance_at__lte=cutoff)
                .first()
            )
            if received is None:
                continue
            released = scans_release_held(
                scans=Scan.objects.filter(series__study=received.study_id)
            )
            received.finalised_at = now
            received.receiving = False
            received.save(update_fields=["finalised_at", "receiving"])
            audit_record(
                action=Action.DICOM_STUDY_COMPLETE,
                target=received.study,
                details={
                    "slices_queued": released,
                    "instances": received.instances.filter(
                        status__in=[
                            ReceivedInstance.Status.STORED,
                            ReceivedInstance.Status.QUARANTINED,
                        ]
                    ).count(),
                },
            )
            finalised += 1
    return finalised


def receiver_heartbeat(*, node: str, pid: int, started_at) -> None:
    """The running receiver is alive (one row per node, its beat moved forward)."""
    ReceiverHeartbeat.objects.update_or_create(
        node=node[:120], defaults={"pid": pid, "started_at": started_at, "beat_at": timezone.now()}
    )


#: A receiver beats at least every 10 s; after this without a beat it is reported down.
HEARTBEAT_STALE = timedelta(seconds=30)


def receiver_health() -> str:
    """One line for /health/ and the traffic page: the receiver's last heartbeat."""
    beat = ReceiverHeartbeat.objects.order_by("-beat_at").first()
    if beat is None:
        return "not running (no receiver has started)"
    age = (timezone.now() - beat.beat_at).total_seconds()
    if age > HEARTBEAT_STALE.total_seconds():
        return f"error: {beat.node} last seen {age:.0f} s ago"
    return f"ok ({beat.node}, seen {age:.0f} s ago)"
