"""Responses for the DICOM files: raw 16-bit pixels for the viewer, the de-identified file."""

from __future__ import annotations

import numpy as np
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from PIL import Image

from tumorapp.scans.models import Scan


def _private(response):
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def pixels_response(scan: Scan) -> HttpResponse:
    """The slice's 16-bit modality values as little-endian Uint16, row by row.

    Browsers decode 16-bit PNGs to 8 bits, so the viewer gets the raw samples and windows
    them itself. Stored value v stands for v * X-Pixel-Scale + X-Pixel-Offset.
    """
    if not scan.pixels16:
        raise Http404("This scan has no 16-bit pixels (it is not DICOM).")
    try:
        with default_storage.open(scan.pixels16.name, "rb") as handle, Image.open(handle) as im:
            samples = np.asarray(im, dtype="<u2")
    except FileNotFoundError:
        raise Http404("The stored file is missing.") from None
    response = HttpResponse(samples.tobytes(), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="pixels-{scan.public_id}.u16"'
    response["X-Image-Width"] = str(samples.shape[1])
    response["X-Image-Height"] = str(samples.shape[0])
    response["X-Pixel-Offset"] = repr(scan.pixel_offset)
    response["X-Pixel-Scale"] = repr(scan.pixel_scale)
    return _private(response)


def dicom_response(scan: Scan) -> FileResponse:
    """The de-identified DICOM file as an attachment named by public ids only."""
    if not scan.dicom_file:
        raise Http404("This scan has no DICOM file.")
    try:
        handle = default_storage.open(scan.dicom_file.name, "rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing.") from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"scan-{scan.public_id}.dcm",
        content_type="application/dicom",
    )
    return _private(response)
