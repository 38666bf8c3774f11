"""A DICOM upload through the API: predicted, on the worklist with its header window,
grouped into its study, exported de-identified (RELIABILITY 7); burned-in annotation
quarantined for an admin (RELIABILITY 8); every new endpoint refuses outsiders."""

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reviews.models import Case
from tests.factories import UserFactory
from tests.tumorapp.dicom import dicomfiles
from tests.tumorapp.scans.images import stored_files
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.scans.models import Scan, Series, Study

URL = "/api/v1/scans/"


def upload(api, data, name="IM0001.dcm"):
    return api.post(URL, {"files": [SimpleUploadedFile(name, data, "application/dicom")]})


def every_stored_byte(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dicom_upload_is_predicted_reviewable_and_exported_without_identifiers(
    bob, alice, api_for, client_for, media_dir
):
    # given a technologist and two slices of one series carrying every identifying attribute
    first = dicomfiles.from_shared_jpeg(0, instance=1)
    second = dicomfiles.identified_bytes(instance=2)
    # when both are uploaded through the API
    responses = [upload(api_for(bob), first, "DOE_JOHANNA_1.dcm"), upload(api_for(bob), second)]
    assert [r.status_code for r in responses] == [201, 201]
    scans = [Scan.objects.get(public_id=r.json()["results"][0]["scan"]["id"]) for r in responses]
    # then each is predicted (after commit)
    for scan in scans:
        scan.refresh_from_db()
        assert scan.status == Scan.Status.PREDICTED
        assert Prediction.objects.filter(scan=scan).count() == 1
        assert (scan.window_center, scan.window_width) == (600.0, 1200.0)
        assert scan.original_filename == ""  # DICOM file names often carry the patient's
    # and both slices are one study and one series, under replaced UIDs
    assert Study.objects.count() == 1 and Series.objects.count() == 1
    study = Study.objects.get()
    assert study.study_uid.startswith("2.25.") and study.study_uid != dicomfiles.STUDY_UID
    assert {s.series_id for s in scans} == {Series.objects.get().pk}
    # and the study is one case for the radiologists, keyed on one of its slices
    case = Case.objects.get()
    assert case.study == study and case.scan in scans
    # and no identifying text (not even the file name) reached storage
    blob = every_stored_byte(media_dir)
    for text in (*dicomfiles.IDENTIFYING_TEXT, "DOE_JOHANNA"):
        assert text.encode() not in blob, text
    # and the API tells the slice's study and header window
    detail = api_for(bob).get(f"{URL}{scans[1].public_id}/").json()
    assert detail["dicom"]["study"] == str(study.public_id)
    assert (detail["dicom"]["window_center"], detail["dicom"]["window_width"]) == (600, 1200)
    assert detail["dicom"]["dicom_url"] == f"{URL}{scans[1].public_id}/dicom/"
    # and the export (the access-checked download) is the de-identified file
    download = api_for(bob).get(f"{URL}{scans[0].public_id}/dicom/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    exported = b"".join(download.streaming_content)
    ds = pydicom.dcmread(io.BytesIO(exported))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert ds.StudyInstanceUID == study.study_uid and ds.PatientID == study.patient_key
    for text in dicomfiles.IDENTIFYING_TEXT:
        assert text.encode() not in exported, text
    assert AuditEvent.objects.filter(action=Action.SCAN_EXPORTED).count() == 1
    # and the radiologist's review screen gets the 16-bit pixels and the header's window
    page = client_for(alice).get(f"/worklist/cases/{case.public_id}/")
    html = page.content.decode()
    slice_url = f"/worklist/cases/{case.public_id}/slices/{scans[1].public_id}"
    assert f'data-pixels-url="{slice_url}/pixels/"' in html
    assert 'data-window-center="600"' in html and 'data-window-width="1200"' in html
    pixels = client_for(alice).get(f"/dicom/scans/{scans[1].public_id}/pixels/")
    assert pixels.status_code == 200 and pixels["Content-Type"] == "application/octet-stream"
    width, height = int(pixels["X-Image-Width"]), int(pixels["X-Image-Height"])
    values = np.frombuffer(pixels.content, dtype="<u2").reshape(height, width)
    modality = values * float(pixels["X-Pixel-Scale"]) + float(pixels["X-Pixel-Offset"])
    original = pydicom.dcmread(io.BytesIO(second)).pixel_array.astype(float) - 100
    assert np.array_equal(modality, original)


@pytest.mark.django_db
def test_a_multi_frame_file_becomes_slices_of_one_study_page(bob, api_for, client_for, media_dir):
    # given a file of three frames; when it is uploaded
    upload_api = api_for(bob)
    response = upload(upload_api, dicomfiles.multi_frame_bytes(3))
    # then it becomes three slices of one study
    assert response.status_code == 201
    assert response.json()["results"][0]["slices"] == 3
    assert Scan.objects.count() == 3
    frames = sorted(Scan.objects.values_list("frame_number", flat=True))
    assert frames == [1, 2, 3]
    # one de-identified file is stored for the three frames
    assert len([n for n in stored_files(media_dir) if n.endswith(".dcm")]) == 1
    study = Study.objects.get()
    page = client_for(bob).get(f"/dicom/studies/{study.public_id}/")
    assert page.status_code == 200
    assert page.content.decode().count("/scans/") >= 3
    # and each slice's page links its study and the de-identified download
    scan = Scan.objects.get(frame_number=2)
    detail = client_for(bob).get(f"/scans/{scan.public_id}/").content.decode()
    assert f"/dicom/studies/{study.public_id}/" in detail
    assert f"/dicom/scans/{scan.public_id}/dicom/" in detail
    # the same file again is a duplicate, nothing new stored
    again = upload(upload_api, dicomfiles.multi_frame_bytes(3))
    assert again.json()["results"][0]["status"] == "duplicate"
    assert Scan.objects.count() == 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    "build",
    [
        lambda: dicomfiles.identified_bytes(burned_in="YES"),
        lambda: dicomfiles.identified_bytes(
            sop_class=pydicom.uid.SecondaryCaptureImageStorage, burned_in=None
        ),
    ],
    ids=["BurnedInAnnotation YES", "Secondary Capture"],
)
def test_burned_in_annotation_is_quarantined_not_a_case(
    build, bob, alice, carol, api_for, client_for
):
    # given a slice whose header says text is burned into the pixels; when it is uploaded
    response = upload(api_for(bob), build())
    assert response.status_code == 201
    assert "quarantine" in response.json()["results"][0]["message"]
    scan = Scan.objects.get()
    # then it is quarantined: no inference run, no prediction, no case
    assert scan.status == Scan.Status.QUARANTINED and scan.status_reason
    assert not InferenceRun.objects.exists() and not Case.objects.exists()
    # and radiologists do not see it anywhere; the uploader sees it as quarantined
    assert client_for(alice).get("/worklist/").content.count(str(scan.public_id).encode()) == 0
    assert api_for(alice).get(f"{URL}{scan.public_id}/").status_code == 404
    assert api_for(alice).get(f"{URL}{scan.public_id}/pixels/").status_code == 404
    assert api_for(bob).get(f"{URL}{scan.public_id}/").json()["status"] == "quarantined"
    # and the admin's quarantine page lists it with its image
    page = client_for(carol).get("/dicom/quarantine/")
    assert str(scan.public_id) in page.content.decode()
    image = client_for(carol).get(f"/dicom/quarantine/{scan.public_id}/image/")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_admin_releases_a_quarantined_slice_to_the_worklist(bob, carol, api_for, client_for):
    upload(api_for(bob), dicomfiles.identified_bytes(burned_in="YES"))
    scan = Scan.objects.get()
    # when the admin releases it
    response = client_for(carol).post(
        f"/dicom/quarantine/{scan.public_id}/", {"decision": "release"}
    )
    assert response.status_code == 302
    # then the model reads it and it becomes a case; the decision is audited once
    scan.refresh_from_db()
    assert scan.status == Scan.Status.PREDICTED
    assert Case.objects.filter(scan=scan).exists()
    released = AuditEvent.objects.filter(action=Action.SCAN_RELEASED)
    assert released.count() == 1 and released.get().actor == carol


@pytest.mark.django_db
def test_an_admin_rejects_a_quarantined_slice_and_its_files_go(
    bob, carol, api_for, client_for, media_dir, django_capture_on_commit_callbacks
):
    upload(api_for(bob), dicomfiles.identified_bytes(burned_in="YES"))
    scan = Scan.objects.get()
    assert stored_files(media_dir)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(carol).post(
            f"/dicom/quarantine/{scan.public_id}/", {"decision": "reject", "confirm": "yes"}
        )
    assert not Scan.objects.exists() and not Study.objects.exists()
    assert stored_files(media_dir) == []
    rejected = AuditEvent.objects.get(action=Action.SCAN_REJECTED)
    assert rejected.target_id == str(scan.public_id) and rejected.actor == carol
    # a second decision on the same slice finds nothing
    again = client_for(carol).post(
        f"/dicom/quarantine/{scan.public_id}/", {"decision": "reject", "confirm": "yes"}
    )
    assert again.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("decision", ["release", "reject"])
def test_a_decision_covers_every_frame_of_a_quarantined_file(
    decision, bob, carol, api_for, client_for, media_dir, django_capture_on_commit_callbacks
):
    # given a three-frame file whose header says text is burned in
    upload(api_for(bob), dicomfiles.multi_frame_bytes(3, burned_in="YES"))
    assert Scan.objects.filter(status=Scan.Status.QUARANTINED).count() == 3
    # then the quarantine page shows it once, as one file of three frames
    page = client_for(carol).get("/dicom/quarantine/").content.decode()
    assert page.count('class="card quarantine-item"') == 1 and "3 frames" in page
    # when the admin decides on the frame shown
    shown = Scan.objects.get(frame_number=1)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(carol).post(
            f"/dicom/quarantine/{shown.public_id}/", {"decision": decision, "confirm": "yes"}
        )
    # then all three frames follow the decision, each audited once
    if decision == "release":
        assert not Scan.objects.filter(status=Scan.Status.QUARANTINED).exists()
        assert InferenceRun.objects.count() == 3
        assert AuditEvent.objects.filter(action=Action.SCAN_RELEASED).count() == 3
    else:
        assert not Scan.objects.exists() and stored_files(media_dir) == []
        assert AuditEvent.objects.filter(action=Action.SCAN_REJECTED).count() == 3


@pytest.mark.django_db
def test_outsiders_get_nothing_from_the_dicom_endpoints(users, bob, api_for, client_for):
    # given a DICOM scan uploaded by bob and one in quarantine
    upload(api_for(bob), dicomfiles.identified_bytes(instance=1))
    upload(api_for(bob), dicomfiles.identified_bytes(instance=2, burned_in="YES"))
    normal = Scan.objects.get(status=Scan.Status.QUEUED)
    held = Scan.objects.get(status=Scan.Status.QUARANTINED)
    study = normal.series.study
    other_tech = UserFactory(username="tom", role=Role.TECHNOLOGIST)
    for user in (users["data_team"], users["none"], other_tech):
        assert api_for(user).get(f"{URL}{normal.public_id}/dicom/").status_code in (403, 404)
        assert api_for(user).get(f"{URL}{normal.public_id}/pixels/").status_code in (403, 404)
        client = client_for(user)
        for url in (
            f"/dicom/scans/{normal.public_id}/dicom/",
            f"/dicom/scans/{normal.public_id}/pixels/",
            f"/dicom/studies/{study.public_id}/",
            "/dicom/quarantine/",
            f"/dicom/quarantine/{held.public_id}/image/",
        ):
            assert client.get(url).status_code in (403, 404), (user, url)
        client.logout()
    # and no one but an admin may decide on a quarantined slice
    for user in (users["radiologist"], users["technologist"], users["data_team"]):
        response = client_for(user).post(
            f"/dicom/quarantine/{held.public_id}/", {"decision": "release"}
        )
        assert response.status_code in (403, 404)
    held.refresh_from_db()
    assert held.status == Scan.Status.QUARANTINED
