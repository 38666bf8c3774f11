"""storage_sweep deletes stored files that no row names once they are older than the age,
keeps named and young files, counts without deleting in a dry run, audits what it deleted,
and runs daily from beat."""

import os
import time
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import CommandError, call_command

from tests.factories import PredictionFactory, ScanFactory, UserFactory
from tests.tumorapp.scans.images import stored_files
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.datasets.models import DatasetExport
from tumorapp.scans.storage import SweepResult, storage_sweep
from tumorapp.scans.tasks import sweep_storage

DAY = 24 * 60 * 60


def store(media_dir, name: str, *, age_s: float, content: bytes = b"x" * 10) -> str:
    """Store a file and make it ``age_s`` seconds old (its modified time, as the sweep reads
    it), so the age check needs no waiting."""
    saved = default_storage.save(name, ContentFile(content))
    assert saved == name
    then = time.time() - age_s
    os.utime(media_dir / name, (then, then))
    return name


@pytest.fixture
def referenced(media_dir):
    """Old files that rows name: a DICOM scan's three files, a heat map, an export zip."""
    scan = ScanFactory(
        source_format="dicom",
        dicom_file="dicom/ab/ab12.dcm",
        pixels16="scans/00/0001.u16.png",
    )
    PredictionFactory(run__scan=scan, heatmap="heatmaps/cd/cd34.png")
    export = DatasetExport.objects.create(
        created_by=UserFactory(), status="succeeded", file="exports/e1.zip"
    )
    names = [
        scan.image.name,
        scan.dicom_file.name,
        scan.pixels16.name,
        "heatmaps/cd/cd34.png",
        export.file.name,
    ]
    for name in names:
        store(media_dir, name, age_s=3 * DAY)
    return sorted(names)


@pytest.mark.django_db
def test_old_unnamed_files_go_and_named_or_young_ones_stay(media_dir, referenced):
    # given old files no row names under every prefix, a young one (an upload in flight),
    # and an old file outside the platform's prefixes
    orphans = [
        store(media_dir, "scans/ff/ff99.png", age_s=2 * DAY, content=b"a" * 100),
        store(media_dir, "dicom/ee/ee88.dcm", age_s=2 * DAY, content=b"b" * 200),
        store(media_dir, "heatmaps/dd/dd77.png", age_s=2 * DAY, content=b"c" * 300),
        store(media_dir, "exports/old.zip", age_s=2 * DAY, content=b"d" * 400),
        store(media_dir, "health/probe", age_s=2 * DAY, content=b"e" * 5),
    ]
    young = store(media_dir, "scans/aa/aa11.png", age_s=60 * 60)
    elsewhere = store(media_dir, "other/keep.txt", age_s=30 * DAY)
    # when the sweep runs with the default age (24 h)
    result = storage_sweep()
    # then exactly the old unnamed files under the prefixes are gone, and counted
    assert result == SweepResult(examined=11, orphaned=5, deleted=5, bytes=1005)
    assert stored_files(media_dir) == sorted([*referenced, young, elsewhere])
    for name in orphans:
        assert not default_storage.exists(name)
    # and one audit event, without a user, names what went
    event = AuditEvent.objects.get(action=Action.STORAGE_SWEPT)
    assert event.actor is None and event.target_type == "storage"
    assert event.details["deleted"] == 5 and event.details["bytes"] == 1005
    assert event.details["keys"] == sorted(orphans)


@pytest.mark.django_db
def test_the_age_is_the_callers(media_dir):
    # given an unnamed file two hours old
    name = store(media_dir, "scans/ab/ab.png", age_s=2 * 60 * 60)
    # then a sweep of files older than three hours keeps it, one of an hour deletes it
    assert storage_sweep(older_than=timedelta(hours=3)).deleted == 0
    assert default_storage.exists(name)
    assert storage_sweep(older_than=timedelta(hours=1)).deleted == 1
    assert not default_storage.exists(name)


@pytest.mark.django_db
def test_a_file_named_after_the_sweep_read_the_names_stays(media_dir, referenced, monkeypatch):
    # given files a row names, where the row came after the sweep read the names
    monkeypatch.setattr("tumorapp.scans.storage._referenced_names", lambda: iter(()))
    # then the sweep looks the old files up again before it deletes them, and keeps them
    assert storage_sweep().deleted == 0
    assert stored_files(media_dir) == referenced


@pytest.mark.django_db
def test_a_file_the_store_will_not_delete_stays_for_the_next_sweep(media_dir):
    # given two old orphans, one of which the store refuses to delete
    stuck = store(media_dir, "scans/aa/stuck.png", age_s=2 * DAY)
    store(media_dir, "scans/bb/gone.png", age_s=2 * DAY)
    real_delete = FileSystemStorage.delete

    def delete(self, name):
        if name == stuck:
            raise PermissionError(13, "Permission denied")
        real_delete(self, name)

    # when the sweep runs, then it deletes the other and reports both
    with mock.patch.object(FileSystemStorage, "delete", delete):
        result = storage_sweep()
    assert (result.orphaned, result.deleted) == (2, 1)
    assert stored_files(media_dir) == [stuck]
    assert AuditEvent.objects.get(action=Action.STORAGE_SWEPT).details["keys"] == [
        "scans/bb/gone.png"
    ]


@pytest.mark.django_db
def test_a_dry_run_counts_and_deletes_nothing(media_dir, referenced):
    # given an old unnamed file
    orphan = store(media_dir, "scans/ff/ff99.png", age_s=2 * DAY, content=b"a" * 100)
    before = stored_files(media_dir)
    # when the sweep runs dry
    result = storage_sweep(older_than=timedelta(hours=24), dry_run=True)
    # then it counts the orphan, deletes nothing and audits nothing
    assert result == SweepResult(examined=6, orphaned=1, deleted=0, bytes=100)
    assert stored_files(media_dir) == before and default_storage.exists(orphan)
    assert not AuditEvent.objects.filter(action=Action.STORAGE_SWEPT).exists()


@pytest.mark.django_db
def test_nothing_to_sweep_is_not_audited(media_dir, referenced):
    # given an empty store except for named files (and prefixes never written to)
    assert storage_sweep() == SweepResult(examined=5, orphaned=0, deleted=0, bytes=0)
    assert stored_files(media_dir) == referenced
    assert not AuditEvent.objects.filter(action=Action.STORAGE_SWEPT).exists()


@pytest.mark.django_db
def test_the_command_prints_the_counts(media_dir):
    store(media_dir, "scans/ff/ff99.png", age_s=2 * DAY, content=b"a" * 100)
    out = StringIO()
    call_command("storage_sweep", "--dry-run", "--older-than-hours", "24", stdout=out)
    assert out.getvalue().strip() == (
        "examined 1, orphaned 1, deleted 0, bytes 100 (dry run: nothing deleted)"
    )
    assert stored_files(media_dir) == ["scans/ff/ff99.png"]
    out = StringIO()
    call_command("storage_sweep", stdout=out)
    assert out.getvalue().strip() == "examined 1, orphaned 1, deleted 1, bytes 100"
    assert stored_files(media_dir) == []


def test_the_command_refuses_an_age_below_an_hour():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("storage_sweep", "--older-than-hours", "0")


@pytest.mark.django_db
def test_beat_runs_the_sweep_daily_on_the_default_queue(settings, media_dir):
    entry = settings.CELERY_BEAT_SCHEDULE["storage-sweep"]
    assert entry == {"task": sweep_storage.name, "schedule": DAY}
    assert settings.CELERY_TASK_ROUTES[sweep_storage.name] == {"queue": "default"}
    # and the task sweeps with the default age
    store(media_dir, "scans/ff/old.png", age_s=DAY + 60 * 60)
    store(media_dir, "scans/ff/new.png", age_s=DAY - 60 * 60)
    assert sweep_storage.apply().get() == 1
    assert stored_files(media_dir) == ["scans/ff/new.png"]
