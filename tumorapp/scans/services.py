"""Storing uploads as scans."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from tumorapp.accounts.rules import can_view_scan
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.inference.services import run_create
from tumorapp.scans.ingest import IngestedImage, IngestError, Limits, ingest
from tumorapp.scans.models import Scan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one uploaded file. ``scan`` is None when it was rejected, or when it
    duplicates a scan the uploader may not see (its existence is all they learn)."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"

    filename: str
    status: str
    scan: Scan | None = None
    error: IngestError | None = None


def upload_limits() -> Limits:
    return Limits(
        max_file_bytes=settings.SCAN_UPLOAD_MAX_FILE_BYTES, max_pixels=settings.SCAN_MAX_PIXELS
    )


def clean_filename(name: str) -> str:
    """The original name as metadata only: last path part, no control characters, 255 max.
    It is never used as a storage key and is escaped wherever it is shown."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    printable = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    return printable.strip()[:255]


def scan_upload(*, uploaded_by, filename: str, data: bytes, request=None) -> UploadOutcome:
    """Validate one file and store it as a new scan, or say why not (never raises on bad
    input). The same bytes uploaded again are reported as a duplicate, not stored twice."""
    name = clean_filename(filename)
    try:
        image = ingest(data, upload_limits())
    except IngestError as exc:
        logger.info("upload refused (%s) from user %s", exc.code, uploaded_by.pk)
        return UploadOutcome(name, UploadOutcome.REJECTED, error=exc)
    existing = Scan.objects.filter(sha256=image.sha256).first()
    if existing is None:
        try:
            scan = scan_create(uploaded_by=uploaded_by, filename=name, image=image, request=request)
        except IntegrityError:
            # Someone stored the same bytes between our check and our insert.
            existing = Scan.objects.get(sha256=image.sha256)
        else:
            return UploadOutcome(name, UploadOutcome.CREATED, scan=scan)
    visible = existing if can_view_scan(uploaded_by, existing) else None
    return UploadOutcome(name, UploadOutcome.DUPLICATE, scan=visible)


def scan_storage_key(sha256: str) -> str:
    return f"scans/{sha256[:2]}/{sha256}.png"


@transaction.atomic
def scan_create(*, uploaded_by, filename: str, image: IngestedImage, request=None) -> Scan:
    """Store the re-encoded image under its content hash, insert the scan and its queued
    inference run, and audit the upload; the run's task is sent only after commit.

    The file is written first (the worker must find it); if the insert fails, a file this
    call wrote is deleted again, so a failed upload leaves nothing behind.
    """
    key = scan_storage_key(image.sha256)
    wrote_file = False
    if not default_storage.exists(key):
        saved = default_storage.save(key, ContentFile(image.png))
        wrote_file = True
        if saved != key:
            default_storage.delete(saved)
            raise IntegrityError(f"storage renamed {key}: it was written concurrently")
    try:
        with transaction.atomic():
            scan = Scan.objects.create(
                uploaded_by=uploaded_by,
                original_filename=filename,
                source_format=image.format,
                sha256=image.sha256,
                size_bytes=image.size_bytes,
                image=key,
                width=image.width,
                height=image.height,
                intensity_mean=image.intensity_mean,
                intensity_std=image.intensity_std,
                intensity_p01=image.intensity_p01,
                intensity_p99=image.intensity_p99,
            )
            run_create(scan=scan)
            audit_record(
                action=Action.SCAN_UPLOADED,
                actor=uploaded_by,
                request=request,
                target=scan,
                details={
                    "format": image.format,
                    "sha256": image.sha256,
                    "size_bytes": image.size_bytes,
                    "width": image.width,
                    "height": image.height,
                },
            )
    except BaseException:
        if wrote_file:
            default_storage.delete(key)
        raise
    return scan


def scan_access_record(*, scan: Scan, action: str, request) -> None:
    """Audit that the requesting user looked at a scan, its image or its heat map."""
    audit_record(action=action, request=request, target=scan)
