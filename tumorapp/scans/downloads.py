"""Serving stored scan files through views that have checked access first."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404


def stored_png_response(key: str, download_name: str) -> FileResponse:
    """A stored PNG as a private, non-sniffable attachment. ``download_name`` is built from
    public ids only, never from user text. Browsers still show it in an <img>."""
    if not key:
        raise Http404("Nothing stored.")
    try:
        handle = default_storage.open(key, "rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing.") from None
    response = FileResponse(
        handle, as_attachment=True, filename=download_name, content_type="image/png"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
