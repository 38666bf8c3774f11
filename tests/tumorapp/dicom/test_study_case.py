"""A DICOM study is one worklist case with its slices (issue 8): the most urgent slice keys
the case, the reader moves through every slice, the read names the slice that shows the
finding, and the export labels that slice. Slices arriving after the report open a new case.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from reviews.models import Case, Review, SiteOptions
from reviews.selectors import case_slices
from reviews.services import case_open_for_prediction, review_submit
from tests.factories import PredictionFactory, ScanFactory, UserFactory
from tests.reviews.test_concurrency import all_at_once
from tests.tumorapp.datasets.reviewed import single_reads_only
from tests.tumorapp.dicom import dicomfiles
from tests.tumorapp.registry.conftest import write_model_folder
from tumorapp.accounts.roles import Role
from tumorapp.datasets.services import export_create
from tumorapp.inference.models import InferenceRun
from tumorapp.registry.services import (
    model_promote,
    model_register,
    rescore_create,
)
from tumorapp.registry.tasks import rescore
from tumorapp.scans.models import Scan, Series, Study
from tumorapp.scans.services import scan_upload

OTHER_SERIES = dicomfiles.SERIES_UID + ".2"


def slice_bytes(level: int, instance: int, series_uid: str = dicomfiles.SERIES_UID) -> bytes:
    """A 16-bit slice whose disc is ``level`` above the background: the test predictor's
    P(tumour) is the 8-bit image's mean brightness, so a brighter disc is more urgent."""
    yy, xx = np.mgrid[0:64, 0:64]
    disc = ((yy - 32) ** 2 + (xx - 32) ** 2) < 26**2
    pixels = (100 + 60 * ((xx + yy) % 2) + disc * level).astype(np.uint16)
    return dicomfiles.identified_bytes(pixels=pixels, instance=instance, series_uid=series_uid)


def upload(user, capture, data: bytes) -> Scan:
    with capture(execute=True):
        outcome = scan_upload(uploaded_by=user, filename="IM.dcm", data=data)
    assert outcome.scan is not None, outcome.error
    return outcome.scan


def claim(case: Case, reader) -> Case:
    Case.objects.filter(pk=case.pk).update(
        claimed_by=reader, lease_expires_at=timezone.now() + timedelta(minutes=10)
    )
    case.refresh_from_db()
    return case


@pytest.fixture
def study_upload(bob, django_capture_on_commit_callbacks):
    """Four slices of one study in two series, uploaded out of order; the bright one is
    instance 2 of the first series."""
    capture = django_capture_on_commit_callbacks
    scans = {
        "s1-i3": upload(bob, capture, slice_bytes(200, 3)),
        "s1-i1": upload(bob, capture, slice_bytes(100, 1)),
        "s1-i2": upload(bob, capture, slice_bytes(900, 2)),
        "s2-i1": upload(bob, capture, slice_bytes(300, 1, OTHER_SERIES)),
    }
    return scans


@pytest.mark.django_db
def test_the_slices_of_a_study_are_one_case_keyed_on_the_most_urgent_slice(
    study_upload, alice, client_for
):
    # given four slices of one study, each predicted
    assert Study.objects.count() == 1 and Series.objects.count() == 2
    assert Scan.objects.filter(status=Scan.Status.PREDICTED).count() == 4
    # then they are one case, whose key slice and AI answer are the brightest slice's
    case = Case.objects.get()
    assert case.study == Study.objects.get()
    assert case.scan == study_upload["s1-i2"]
    assert case.prediction.scan == study_upload["s1-i2"]
    # and the case covers every slice, in series then instance order
    order = [s.pk for s in case_slices(case=case)]
    first_series = Series.objects.get(scans=study_upload["s1-i1"])
    expected = ["s1-i1", "s1-i2", "s1-i3", "s2-i1"]
    if first_series.pk > Series.objects.get(scans=study_upload["s2-i1"]).pk:
        expected = ["s2-i1", "s1-i1", "s1-i2", "s1-i3"]
    assert order == [study_upload[k].pk for k in expected]
    # and the worklist shows one row for the study with its slice count
    worklist = client_for(alice).get("/worklist/").content.decode()
    assert worklist.count(f"/worklist/cases/{case.public_id}/") == 1
    assert "Study · 4 slices" in worklist


@pytest.mark.django_db
def test_the_review_screen_moves_through_the_slices_with_their_own_windows_and_heat_maps(
    study_upload, alice, client_for
):
    case = claim(Case.objects.get(), alice)
    page = client_for(alice).get(f"/worklist/cases/{case.public_id}/")
    html = page.content.decode()
    # every slice is a button with its own 16-bit pixels, header window and heat map
    for scan in study_upload.values():
        base = f"/worklist/cases/{case.public_id}/slices/{scan.public_id}"
        assert f'data-pixels-url="{base}/pixels/"' in html
        assert f'data-heatmap-url="{base}/heatmap/"' in html
    assert html.count('data-window-center="600"') == 4
    assert html.count('class="slice-chip key"') == 1
    # the viewer starts on the key slice, and the read form carries the key slice
    assert f'data-start="{page.context["start_slice"]}"' in html
    assert page.context["slices"][page.context["start_slice"]].scan == case.scan
    assert 'name="key_slice"' in html
    # each slice's files come through the case
    client = client_for(alice)
    for scan in study_upload.values():
        base = f"/worklist/cases/{case.public_id}/slices/{scan.public_id}"
        pixels = client.get(f"{base}/pixels/")
        assert pixels.status_code == 200 and int(pixels["X-Image-Width"]) == 64
        assert client.get(f"{base}/image/").status_code == 200
        assert client.get(f"{base}/heatmap/").status_code == 200


@pytest.mark.django_db
def test_a_slice_of_another_case_is_not_served_through_this_one(study_upload, alice, client_for):
    case = Case.objects.get()
    other = case_open_for_prediction(prediction=PredictionFactory())
    for kind in ("image", "pixels", "heatmap"):
        url = f"/worklist/cases/{case.public_id}/slices/{other.scan.public_id}/{kind}/"
        assert client_for(alice).get(url).status_code == 404


@pytest.mark.django_db
def test_a_blind_reader_starts_on_the_first_slice_without_per_slice_answers(
    study_upload, alice, client_for
):
    options = SiteOptions.current()
    options.blind_first_read = True
    options.save()
    case = claim(Case.objects.get(), alice)
    page = client_for(alice).get(f"/worklist/cases/{case.public_id}/")
    html = page.content.decode()
    assert page.context["start_slice"] == 0
    assert "data-heatmap-url" not in html and "<meter" not in html
    assert 'class="slice-chip key"' not in html
    scan = study_upload["s1-i2"]
    url = f"/worklist/cases/{case.public_id}/slices/{scan.public_id}/heatmap/"
    assert client_for(alice).get(url).status_code == 404


@pytest.mark.django_db
def test_the_read_names_its_key_slice_and_the_export_labels_that_slice(
    study_upload, alice, dave, django_capture_on_commit_callbacks
):
    single_reads_only()
    case = claim(Case.objects.get(), alice)
    elsewhere = ScanFactory()
    # a key slice outside the case is refused, and nothing is recorded
    with pytest.raises(ValidationError) as refused:
        review_submit(
            case=case,
            reader=alice,
            label="meningioma",
            reason="other",
            key_slice=elsewhere.public_id,
        )
    assert "key_slice" in refused.value.message_dict
    assert not Review.objects.exists()
    # the reader's finding is on the second series' slice, not on the AI's key slice
    key = study_upload["s2-i1"]
    review = review_submit(
        case=case, reader=alice, label="meningioma", reason="other", key_slice=key.public_id
    )
    assert review.key_scan == key
    case.refresh_from_db()
    assert case.status == Case.Status.DONE and case.scan == study_upload["s1-i2"]
    # the export labels the slice the reader named, with no identifying text
    with django_capture_on_commit_callbacks(execute=True):
        export = export_create(actor=dave)
    export.refresh_from_db()
    with default_storage.open(export.file.name, "rb") as fh:
        blob = fh.read()
    zf = zipfile.ZipFile(io.BytesIO(blob))
    rows = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
    assert len(rows) == 1 and rows[0]["final_label"] == "meningioma"
    with default_storage.open(key.image.name, "rb") as fh:
        assert zf.read(rows[0]["path"]) == fh.read()
    assert rows[0]["source_format"] == "dicom"
    everything = blob + b"".join(zf.read(n) for n in zf.namelist())
    for text in dicomfiles.IDENTIFYING_TEXT:
        assert text.encode() not in everything, text


@pytest.mark.django_db
def test_slices_after_the_report_open_a_new_case_of_the_study(
    study_upload, bob, alice, django_capture_on_commit_callbacks
):
    single_reads_only()
    capture = django_capture_on_commit_callbacks
    first = claim(Case.objects.get(), alice)
    review_submit(case=first, reader=alice, label=first.ai_label)
    first.refresh_from_db()
    # a slice uploaded before the report and predicted again (say by a new model) opens nothing
    old = study_upload["s1-i1"]
    again = case_open_for_prediction(
        prediction=PredictionFactory(run__scan=old, p_tumor=0.99, label="glioma")
    )
    assert again == first and Case.objects.count() == 1
    # a slice uploaded after the report opens a second case of the study, covering it alone
    late = upload(bob, capture, slice_bytes(500, 4))
    assert Case.objects.count() == 2
    second = Case.objects.exclude(pk=first.pk).get()
    assert second.study_id == first.study_id and second.scan == late
    assert list(case_slices(case=second)) == [late]
    assert len(case_slices(case=first)) == 4


@pytest.mark.django_db
def test_a_new_prediction_re_ranks_a_waiting_study_case_but_not_a_read_one(study_upload, alice):
    case = Case.objects.get()
    calm = study_upload["s1-i3"]
    # a newer model finds a slice more suspicious than the key slice: the case follows it
    newer = PredictionFactory(run__scan=calm, p_tumor=0.99, label="pituitary")
    case_open_for_prediction(prediction=newer)
    case.refresh_from_db()
    assert (case.scan, case.prediction, case.ai_label) == (calm, newer, "pituitary")
    # once read, it keeps what the reader saw
    options = SiteOptions.current()
    options.double_read_rate = 1.0
    options.save()
    case = claim(case, alice)
    review_submit(case=case, reader=alice, label="pituitary")
    later = PredictionFactory(run__scan=study_upload["s1-i1"], p_tumor=1.0, label="glioma")
    case_open_for_prediction(prediction=later)
    case.refresh_from_db()
    assert case.status == Case.Status.SECOND_READ and case.prediction == newer


@pytest.mark.django_db
def test_the_api_gives_a_study_case_with_its_slices_and_takes_a_key_slice(
    study_upload, alice, api_for
):
    single_reads_only()
    api = api_for(alice)
    claimed = api.post("/api/v1/reviews/next/")
    assert claimed.status_code == 200
    body = claimed.json()["case"]
    case = Case.objects.get()
    assert body["study"] == str(case.study.public_id)
    assert body["scan"] == str(case.scan.public_id)
    assert sorted(body["slices"]) == sorted(str(s.public_id) for s in study_upload.values())
    url = f"/api/v1/reviews/cases/{case.public_id}/review/"
    bad = api.post(url, {"label": case.ai_label, "key_slice": str(ScanFactory().public_id)})
    assert bad.status_code == 400 and "key_slice" in json.dumps(bad.json())
    key = study_upload["s1-i3"]
    done = api.post(url, {"label": case.ai_label, "key_slice": str(key.public_id)})
    assert done.status_code == 201 and done.json()["key_slice"] == str(key.public_id)


@pytest.mark.django_db
def test_re_scoring_a_waiting_study_case_re_reads_every_slice(study_upload, carol, tmp_path):
    # given an active version that has not read the waiting study
    version = model_promote(model=model_register(path=write_model_folder(tmp_path, "v9")))
    before = InferenceRun.objects.order_by("-pk").values_list("pk", flat=True).first()
    # when an admin re-scores
    job = rescore_create(actor=carol)
    rescore.apply(args=[job.pk])
    # then every slice of the study is queued for the version, not only the key slice
    job.refresh_from_db()
    assert job.total == 4
    queued = InferenceRun.objects.filter(pk__gt=before)
    assert sorted(queued.values_list("scan_id", flat=True)) == sorted(
        s.pk for s in study_upload.values()
    )
    assert version.status == "active"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_slices_of_one_study_predicted_at_once_open_one_case():
    # given eight slices of one study, predicted by eight workers at the same instant
    uploader = UserFactory(role=Role.TECHNOLOGIST)
    study = Study.objects.create(study_uid="2.25.1", patient_key="k")
    series = Series.objects.create(study=study, series_uid="2.25.2")
    predictions = [
        PredictionFactory(
            run__scan=ScanFactory(uploaded_by=uploader, series=series, instance_number=i),
            p_tumor=0.1 * i,
        )
        for i in range(1, 9)
    ]
    all_at_once(predictions, lambda p: case_open_for_prediction(prediction=p))
    # then no worker failed, and there is one case, keyed on the most urgent slice
    case = Case.objects.get()
    assert case.study == study and case.prediction == predictions[-1]
    assert InferenceRun.objects.count() == 8


@pytest.mark.django_db
def test_a_slice_with_a_case_of_its_own_from_before_study_cases_keeps_it():
    # given a DICOM slice whose case was opened one per slice (before study cases)
    study = Study.objects.create(study_uid="2.25.7", patient_key="k")
    series = Series.objects.create(study=study, series_uid="2.25.8")
    scan = ScanFactory(series=series, instance_number=1)
    legacy = case_open_for_prediction(prediction=PredictionFactory(run__scan=ScanFactory()))
    Case.objects.filter(pk=legacy.pk).update(scan=scan)
    # when a newer model predicts it, its own case is re-ranked and no study case opens
    newer = PredictionFactory(run__scan=scan, p_tumor=0.97, label="meningioma")
    assert case_open_for_prediction(prediction=newer).pk == legacy.pk
    assert Case.objects.filter(study=study).count() == 0
    legacy.refresh_from_db()
    assert legacy.prediction == newer and legacy.ai_label == "meningioma"


@pytest.mark.django_db
def test_each_slice_carries_its_pixel_spacing_to_the_viewers_ruler(
    bob, alice, client_for, api_for, django_capture_on_commit_callbacks
):
    # given a slice whose header says 0.9 mm between rows and 0.7 mm between columns
    ds = dicomfiles.identified_dataset(instance=1)
    ds.PixelSpacing = [0.9, 0.7]
    scan = upload(bob, django_capture_on_commit_callbacks, dicomfiles.to_bytes(ds))
    # then the slice keeps it, and its button on the review screen gives it to the viewer
    assert (scan.pixel_spacing_row, scan.pixel_spacing_col) == (0.9, 0.7)
    case = claim(Case.objects.get(), alice)
    html = client_for(alice).get(f"/worklist/cases/{case.public_id}/").content.decode()
    assert 'data-pixel-spacing="0.9 0.7"' in html
    # and the scans API gives it
    body = api_for(bob).get(f"/api/v1/scans/{scan.public_id}/").json()
    assert body["dicom"]["pixel_spacing"] == [0.9, 0.7]
