"""manage.py demo_scans: the embedded site starts with a small worklist, uploaded through the
real upload service as the demo technologist, once."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reviews.models import Case
from tests.tumorapp.scans.images import jpeg_bytes, stored_files
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.scans.models import Scan, Series, Study

CLASSES = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")


@pytest.fixture(autouse=True)
def media_dir(settings, tmp_path):
    """Each test stores files in its own empty folder, so "nothing stored" can be checked."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root, "file_permissions_mode": 0o640},
        },
    }
    return root


@pytest.fixture
def data_set(tmp_path) -> Path:
    """The shared data set's layout in miniature: <split>/<class>/*.jpg, every file distinct."""
    root = tmp_path / "data"
    for c, name in enumerate(CLASSES):
        for split, count in (("Training", 1), ("Testing", 6)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                seed = 100 * c + 10 * (split == "Training") + i
                (folder / f"image({i}).jpg").write_bytes(jpeg_bytes(48, 48, seed=seed))
    return root


def demo_scans(**options) -> str:
    out = StringIO()
    call_command("demo_scans", stdout=out, **options)
    return out.getvalue()


# Transactional: each upload commits on its own, and its in-process prediction runs on commit,
# as under `make run`.
@pytest.mark.django_db(transaction=True)
def test_demo_scans_fill_the_worklist_once(settings, data_set, media_dir):
    # given the embedded site with its demo users and no scans
    settings.EMBEDDED = True
    call_command("create_demo_users", stdout=StringIO())
    # when demo_scans runs
    output = demo_scans(data=data_set)
    # then two JPEG slices per class (the first by name) and a three-slice DICOM study were
    # uploaded by the demo technologist, audited and predicted
    jpegs = Scan.objects.filter(source_format=Scan.Format.JPEG)
    assert sorted(jpegs.values_list("original_filename", flat=True)) == sorted(
        ["image(0).jpg", "image(1).jpg"] * len(CLASSES)
    )
    dicom = Scan.objects.filter(source_format=Scan.Format.DICOM)
    assert dicom.count() == 3
    assert set(Scan.objects.values_list("uploaded_by__username", flat=True)) == {"technologist"}
    assert set(Scan.objects.values_list("status", flat=True)) == {Scan.Status.PREDICTED}
    assert AuditEvent.objects.filter(action=Action.SCAN_UPLOADED).count() == 11
    # and the DICOM slices are one study and one series, numbered, its fake patient removed
    assert Study.objects.count() == 1 and Series.objects.count() == 1
    assert sorted(dicom.values_list("instance_number", flat=True)) == [1, 2, 3]
    assert set(dicom.values_list("series__study", flat=True)) == {Study.objects.get().pk}
    assert {(s.window_center, s.window_width) for s in dicom} == {(1948.0, 4096.0)}
    stored = b"".join((media_dir / name).read_bytes() for name in stored_files(media_dir))
    assert b"Demo^Patient" not in stored and b"DEMO-0001" not in stored
    # and the radiologists' worklist holds one case per JPEG slice and one for the study
    open_cases = Case.objects.exclude(status=Case.Status.DONE)
    assert open_cases.count() == 9
    assert open_cases.filter(study=Study.objects.get()).count() == 1
    lines = output.splitlines()
    assert sum(" created " in line for line in lines) == 11
    assert lines[-1] == "demo scans: 11 scans (1 DICOM study), 9 cases on the worklist"

    # when it runs again (every `make run` calls it)
    again = demo_scans(data=data_set)
    # then it uploads nothing and says so
    assert "already has scans" in again
    assert Scan.objects.count() == 11 and Case.objects.count() == 9


@pytest.mark.django_db
def test_demo_scans_without_the_data_set_leave_the_site_empty(settings, tmp_path, media_dir):
    settings.EMBEDDED = True
    call_command("create_demo_users", stdout=StringIO())
    output = demo_scans(data=tmp_path / "nowhere")
    assert output.startswith("demo scans: no data set at ")
    assert output.count("\n") == 1
    assert not Scan.objects.exists() and stored_files(media_dir) == []


@pytest.mark.django_db
def test_demo_scans_are_refused_on_a_real_deployment(settings, data_set):
    settings.EMBEDDED = False
    with pytest.raises(CommandError, match="embedded"):
        demo_scans(data=data_set)
    assert not Scan.objects.exists()


@pytest.mark.django_db
def test_demo_scans_need_the_demo_technologist(settings, data_set):
    settings.EMBEDDED = True
    with pytest.raises(CommandError, match="create_demo_users"):
        demo_scans(data=data_set)
    assert not Scan.objects.exists()
