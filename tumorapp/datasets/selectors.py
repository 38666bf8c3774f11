"""Reads for dataset exports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet

from reviews.labels import TUMOR_UNKNOWN, UNREADABLE, is_tumour
from reviews.models import Case, Review, TumourClass
from tumorapp.datasets import manifest
from tumorapp.datasets.models import DatasetExport, ExportItem
from tumorapp.scans.models import Scan

#: Rows listed per section of an export's changes; the totals count every row, and the CSV
#: holds them all (exports hold 10,000 images and more).
CHANGES_LISTED = 500

_reviews_for_manifest = Review.objects.select_related("reader", "key_scan__series__study").order_by(
    "pk"
)


def _chosen_cases(export: DatasetExport) -> QuerySet[Case]:
    """Reported cases matching the export's choice, before the data-hygiene exclusions."""
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
    return cases.annotate(
        poor_quality=Exists(Review.objects.filter(case=OuterRef("pk"), poor_image_quality=True))
    )


def hygiene_counts(*, export: DatasetExport) -> dict[str, int]:
    """Of the cases the export's choice matches, how many were answered unreadable / not a
    brain MRI, and how many a reader marked poor image quality (the dataset card states
    both, and whether they are in the export)."""
    cases = _chosen_cases(export)
    return {
        "unreadable": cases.filter(final_label=UNREADABLE).count(),
        "poor_quality": cases.filter(poor_quality=True).count(),
    }


def cases_for_export(*, export: DatasetExport) -> QuerySet[Case]:
    """Reported cases matching the export's choice, oldest decision first, with everything
    a manifest row needs joined or prefetched (no query per case).

    Unreadable / non-brain answers and reads marked poor image quality are left out unless
    the export asks for them.
    """
    cases = _chosen_cases(export)
    if not export.include_unreadable:
        cases = cases.exclude(final_label=UNREADABLE)
    if not export.include_poor_quality:
        cases = cases.filter(poor_quality=False)
    return (
        cases.select_related("scan", "scan__series__study", "prediction", "prediction__run")
        .prefetch_related(Prefetch("reviews", queryset=_reviews_for_manifest))
        .order_by("decided_at", "pk")
    )


def exported_scan(case: Case) -> Scan:
    """The slice an export labels: the key slice named by the last read that gave the final
    class (a study case), else the case's own key slice. Needs the reviews prefetched.

    A final "tumour, type unknown" agreed from a named type and an unknown one: the read
    naming the type shows the tumour too."""
    named = [
        r for r in case.reviews.all() if r.key_scan_id and _supports(r.label, case.final_label)
    ]
    return named[-1].key_scan if named else case.scan


def _supports(label: str, final_label: str) -> bool:
    return label == final_label or (final_label == TUMOR_UNKNOWN and is_tumour(label))


def exports_list() -> QuerySet[DatasetExport]:
    return DatasetExport.objects.select_related("created_by", "parent")


def export_detail(*, public_id, status: str | None = None) -> DatasetExport:
    exports = DatasetExport.objects.select_related("created_by", "parent")
    if status:
        exports = exports.filter(status=status)
    return exports.get(public_id=public_id)


def export_items(*, export: DatasetExport, split: str | None = None) -> QuerySet[ExportItem]:
    items = ExportItem.objects.filter(export=export)
    return items.filter(split=split) if split else items


def exports_earlier_than(*, export: DatasetExport) -> QuerySet[DatasetExport]:
    """Succeeded exports finished before ``export``: what its changes may be measured
    against (its parent is the latest of them when it was built)."""
    return DatasetExport.objects.filter(
        status=DatasetExport.Status.SUCCEEDED, finished_at__lt=export.finished_at
    ).exclude(pk=export.pk)


@dataclass(frozen=True)
class Change:
    """One image that differs: added (no label before), removed (none after) or relabelled.
    ``scan_id`` is the pseudonym the zip and the manifest use, never the scan's own id."""

    image_sha256: str
    split: str
    label_before: str
    label_after: str
    scan_id: str


@dataclass(frozen=True)
class ChangeSection:
    total: int
    rows: list[Change]

    @property
    def truncated(self) -> bool:
        return len(self.rows) < self.total


@dataclass(frozen=True)
class ClassCount:
    label: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class ExportChanges:
    export: DatasetExport
    parent: DatasetExport
    added: ChangeSection
    removed: ChangeSection
    relabelled: ChangeSection
    classes: list[ClassCount]
    before_total: int
    after_total: int


def _items_by_image(export: DatasetExport) -> dict[str, tuple[str, str, str]]:
    """image sha256 -> (label, split, scan public id), in one query. Keyed by image as the
    version id and the stored ``changes`` are."""
    rows = ExportItem.objects.filter(export=export).values_list(
        "image_sha256", "label", "split", "scan__public_id"
    )
    return {sha: (label, split, str(scan)) for sha, label, split, scan in rows}


def export_changes(
    *, export: DatasetExport, parent: DatasetExport | None = None, limit: int | None = None
) -> ExportChanges | None:
    """What changed from ``parent`` (default: the export's own parent) to ``export``, by
    image: added, removed and relabelled images, and the images per class on both sides.

    Two queries whatever the sizes. Each section lists at most ``limit`` rows (None: all),
    by label then image; its total counts them all. None when there is nothing to compare
    with (a first export, or its parent deleted, and no other export given).
    """
    parent = parent or export.parent
    if parent is None:
        return None
    before, after = _items_by_image(parent), _items_by_image(export)

    def section(shas, row, key) -> ChangeSection:
        # Sort on the plain tuples first; pseudonyms are computed for listed rows only.
        chosen = sorted(shas, key=key)[:limit]
        return ChangeSection(total=len(shas), rows=[row(sha) for sha in chosen])

    def pseudonym(scan_public_id: str) -> str:
        return manifest.pseudonym("export-scan", scan_public_id)

    def added(sha):
        label, split, scan = after[sha]
        return Change(sha, split, "", label, pseudonym(scan))

    def removed(sha):
        label, split, scan = before[sha]
        return Change(sha, split, label, "", pseudonym(scan))

    def relabelled(sha):
        label, split, scan = after[sha]
        return Change(sha, split, before[sha][0], label, pseudonym(scan))

    kept = after.keys() & before.keys()
    counts_before = Counter(label for label, _, _ in before.values())
    counts_after = Counter(label for label, _, _ in after.values())
    # The model's classes always; "tumour, type unknown" when either side holds it.
    labels = list(TumourClass.values)
    labels += sorted((counts_before.keys() | counts_after.keys()) - set(labels))
    return ExportChanges(
        export=export,
        parent=parent,
        added=section(after.keys() - before.keys(), added, lambda s: (after[s][0], s)),
        removed=section(before.keys() - after.keys(), removed, lambda s: (before[s][0], s)),
        relabelled=section(
            {sha for sha in kept if after[sha][0] != before[sha][0]},
            relabelled,
            lambda s: (before[s][0], after[s][0], s),
        ),
        classes=[ClassCount(label, counts_before[label], counts_after[label]) for label in labels],
        before_total=len(before),
        after_total=len(after),
    )
