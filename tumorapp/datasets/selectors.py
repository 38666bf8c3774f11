"""Reads for dataset exports."""

from __future__ import annotations

from django.db.models import F, Prefetch, QuerySet

from reviews.models import Case, Review
from tumorapp.datasets.models import DatasetExport, ExportItem


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
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reader").order_by("pk"))
        )
        .order_by("decided_at", "pk")
    )


def exports_list() -> QuerySet[DatasetExport]:
    return DatasetExport.objects.select_related("created_by", "parent")


def export_detail(*, public_id) -> DatasetExport:
    return DatasetExport.objects.select_related("created_by", "parent").get(public_id=public_id)


def export_items(*, export: DatasetExport, split: str | None = None) -> QuerySet[ExportItem]:
    items = ExportItem.objects.filter(export=export)
    return items.filter(split=split) if split else items
