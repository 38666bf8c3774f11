"""Decisions on quarantined DICOM files, each audited once per slice.

A decision covers every quarantined slice of one uploaded file: the burned-in flag is a
property of the file, and its frames share one stored de-identified DICOM, so releasing one
frame while rejecting another would export the rejected pixels with the released ones.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.scans.hooks import scan_ready
from tumorapp.scans.models import Scan


def _quarantined_file(scan: Scan) -> list[Scan]:
    """The scan and the other quarantined slices of its file, locked; refused when the scan
    left quarantine meanwhile."""
    same_file = Scan.objects.filter(pk=scan.pk)
    if scan.dicom_file:
        same_file = Scan.objects.filter(dicom_file=scan.dicom_file.name)
    slices = list(
        same_file.select_for_update()
        .filter(status=Scan.Status.QUARANTINED)
        .order_by("frame_number", "pk")
    )
    if scan.pk not in {s.pk for s in slices}:
        raise ValidationError("This scan is not in quarantine (someone may have decided already).")
    return slices


@transaction.atomic
def quarantine_release(*, scan: Scan, actor, request=None) -> list[Scan]:
    """An admin found no identifying text: the file's slices join the normal flow (the model
    reads them, then they reach the worklist)."""
    slices = _quarantined_file(scan)
    for item in slices:
        reason = item.status_reason
        item.status, item.status_reason = Scan.Status.QUEUED, ""
        item.save(update_fields=["status", "status_reason"])
        scan_ready.publish(scan=item)
        audit_record(
            action=Action.SCAN_RELEASED,
            actor=actor,
            request=request,
            target=item,
            details={"quarantine_reason": reason, "slices_of_file": len(slices)},
        )
    return slices


@transaction.atomic
def quarantine_reject(*, scan: Scan, actor, request=None) -> int:
    """An admin found (or suspects) identifying text: the file's slices and their stored
    files are deleted; the audit events keep what was decided. A series or study left
    empty goes too. Files are deleted after commit, so a rolled-back decision deletes
    nothing. Returns how many slices went."""
    slices = _quarantined_file(scan)
    files: set[str] = set()
    for item in slices:
        audit_record(
            action=Action.SCAN_REJECTED,
            actor=actor,
            request=request,
            target=item,
            details={"quarantine_reason": item.status_reason, "sha256": item.sha256},
        )
        files.update(name for name in (item.image.name, item.pixels16.name) if name)
        series = item.series
        item.delete()
        if series is not None and not series.scans.exists():
            study = series.study
            series.delete()
            if not study.series.exists():
                study.delete()
    dicom_name = scan.dicom_file.name
    if dicom_name and not Scan.objects.filter(dicom_file=dicom_name).exists():
        files.add(dicom_name)

    def delete_files() -> None:
        for name in sorted(files):
            default_storage.delete(name)

    transaction.on_commit(delete_files)
    return len(slices)
