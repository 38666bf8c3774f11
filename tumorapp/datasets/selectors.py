"""Reads for dataset exports."""

from __future__ import annotations

from django.db.models import F, Prefetch, QuerySet

from reviews.models import Case, Review
from tumorapp.datasets.models import DatasetExport, ExportItem
from tumorapp.scans.models import Scan

_reviews_for_manifest = Review.objects.select_related("reader", "key_scan__series__study").order_by(
    "pk"
)


def cases_for_export(*, export: DatasetExport) -> QuerySet[Case]:
    """Reported cases matching the export's choice, oldest decision first, with everything
    a manifest row needs joined or prefetched (no query per case)."""
    cases = Case.objects.filter(status=Case.Status.DONE).exclude(scan__status="quarantined")
    if export.reviewed_from:
        cases = cases.filter(decided_at__date__gte=export.reviewed_from)
    if export.reviewed_to:
        cases = cases.filter(decided_at__date__lte=export.reviewed_to)
    if export.resolutions:
        cases = cases.filter(resolution__in=export.resolutions)
    if export.labels:
        cases = cases.filter(final_label__in=export.labels)
    if export.correction == DatasetExport.Correction.CORRECTED:
        cases = cases.exclude(final_label=F("ai_label"))
    elif export.correction == DatasetExport.Correction.CONFIRMED:
        cases = cases.filter(final_label=F("ai_label"))
    return (
        cases.select_related("scan", "scan__series__study", "prediction", "prediction__run")
        .prefetch_related(Prefetch("reviews", queryset=_reviews_for_manifest))
        .order_by("decided_at", "pk")
    )


def exported_scan(case: Case) -> Scan:
    """The slice an export labels: the key slice named by the last read that gave the final
    class (a study case), else the case's own key slice. Needs the reviews prefetched."""
    named = [r for r in case.reviews.all() if r.label == case.final_label and r.key_scan_id]
    return named[-1].key_scan if named else case.scan


def exports_list() -> QuerySet[DatasetExport]:
    return DatasetExport.objects.select_related("created_by", "parent")


def export_detail(*, public_id) -> DatasetExport:
    return DatasetExport.objects.select_related("created_by", "parent").get(public_id=public_id)


def export_items(*, export: DatasetExport, split: str | None = None) -> QuerySet[ExportItem]:
    items = ExportItem.objects.filter(export=export)
    return items.filter(split=split) if split else items
