import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage

from reviews.models import Case, TumourClass
from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.dicom import dicomfiles
from tests.tumorapp.scans import images
from tumorapp.audit.models import AuditEvent
from tumorapp.datasets import manifest
from tumorapp.datasets.models import DatasetExport, ExportItem
from tumorapp.datasets.selectors import export_changes
from tumorapp.datasets.services import export_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(media_dir, bob, alice, django_capture_on_commit_callbacks):
    """Three reviewed cases: one confirmed, two corrected (one with a name in its filename)."""
    single_reads_only()
    capture = django_capture_on_commit_callbacks
    cases = [
        upload(bob, "slice-1.png", images.png_bytes(96, 96, seed=1), capture),
        upload(bob, "Doe^John.png", images.png_bytes(96, 96, seed=2), capture),
        upload(bob, "slice-3.png", images.png_bytes(96, 96, seed=3), capture),
    ]
    read(cases[0], alice, cases[0].ai_label)
    read(cases[1], alice, "meningioma", reason="motion")
    read(cases[2], alice, "pituitary", reason="ambiguous")
    return cases


def _export(dave, capture, **choice) -> DatasetExport:
    with capture(execute=True):
        export = export_create(actor=dave, **choice)
    export.refresh_from_db()
    return export


def _zip(export) -> zipfile.ZipFile:
    with default_storage.open(export.file.name, "rb") as fh:
        return zipfile.ZipFile(io.BytesIO(fh.read()))


def test_an_export_is_an_imagefolder_with_manifests_and_a_card(
    site, dave, django_capture_on_commit_callbacks
):
    # when the data team exports every reviewed case
    export = _export(dave, django_capture_on_commit_callbacks)
    # then the job succeeded and the zip holds <split>/<label>/<id>.png for each case
    assert export.status == DatasetExport.Status.SUCCEEDED and export.total == 3
    zf = _zip(export)
    pngs = [n for n in zf.namelist() if n.endswith(".png")]
    assert len(pngs) == 3
    for name in pngs:
        split, label, _ = name.split("/")
        assert split in ("train", "val", "test") and label in TumourClass.values
    assert {"manifest.csv", "manifest.jsonl", "DATASET_CARD.md"} <= set(zf.namelist())
    rows = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
    by_label = {r["final_label"]: r for r in rows}
    corrected = by_label["meningioma"]
    assert corrected["corrected"] is True and corrected["correction_reasons"] == ["motion"]
    assert corrected["resolution"] == "single" and corrected["ai_shown_first"] is True
    assert corrected["model_version"] == "fake-1" and set(corrected["ai_probabilities"]) == {
        "glioma",
        "meningioma",
        "pituitary",
        "no_tumor",
    }
    assert (
        corrected["readers"][0]["role"] == "first" and len(corrected["readers"][0]["reader"]) == 12
    )
    assert corrected["uploaded_at"] and corrected["predicted_at"] and corrected["reviewed_at"]
    # the image in the zip is the one its row names, by hash
    assert hashlib.sha256(zf.read(corrected["path"])).hexdigest() == corrected["image_sha256"]
    # the CSV says the same
    csv_rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert {r["path"] for r in csv_rows} == {r["path"] for r in rows}
    # the version id is the hash of the sorted (sha256, label) list
    assert export.version_id == manifest.version_id(
        [(r["image_sha256"], r["final_label"]) for r in rows]
    )
    assert export.version_id in zf.read("DATASET_CARD.md").decode()
    assert AuditEvent.objects.filter(action="dataset.exported", target_id=str(export.public_id))


def test_no_direct_identifier_reaches_the_zip(
    site, bob, alice, dave, django_capture_on_commit_callbacks
):
    # given a DICOM slice whose header names the patient, reviewed like the others
    capture = django_capture_on_commit_callbacks
    dicom_case = upload(bob, "Doe^John.dcm", dicomfiles.from_shared_jpeg(0), capture)
    read(dicom_case, alice, "glioma")
    # when everything is exported
    export = _export(dave, capture)
    # then neither the filename's name nor any DICOM identifier appears in any member
    zf = _zip(export)
    assert len([n for n in zf.namelist() if n.endswith(".png")]) == 4
    blob = b"".join(zf.read(n) for n in zf.namelist())
    for text in (
        "Doe^John",
        "Doe",
        "slice-1",
        bob.username,
        alice.username,
        *dicomfiles.IDENTIFYING_TEXT,
    ):
        assert text.encode() not in blob, text
    for scan_id in Case.objects.values_list("scan__public_id", flat=True):
        assert str(scan_id).encode() not in blob


def test_a_later_export_names_its_parent_and_what_changed(
    site, bob, alice, dave, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = _export(dave, capture)
    # given one more reviewed case
    extra = upload(bob, "slice-4.png", images.png_bytes(96, 96, seed=4), capture)
    read(extra, alice, "no_tumor")
    # when exported again
    second = _export(dave, capture)
    # then the second names the first and the difference
    assert second.parent == first
    assert second.changes == {"added": 1, "removed": 0, "relabelled": 0}
    assert second.version_id != first.version_id
    # and every image kept its split
    before = dict(ExportItem.objects.filter(export=first).values_list("scan_id", "split"))
    after = dict(ExportItem.objects.filter(export=second).values_list("scan_id", "split"))
    assert all(after[k] == v for k, v in before.items())
    # the same cases again give the same version id
    third = _export(dave, capture)
    assert third.version_id == second.version_id and third.changes["added"] == 0


def test_the_choice_filters_cases(site, dave, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    corrected = _export(dave, capture, correction="corrected")
    assert corrected.total == 2
    pituitary = _export(dave, capture, labels=["pituitary"])
    assert pituitary.total == 1 and set(pituitary.counts[next(iter(pituitary.counts))]) == {
        "pituitary"
    }
    adjudicated = _export(dave, capture, resolutions=["adjudicated"])
    assert adjudicated.status == "succeeded" and adjudicated.total == 0


def test_near_duplicates_share_a_split_group():
    # given an index that knows one image's hash
    index = manifest.ClusterIndex([(0b1011, "cluster:a")], capacity=2)
    # then a hash three bits away joins its group, and one far away does not
    assert index.find(0b1011 ^ 0b111) == "cluster:a"
    assert index.find(-1) is None
    # and a group's split is a stable function of its key
    assert manifest.split_of("cluster:a") == manifest.split_of("cluster:a")
    splits = {manifest.split_of(f"cluster:{i}") for i in range(200)}
    assert splits == {"train", "val", "test"}


def test_a_type_unknown_tumour_is_exported_under_its_own_class_folder(
    site, bob, alice, dave, client_for, django_capture_on_commit_callbacks
):
    # given a reviewed case whose reader saw a tumour but could not name its type
    capture = django_capture_on_commit_callbacks
    unknown = read(
        upload(bob, "slice-5.png", images.png_bytes(96, 96, seed=5), capture),
        alice,
        "tumor_unknown",
        reason="ambiguous",
    )
    assert unknown.final_label == "tumor_unknown"
    # when the data team exports only such cases, then everything
    only = _export(dave, capture, labels=["tumor_unknown"])
    export = _export(dave, capture)
    assert only.total == 1 and export.total == 4
    # then its image lies in <split>/tumor_unknown/ and its manifest rows say so
    zf = _zip(export)
    rows = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
    (row,) = [r for r in rows if r["final_label"] == "tumor_unknown"]
    split, folder, _ = row["path"].split("/")
    assert folder == "tumor_unknown" and row["path"] in zf.namelist()
    assert row["ai_label"] in TumourClass.values and row["corrected"] is True
    csv_rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert [r["path"] for r in csv_rows if r["final_label"] == "tumor_unknown"] == [row["path"]]
    # and the export's counts, items and card count it
    assert export.counts[split]["tumor_unknown"] == 1
    assert ExportItem.objects.get(export=export, label="tumor_unknown").split == split
    card = zf.read("DATASET_CARD.md").decode()
    assert card == export.card
    header = next(line for line in card.splitlines() if line.startswith("| split |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[-2:] == ["tumor_unknown", "total"]
    line = next(line for line in card.splitlines() if line.startswith(f"| {split} |"))
    assert [c.strip() for c in line.strip("|").split("|")][columns.index("tumor_unknown")] == "1"
    # and what changed since the type-unknown-only export counts the class on both sides
    classes = {c.label: (c.before, c.after) for c in export_changes(export=export).classes}
    assert classes["tumor_unknown"] == (1, 1) and classes["glioma"][0] == 0
    # and the export's page lists the class
    page = client_for(dave).get(f"/datasets/{export.public_id}/").content.decode()
    assert "tumor_unknown" in page
