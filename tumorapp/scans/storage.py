"""The orphan-file sweep: stored files that no row names any more.

Files are written before the rows that name them (uploads, heat maps, export zips) and
deleted after the rows go (a failed upload, a rejected quarantine); a crash or a store that
refuses the delete in between leaves a file that nothing names. The sweep finds them through
the Storage API alone (listdir, get_modified_time, size, delete), so it works the same on
local files and on S3.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record

logger = logging.getLogger(__name__)

# Where the platform writes: scans/ (images, 16-bit pixels), dicom/ (de-identified files),
# heatmaps/, exports/ (dataset zips) and health/ (the health check's probe, deleted at once).
PREFIXES = ("scans", "dicom", "heatmaps", "exports", "health")
# A file younger than this may belong to an upload, a prediction or an export in flight
# whose row is not committed yet.
DEFAULT_AGE = timedelta(hours=24)
# How many names one "is it referenced now?" query checks, and how many deleted names the
# audit event lists.
_CHUNK = 500
_AUDITED_KEYS = 100


@dataclass(frozen=True)
class SweepResult:
    examined: int  # files under the prefixes
    orphaned: int  # of those, named by no row and older than the age
    deleted: int  # of those, deleted (none in a dry run)
    bytes: int  # size of the orphaned files


def storage_sweep(*, older_than: timedelta = DEFAULT_AGE, dry_run: bool = False) -> SweepResult:
    """Delete the stored files under PREFIXES that no row names and that are older than
    ``older_than``; a dry run only counts. A sweep that deleted anything is audited.

    1. Read every name the database holds in a file field (one query per field).
    2. List the prefixes; a file named in step 1 is kept without further ado.
    3. Of the others, keep those modified within ``older_than``.
    4. Look the old ones up again, since a row may have named one after step 1.
    5. Delete what is left (a file the store refuses to delete stays for the next sweep).
    """
    referenced = set(_referenced_names())
    cutoff = timezone.now() - older_than
    examined = 0
    candidates: dict[str, int] = {}  # name: size
    for name in _walk(PREFIXES):
        examined += 1
        if name in referenced:
            continue
        try:
            if default_storage.get_modified_time(name) >= cutoff:
                continue
            candidates[name] = default_storage.size(name)
        except Exception:
            # Deleted meanwhile (a rejected quarantine, say): local storage raises
            # FileNotFoundError, S3 a client error. Nothing to sweep either way.
            logger.warning("storage sweep: cannot read %s", name, exc_info=True)
    named_now = _referenced_now(list(candidates))
    orphans = {name: size for name, size in candidates.items() if name not in named_now}
    deleted = [] if dry_run else _delete(list(orphans))
    result = SweepResult(
        examined=examined, orphaned=len(orphans), deleted=len(deleted), bytes=sum(orphans.values())
    )
    logger.info("storage sweep%s: %s", " (dry run)" if dry_run else "", result)
    if deleted:
        audit_record(
            action=Action.STORAGE_SWEPT,
            target_type="storage",
            details={
                "older_than_hours": older_than.total_seconds() / 3600,
                "examined": result.examined,
                "orphaned": result.orphaned,
                "deleted": result.deleted,
                "bytes": result.bytes,
                "keys": sorted(deleted)[:_AUDITED_KEYS],
            },
        )
    return result


def _file_fields() -> list[tuple[type[models.Model], str]]:
    """Every file field of every model (ImageField included), so a new one is never missed."""
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.FileField)
    ]


def _referenced_names() -> Iterator[str]:
    for model, field in _file_fields():
        names = model._default_manager.exclude(**{field: ""}).values_list(field, flat=True)
        yield from names.iterator(chunk_size=5000)


def _referenced_now(names: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        for model, field in _file_fields():
            lookup = {f"{field}__in": chunk}
            found.update(model._default_manager.filter(**lookup).values_list(field, flat=True))
    return found


def _walk(paths: Iterable[str]) -> Iterator[str]:
    """Every file under ``paths``, depth first. A prefix nothing was written to yet is
    missing on local storage and merely empty on S3."""
    for path in paths:
        try:
            directories, files = default_storage.listdir(path)
        except FileNotFoundError:
            continue
        for name in sorted(files):
            if name not in ("", "."):
                yield posixpath.join(path, name)
        yield from _walk(posixpath.join(path, d) for d in sorted(directories))


def _delete(names: list[str]) -> list[str]:
    deleted = []
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:
            logger.exception("storage sweep: could not delete %s; left for the next sweep", name)
        else:
            deleted.append(name)
    return deleted
