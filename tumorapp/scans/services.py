"""Storing uploads as scans."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, replace
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from ml.ood import OODGuard
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.core.hooks import site_options
from tumorapp.scans.hooks import scan_ready
from tumorapp.scans.ingest import IngestedImage, IngestError, Limits, ingest_slices
from tumorapp.scans.models import Scan, Series, Study
from tumorapp.scans.rules import can_view_scan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one uploaded file. ``scan`` is None when it was rejected or could not
    be stored, or when it duplicates a scan the uploader may not see (its existence is all
    they learn)."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"

    filename: str
    status: str
    scan: Scan | None = None
    error: IngestError | None = None
    slices: int = 1  # a multi-frame DICOM file becomes one scan per frame; ``scan`` is the first


class StorageError(Exception):
    """The file store failed (disk full, bucket unreachable) or raced another writer."""


STORE_FAILED = IngestError(
    "store_failed",
    "Not stored: saving the file failed on the server and nothing of it was kept. "
    "Try again in a moment.",
    status=503,
)


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


#: Above this mean colour saturation an upload is a colour image, not an MRI slice: the OOD
#: guard's own line for "MRI is grey" (``ml.ood``).
COLOUR_SATURATION_LIMIT = OODGuard.max_saturation


def _colour_refusal(images: list[IngestedImage]) -> IngestError | None:
    """A colour image is refused with its reason, unless the site allows colour images."""
    colour = max((i.colour_saturation for i in images), default=0.0)
    if colour <= COLOUR_SATURATION_LIMIT or site_options().allow_colour_images:
        return None
    return IngestError(
        "colour_image",
        f"This is a colour image (colour saturation {colour:.2f}; MRI slices are grey, at most "
        f"{COLOUR_SATURATION_LIMIT:.2f}): a photograph or a screenshot, not a scan. It was "
        "not stored. Upload the greyscale slice, or ask an admin to allow colour images.",
    )


def scan_upload(
    *, uploaded_by, filename: str, data: bytes, request=None, hold: bool = False
) -> UploadOutcome:
    """Validate one file and store it as a new scan (one per frame of a multi-frame DICOM
    file, all of them or none), or say why not (never raises on bad input, nor when the
    store or the database refuses the write). The same bytes uploaded again are reported as
    a duplicate, not stored twice.

    ``hold``: store the slices without queueing their prediction yet (a study arriving over
    DICOM is predicted once it is complete: tumorapp.pacs.services.received_studies_finalise
    queues them with ``scans_release_held``)."""
    name = clean_filename(filename)
    try:
        images = ingest_slices(data, upload_limits())
    except IngestError as exc:
        logger.info("upload refused (%s) from user %s", exc.code, uploaded_by.pk)
        return UploadOutcome(name, UploadOutcome.REJECTED, error=exc)
    refusal = _colour_refusal(images)
    if refusal is not None:
        logger.info("upload refused (colour_image) from user %s", uploaded_by.pk)
        return UploadOutcome(name, UploadOutcome.REJECTED, error=refusal)
    try:
        outcomes = _store(
            uploaded_by=uploaded_by, name=name, images=images, request=request, hold=hold
        )
    except (StorageError, IntegrityError) as exc:
        logger.warning("upload from user %s not stored, nothing kept: %r", uploaded_by.pk, exc)
        return UploadOutcome(name, UploadOutcome.REJECTED, error=STORE_FAILED, slices=len(images))
    created = [o for o in outcomes if o.status == UploadOutcome.CREATED]
    return replace(created[0] if created else outcomes[0], slices=len(outcomes))


def _store(
    *, uploaded_by, name: str, images: list[IngestedImage], request, hold: bool = False
) -> list[UploadOutcome]:
    """The slices of one file, all or none:

    1. Write the files of the slices not on file yet; a file already stored is left alone.
    2. In one transaction, insert each new slice's scan, run and audit event; a slice whose
       bytes someone stored meanwhile is a duplicate, and its files are that scan's now.
    3. If anything fails, the commit included, delete the files step 1 wrote.

    The files are written before the transaction so that it holds its locks (the audit
    chain's among them) only for the inserts, not for the storage round trips.
    """
    written: list[str] = []
    try:
        for image in images:
            if not Scan.objects.filter(sha256=image.sha256).exists():
                _write_files(image, written)
        with transaction.atomic():
            return [
                _insert_or_find(
                    uploaded_by=uploaded_by,
                    name=name,
                    image=image,
                    request=request,
                    written=written,
                    hold=hold,
                )
                for image in images
            ]
    except BaseException:
        _delete_files(written)
        raise


def _insert_or_find(
    *, uploaded_by, name: str, image: IngestedImage, request, written: list[str], hold: bool
) -> UploadOutcome:
    existing = Scan.objects.filter(sha256=image.sha256).first()
    if existing is None:
        try:
            with transaction.atomic():
                scan = _insert(
                    uploaded_by=uploaded_by,
                    filename=name,
                    image=image,
                    request=request,
                    hold=hold,
                )
        except IntegrityError:
            # Someone stored the same bytes between our check and our insert: their scan
            # names the same content-hashed keys, so a later failure must not delete them.
            existing = Scan.objects.filter(sha256=image.sha256).first()
            if existing is None:
                raise
            written[:] = [key for key in written if key not in _files(image)]
        else:
            return UploadOutcome(name, UploadOutcome.CREATED, scan=scan)
    visible = existing if can_view_scan(uploaded_by, existing) else None
    return UploadOutcome(name, UploadOutcome.DUPLICATE, scan=visible)


def scan_storage_key(sha256: str) -> str:
    return f"scans/{sha256[:2]}/{sha256}.png"


def _dicom_keys(image: IngestedImage) -> tuple[str, str]:
    """Storage keys of a DICOM slice's 16-bit pixels and of its file's de-identified DICOM
    (one per uploaded file, shared by its frames): keyed hashes only, never header text."""
    key = image.dicom.file_key
    return f"scans/{image.sha256[:2]}/{image.sha256}.u16.png", f"dicom/{key[:2]}/{key}.dcm"


def _dicom_fields(image: IngestedImage) -> dict:
    """Scan fields of a DICOM slice: its series (created on first sight), window, pixels,
    and quarantine when the header says text may be burned into the pixels."""
    info = image.dicom
    if info is None:
        return {}
    study, _ = Study.objects.get_or_create(
        study_uid=info.study_uid, defaults={"patient_key": info.patient_key}
    )
    series, _ = Series.objects.get_or_create(
        series_uid=info.series_uid,
        defaults={
            "study": study,
            "series_number": info.series_number,
            "modality": info.modality,
            "manufacturer": info.manufacturer,
            "manufacturer_model_name": info.manufacturer_model_name,
            "magnetic_field_strength": info.magnetic_field_strength,
        },
    )
    pixels_key, dicom_key = _dicom_keys(image)
    return {
        "series": series,
        "instance_number": info.instance_number,
        "frame_number": info.frame_number,
        "dicom_file": dicom_key,
        "pixels16": pixels_key,
        "pixel_offset": info.pixel_offset,
        "pixel_scale": info.pixel_scale,
        "bits_stored": info.bits_stored,
        "window_center": info.window_center,
        "window_width": info.window_width,
        "monochrome1": info.monochrome1,
        "pixel_spacing_row": info.pixel_spacing[0] if info.pixel_spacing else None,
        "pixel_spacing_col": info.pixel_spacing[1] if info.pixel_spacing else None,
        "deidentification_method": info.deidentification_method,
        "status": Scan.Status.QUARANTINED if info.quarantine_reason else Scan.Status.QUEUED,
        "status_reason": info.quarantine_reason,
    }


def _files(image: IngestedImage) -> dict[str, bytes]:
    """The files a slice is stored as, by storage key."""
    files = {scan_storage_key(image.sha256): image.png}
    if image.dicom is not None:
        pixels_key, dicom_key = _dicom_keys(image)
        files.update({pixels_key: image.dicom.pixels16_png, dicom_key: image.dicom.deidentified})
    return files


def _write_files(image: IngestedImage, written: list[str]) -> None:
    """Store the slice's files that are not stored yet, adding each key written to
    ``written`` (the caller deletes them if the upload fails). Any error of the store
    is raised as StorageError."""
    for key, content in _files(image).items():
        try:
            if default_storage.exists(key):
                continue
            saved = default_storage.save(key, ContentFile(content))
        except Exception as exc:
            raise StorageError(f"{key}: {type(exc).__name__}: {exc}") from exc
        written.append(saved)
        if saved != key:
            raise StorageError(f"storage renamed {key}: it was written concurrently")


def _delete_files(written: list[str]) -> None:
    """Best effort: a file the store will not delete now (it is down, say) is left to the
    storage sweep (tumorapp/scans/storage.py), and the error that failed the upload is the
    one raised."""
    for key in written:
        try:
            default_storage.delete(key)
        except Exception:
            logger.exception("could not delete %s of a failed upload; left for the sweep", key)


def _insert(
    *, uploaded_by, filename: str, image: IngestedImage, request, hold: bool = False
) -> Scan:
    """The rows of one stored slice: its scan, its queued run (inference subscribes to
    ``scan_ready``; a quarantined or held slice gets none) and the audit event. The caller
    holds the transaction and owns the files."""
    scan = Scan.objects.create(
        uploaded_by=uploaded_by,
        original_filename="" if image.dicom is not None else filename,
        source_format=image.format,
        sha256=image.sha256,
        size_bytes=image.size_bytes,
        image=scan_storage_key(image.sha256),
        width=image.width,
        height=image.height,
        intensity_mean=image.intensity_mean,
        intensity_std=image.intensity_std,
        intensity_p01=image.intensity_p01,
        intensity_p99=image.intensity_p99,
        colour_held=image.colour_saturation > COLOUR_SATURATION_LIMIT,
        **_dicom_fields(image),
    )
    if scan.status != Scan.Status.QUARANTINED and not hold:
        scan_ready.publish(scan=scan)
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
            **({"quarantined": scan.status_reason} if scan.status_reason else {}),
            **({"colour_held": True} if scan.colour_held else {}),
        },
    )
    return scan


def scans_release_held(*, scans) -> int:
    """Queue the prediction of held slices (stored with ``hold``: no run yet, not
    quarantined); returns how many. Inside the caller's transaction."""
    released = 0
    for scan in scans.filter(status=Scan.Status.QUEUED, runs__isnull=True).distinct():
        scan_ready.publish(scan=scan)
        released += 1
    return released


@transaction.atomic
def scan_confirm_colour(*, scan: Scan, actor, request=None) -> Scan:
    """A technologist confirms that a colour image held at upload is an image to read: it
    joins the worklist (its case was opened when the model read it, held until now)."""
    scan = Scan.objects.select_for_update().get(pk=scan.pk)
    if not scan.colour_held:
        raise ValidationError("This image is not held.")
    scan.colour_held = False
    scan.colour_confirmed_by = actor
    scan.colour_confirmed_at = timezone.now()
    scan.save(update_fields=["colour_held", "colour_confirmed_by", "colour_confirmed_at"])
    audit_record(action=Action.SCAN_COLOUR_CONFIRMED, actor=actor, request=request, target=scan)
    return scan


def scan_access_record(*, scan: Scan, action: str, request) -> None:
    """Audit that the requesting user looked at a scan, its image or its heat map."""
    audit_record(action=action, request=request, target=scan)
