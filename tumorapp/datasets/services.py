"""Dataset exports: create the job, build the zip on a worker, record downloads."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import shutil
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from reviews.labels import UNREADABLE
from reviews.models import Case, ReadLabel
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.core.jobs import JobLost, job_submit, job_succeed
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
    job_submit(export)
    return export


def export_build(*, export: DatasetExport) -> DatasetExport:
    """Build a claimed export's zip (tumorapp.core.jobs: the task claims the row and keeps
    its lease), streaming: images go one by one from storage into a zip in the export's
    scratch folder, which is then stored; memory holds one image and the rows' small
    summaries, never the data set.

    1. Clear what an earlier, killed attempt left (its scratch folder, its stored zip).
    2. For each matching case: read its stored PNG, give it a split group (patient key, or
       near-duplicate cluster kept in SplitGroup so later exports agree), write it to
       ``<split>/<label>/<scan id>.png`` and its manifest rows to CSV and JSONL.
    3. Version id from the sorted (sha256, label) list; parent = the latest earlier export;
       differences against it; the dataset card.
    4. Publish: store the zip under this attempt's own name, then mark the row succeeded in
       the transaction that writes its items, only while this worker still holds it; a
       worker that lost the job deletes its zip instead, so nothing is published twice.
    """
    export_discard(export=export)
    return _build(export)


def _scratch(export: DatasetExport) -> Path:
    return Path(settings.JOBS_SCRATCH_DIR) / f"export-{export.public_id}"


def _zip_key(export: DatasetExport, attempt: int) -> str:
    return f"exports/{export.public_id}.{attempt}.zip"


def export_discard(*, export: DatasetExport) -> None:
    """Delete what the unfinished attempts of ``export`` left: the scratch folder and the
    stored zips no succeeded row names (a worker killed half way through)."""
    shutil.rmtree(_scratch(export), ignore_errors=True)
    published = DatasetExport.objects.filter(pk=export.pk).values_list("file", flat=True).first()
    for attempt in range(1, max(export.attempts, 1) + 1):
        key = _zip_key(export, attempt)
        if key != published and default_storage.exists(key):
            default_storage.delete(key)


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
    scratch = _scratch(export)
    scratch.mkdir(parents=True)
    try:
        return _write(export, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write(export: DatasetExport, scratch: Path) -> DatasetExport:
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
    delay = settings.DATASETS_EXPORT_TEST_DELAY_SECONDS
    zip_path = scratch / "export.zip"
    csv_path, jsonl_path = scratch / "manifest.csv", scratch / "manifest.jsonl"
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
            if n % PROGRESS_EVERY == 0 or delay:
                DatasetExport.objects.filter(pk=export.pk).update(done=n)
            if delay:
                zf.fp.flush()
                time.sleep(delay)
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
        export.file = default_storage.save(_zip_key(export, export.attempts), File(fh))
    try:
        return _finish(export, items, new_groups)
    except JobLost:
        default_storage.delete(export.file.name)
        raise


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
    published = job_succeed(
        DatasetExport,
        job_id=export.pk,
        worker=export.worker,
        done=len(items),
        total=len(items),
        version_id=export.version_id,
        parent=export.parent,
        changes=export.changes,
        counts=export.counts,
        card=export.card,
        file=export.file.name,
        size_bytes=export.size_bytes,
        finished_at=export.finished_at,
    )
    if not published:
        raise JobLost(f"export {export.pk}: another worker holds it; this attempt is discarded")
    SplitGroup.objects.bulk_create(groups, batch_size=1000, ignore_conflicts=True)
    ExportItem.objects.bulk_create(items, batch_size=1000)
    export.status, export.done, export.total = Status.SUCCEEDED, len(items), len(items)
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
