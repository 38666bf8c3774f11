"""Dataset exports: create the job, build the zip on a worker, record downloads."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from reviews.labels import UNREADABLE
from reviews.models import Case, ReadLabel
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.core.queue import enqueue
from tumorapp.datasets import manifest
from tumorapp.datasets.models import DatasetExport, ExportItem, SplitGroup
from tumorapp.datasets.selectors import (
    ExportChanges,
    cases_for_export,
    exported_scan,
    hygiene_counts,
)

logger = logging.getLogger(__name__)

Status = DatasetExport.Status
#: Progress is written every this many images (one UPDATE, not one per image).
PROGRESS_EVERY = 200


@transaction.atomic
def export_create(
    *,
    actor,
    reviewed_from: date | None = None,
    reviewed_to: date | None = None,
    resolutions: list[str] | None = None,
    labels: list[str] | None = None,
    correction: str = DatasetExport.Correction.ANY,
    include_unreadable: bool = False,
    include_poor_quality: bool = False,
    request=None,
) -> DatasetExport:
    """Queue an export of the reported cases matching the choice; a worker builds it."""
    resolutions, labels = sorted(set(resolutions or [])), sorted(set(labels or []))
    if set(resolutions) - set(Case.Resolution.values):
        raise ValidationError({"resolutions": "Unknown label source."})
    if set(labels) - set(ReadLabel.values):
        raise ValidationError({"labels": "Unknown class."})
    if correction not in DatasetExport.Correction.values:
        raise ValidationError({"correction": "Unknown correction status."})
    if reviewed_from and reviewed_to and reviewed_from > reviewed_to:
        raise ValidationError({"reviewed_to": "The end is before the start."})
    export = DatasetExport.objects.create(
        created_by=actor,
        reviewed_from=reviewed_from,
        reviewed_to=reviewed_to,
        resolutions=resolutions,
        labels=labels,
        correction=correction,
        include_unreadable=include_unreadable,
        include_poor_quality=include_poor_quality,
    )
    audit_record(
        action=Action.DATASET_EXPORT_STARTED,
        actor=actor,
        request=request,
        target=export,
        details={
            "reviewed_from": str(reviewed_from or ""),
            "reviewed_to": str(reviewed_to or ""),
            "resolutions": resolutions,
            "labels": labels,
            "correction": correction,
            "include_unreadable": include_unreadable,
            "include_poor_quality": include_poor_quality,
        },
    )
    from tumorapp.datasets.tasks import build_export

    enqueue(build_export, export.pk)
    return export


def export_claim(*, export_id: int) -> bool:
    """queued -> running, by exactly one worker."""
    return bool(
        DatasetExport.objects.filter(pk=export_id, status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
    )


def export_fail(*, export_id: int, reason: str) -> bool:
    return bool(
        DatasetExport.objects.filter(
            pk=export_id, status__in=(Status.QUEUED, Status.RUNNING)
        ).update(status=Status.FAILED, error=reason[:2000], finished_at=timezone.now())
    )


def export_build(*, export_id: int) -> DatasetExport | None:
    """Build the export's zip, streaming: images go one by one from storage into a zip in a
    temporary file, which is then saved to storage; memory holds one image and the rows'
    small summaries, never the data set.

    1. Claim the row (another worker or a redelivery finds nothing to do).
    2. For each matching case: read its stored PNG, give it a split group (patient key, or
       near-duplicate cluster kept in SplitGroup so later exports agree), write it to
       ``<split>/<label>/<scan id>.png`` and its manifest rows to CSV and JSONL.
    3. Version id from the sorted (sha256, label) list; parent = the latest earlier export;
       differences against it; the dataset card; save the zip and the items.
    """
    if not export_claim(export_id=export_id):
        logger.info("export %s: nothing to claim", export_id)
        return None
    export = DatasetExport.objects.get(pk=export_id)
    try:
        return _build(export)
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        export_fail(export_id=export_id, reason=f"{type(exc).__name__}: {exc}")
        return None


def _group_index(total: int) -> manifest.ClusterIndex:
    known = list(
        SplitGroup.objects.filter(group_key__startswith="cluster:").values_list(
            "phash", "group_key"
        )
    )
    return manifest.ClusterIndex(known, capacity=total)


def _group_for(scan, png: bytes, groups: dict, index, new_groups: list) -> str:
    known = groups.get(scan.pk)
    if known is not None:
        return known
    phash = manifest.perceptual_hash(png)
    series = scan.series
    if series is not None:
        key = f"patient:{series.study.patient_key}"
    else:
        key = index.find(phash) or f"cluster:{scan.sha256}"
        index.add(phash, key)
    new_groups.append(SplitGroup(scan=scan, phash=phash, group_key=key))
    groups[scan.pk] = key
    return key


def _build(export: DatasetExport) -> DatasetExport:
    cases = cases_for_export(export=export)
    total = cases.count()
    DatasetExport.objects.filter(pk=export.pk).update(total=total)
    groups = dict(SplitGroup.objects.values_list("scan_id", "group_key"))
    index = _group_index(total)
    new_groups: list[SplitGroup] = []
    items: list[ExportItem] = []
    counts: dict[str, Counter] = defaultdict(Counter)
    resolutions: Counter = Counter()
    model_versions: set[str] = set()
    corrected = 0
    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        zip_path = Path(scratch) / "export.zip"
        csv_path, jsonl_path = Path(scratch) / "manifest.csv", Path(scratch) / "manifest.jsonl"
        with (
            zipfile.ZipFile(zip_path, "w", allowZip64=True) as zf,
            open(csv_path, "w", newline="") as csv_file,
            open(jsonl_path, "w") as jsonl,
        ):
            writer = csv.writer(csv_file)
            writer.writerow(manifest.CSV_FIELDS)
            for n, case in enumerate(cases.iterator(chunk_size=500), start=1):
                scan = exported_scan(case)
                with default_storage.open(scan.image.name, "rb") as fh:
                    png = fh.read()
                group = _group_for(scan, png, groups, index, new_groups)
                split = manifest.split_of(group)
                sha = hashlib.sha256(png).hexdigest()
                scan_id = manifest.pseudonym("export-scan", str(scan.public_id))
                # Never a training label: filed outside every split, which ml does not read.
                if case.final_label == UNREADABLE:
                    path = f"excluded/{UNREADABLE}/{scan_id}.png"
                else:
                    path = f"{split}/{case.final_label}/{scan_id}.png"
                # Stored PNGs are compressed already: deflating them again costs time only.
                zf.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), png)
                row = manifest.manifest_row(
                    case=case, scan=scan, path=path, split=split, group=group, image_sha256=sha
                )
                jsonl.write(manifest.jsonl_line(row))
                writer.writerow(manifest.csv_values(row))
                items.append(
                    ExportItem(
                        export=export,
                        scan_id=scan.pk,
                        image_sha256=sha,
                        label=case.final_label,
                        split=split,
                    )
                )
                if case.final_label != UNREADABLE:
                    counts[split][case.final_label] += 1
                resolutions[case.resolution] += 1
                model_versions.add(case.prediction.model_version)
                corrected += row["corrected"]
                if n % PROGRESS_EVERY == 0:
                    DatasetExport.objects.filter(pk=export.pk).update(done=n)
            csv_file.close()
            jsonl.close()
            zf.write(csv_path, "manifest.csv", compress_type=zipfile.ZIP_DEFLATED)
            zf.write(jsonl_path, "manifest.jsonl", compress_type=zipfile.ZIP_DEFLATED)
            export.version_id = manifest.version_id([(i.image_sha256, i.label) for i in items])
            export.parent = (
                DatasetExport.objects.filter(status=Status.SUCCEEDED, finished_at__isnull=False)
                .order_by("-finished_at")
                .first()
            )
            export.changes = _changes(export.parent, items)
            export.finished_at = timezone.now()
            export.counts = {s: dict(counts[s]) for s in ("train", "val", "test") if s in counts}
            export.card = manifest.dataset_card(
                export=export,
                rows_summary={
                    "total": len(items),
                    "labels": [v for v in ReadLabel.values if v != UNREADABLE],
                    "hygiene": hygiene_counts(export=export),
                    "counts": export.counts,
                    "resolutions": dict(resolutions),
                    "corrected": corrected,
                    "model_versions": model_versions,
                },
            )
            zf.writestr("DATASET_CARD.md", export.card, compress_type=zipfile.ZIP_DEFLATED)
        export.size_bytes = zip_path.stat().st_size
        with open(zip_path, "rb") as fh:
            export.file = default_storage.save(f"exports/{export.public_id}.zip", File(fh))
    return _finish(export, items, new_groups)


def _changes(parent: DatasetExport | None, items: list[ExportItem]) -> dict:
    if parent is None:
        return {}
    before = dict(ExportItem.objects.filter(export=parent).values_list("image_sha256", "label"))
    after = {i.image_sha256: i.label for i in items}
    return {
        "added": len(after.keys() - before.keys()),
        "removed": len(before.keys() - after.keys()),
        "relabelled": sum(1 for sha in after.keys() & before.keys() if after[sha] != before[sha]),
    }


@transaction.atomic
def _finish(export: DatasetExport, items: list[ExportItem], groups: list[SplitGroup]):
    SplitGroup.objects.bulk_create(groups, batch_size=1000, ignore_conflicts=True)
    ExportItem.objects.bulk_create(items, batch_size=1000)
    export.status = Status.SUCCEEDED
    export.done = len(items)
    export.total = len(items)
    export.save(
        update_fields=[
            "status",
            "done",
            "total",
            "version_id",
            "parent",
            "changes",
            "counts",
            "card",
            "file",
            "size_bytes",
            "finished_at",
        ]
    )
    audit_record(
        action=Action.DATASET_EXPORTED,
        actor=export.created_by,
        target=export,
        details={
            "version_id": export.version_id,
            "parent": export.parent.version_id if export.parent_id else "",
            "images": len(items),
            "changes": export.changes,
        },
    )
    return export


def export_download_record(*, export: DatasetExport, actor, request=None) -> None:
    audit_record(
        action=Action.DATASET_DOWNLOADED,
        actor=actor,
        request=request,
        target=export,
        details={"version_id": export.version_id},
    )


CHANGES_CSV_COLUMNS = ("change", "image_sha256", "split", "label_before", "label_after")


def export_changes_download(*, changes: ExportChanges, actor, request=None) -> Iterator[str]:
    """Record the download of an export's changes, then return its CSV lines (every row;
    the values are hashes and class names, nothing a spreadsheet would run)."""
    audit_record(
        action=Action.DATASET_CHANGES_DOWNLOADED,
        actor=actor,
        request=request,
        target=changes.export,
        details={
            "version_id": changes.export.version_id,
            "against": changes.parent.version_id,
            "added": changes.added.total,
            "removed": changes.removed.total,
            "relabelled": changes.relabelled.total,
        },
    )
    return _changes_csv_lines(changes)


def _changes_csv_lines(changes: ExportChanges) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(CHANGES_CSV_COLUMNS)
    for name in ("added", "removed", "relabelled"):
        for row in getattr(changes, name).rows:
            yield line((name, row.image_sha256, row.split, row.label_before, row.label_after))
