"""Reads of scans, always through the access rules."""

from __future__ import annotations

from django.db.models import Model, Prefetch, QuerySet
from django.http import Http404

from tumorapp.scans.models import Scan
from tumorapp.scans.rules import scans_visible_to

# A scan's inference runs and predictions belong to the layer above (inference): they are
# read through the scan's reverse relations (``runs``, newest first by the run's own
# ordering; ``predictions``), never by importing it.


def _latest_run() -> Prefetch:
    return Prefetch("runs", to_attr="run_list")


def _predictions() -> Prefetch:
    return Prefetch("predictions", to_attr="prediction_list")


def scan_list_for(user, *, mine: bool = False) -> QuerySet[Scan]:
    """Scans the user may see, newest first, with runs and predictions prefetched."""
    scans = scans_visible_to(user)
    if mine:
        scans = scans.filter(uploaded_by=user)
    return scans.select_related("uploaded_by", "series__study").prefetch_related(
        _latest_run(), _predictions()
    )


def scan_detail(user, public_id) -> Scan:
    """The scan with its latest run and prediction, or 404 when the user may not see it
    (the same answer as for a scan that does not exist)."""
    scan = scan_list_for(user).filter(public_id=public_id).first()
    if scan is None:
        raise Http404("No such scan.")
    return scan


def latest_run(scan: Scan) -> Model | None:
    """The scan's newest inference run (``InferenceRun``), or None."""
    runs = getattr(scan, "run_list", None)
    if runs is None:
        return scan.runs.order_by("-queued_at").first()
    return runs[0] if runs else None


def latest_prediction(scan: Scan) -> Model | None:
    """The scan's newest prediction (``Prediction``), or None."""
    predictions = getattr(scan, "prediction_list", None)
    if predictions is None:
        return scan.predictions.order_by("-created_at").first()
    return max(predictions, key=lambda p: p.created_at, default=None)
