"""Decisions on quarantined DICOM slices, each audited."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.inference.services import run_create
from tumorapp.scans.models import Scan

logger = logging.getLogger(__name__)


def _quarantined(scan_id: int) -> Scan:
    scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
    if scan is None or scan.status != Scan.Status.QUARANTINED:
        raise ValidationError("This scan is not in quarantine (someone may have decided already).")
    return scan


@transaction.atomic
def quarantine_release(*, scan: Scan, actor, request=None) -> Scan:
    """An admin found no identifying text: the slice joins the normal flow (the model reads
    it, then it reaches the worklist)."""
    scan = _quarantined(scan.pk)
    reason = scan.status_reason
    scan.status, scan.status_reason = Scan.Status.QUEUED, ""
    scan.save(update_fields=["status", "status_reason"])
    run_create(scan=scan)
    audit_record(
        action=Action.SCAN_RELEASED,
        actor=actor,
        request=request,
        target=scan,
        details={"quarantine_reason": reason},
    )
    return scan


@transaction.atomic
def quarantine_reject(*, scan: Scan, actor, request=None) -> None:
    """An admin found (or suspects) identifying text: the slice and its stored files are
    deleted; the audit event keeps what was decided. The de-identified DICOM file goes only
    when no other slice of the same upload still uses it; a series or study left empty goes
    too. Files are deleted after commit, so a rolled-back decision deletes nothing."""
    scan = _quarantined(scan.pk)
    audit_record(
        action=Action.SCAN_REJECTED,
        actor=actor,
        request=request,
        target=scan,
        details={"quarantine_reason": scan.status_reason, "sha256": scan.sha256},
    )
    files = [name for name in (scan.image.name, scan.pixels16.name) if name]
    dicom_name = scan.dicom_file.name
    if dicom_name and not Scan.objects.filter(dicom_file=dicom_name).exclude(pk=scan.pk).exists():
        files.append(dicom_name)
    series = scan.series
    scan.delete()
    if series is not None and not series.scans.exists():
        study = series.study
        series.delete()
        if not study.series.exists():
            study.delete()

    def delete_files() -> None:
        for name in files:
            default_storage.delete(name)

    transaction.on_commit(delete_files)
