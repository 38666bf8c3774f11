"""scan_upload stores the frames of a multi-frame DICOM file all or none: when one frame
fails (in the store, at its insert, at the commit) no frame is kept, no task is sent, every
file the upload wrote is deleted, files stored before it stay, and the uploader is told."""

from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError

from tests.tumorapp.dicom import dicomfiles
from tests.tumorapp.scans.images import stored_files
from tumorapp.accounts.models import User
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.inference import services as inference_services
from tumorapp.inference.models import InferenceRun
from tumorapp.inference.tasks import predict_run
from tumorapp.scans.ingest import ingest_slices
from tumorapp.scans.models import Scan, Series, Study
from tumorapp.scans.services import UploadOutcome, scan_storage_key, scan_upload, upload_limits

URL = "/api/v1/scans/"


def _frames(data: bytes):
    return ingest_slices(data, upload_limits())


def _nothing_kept(media_dir, *, files: list[str] | None = None) -> None:
    assert not Scan.objects.exists()
    assert not InferenceRun.objects.exists()
    assert not Study.objects.exists() and not Series.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.SCAN_UPLOADED).exists()
    assert stored_files(media_dir) == (files or [])


@pytest.fixture
def sent():
    """The inference tasks actually sent (they are sent only after a commit)."""
    with mock.patch.object(predict_run, "apply_async") as apply_async:
        yield apply_async


@pytest.mark.django_db(transaction=True)
def test_a_store_failure_on_the_third_frame_keeps_no_frame(bob, media_dir, sent):
    # given a three-frame file whose first frame's image is already stored (same bytes,
    # written earlier) and a store that fails on the third frame's image
    data = dicomfiles.multi_frame_bytes(3)
    first, _, third = _frames(data)
    earlier = scan_storage_key(first.sha256)
    default_storage.save(earlier, ContentFile(first.png))
    real_save = FileSystemStorage.save

    def save(self, name, content, *args, **kwargs):
        if name == scan_storage_key(third.sha256):
            raise OSError(28, "No space left on device")
        return real_save(self, name, content, *args, **kwargs)

    # when it is uploaded
    with mock.patch.object(FileSystemStorage, "save", save):
        outcome = scan_upload(uploaded_by=bob, filename="IM.dcm", data=data)
    # then the upload says it was not stored, and nothing of it is kept but the earlier file
    assert outcome.status == UploadOutcome.REJECTED
    assert outcome.error.code == "store_failed" and outcome.slices == 3
    _nothing_kept(media_dir, files=[earlier])
    assert default_storage.open(earlier).read() == first.png
    sent.assert_not_called()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_insert_failure_on_the_third_frame_rolls_back_the_first_two(
    bob, api_for, media_dir, sent
):
    # given a three-frame file whose third frame's insert fails (after the first two frames'
    # scans, runs and audit events were inserted in the same transaction)
    real_run_create = inference_services.run_create
    calls = []

    def run_create(*, scan):
        calls.append(scan.frame_number)
        if len(calls) == 3:
            raise IntegrityError("check constraint violated")
        return real_run_create(scan=scan)

    # when it is uploaded through the API
    upload = SimpleUploadedFile("IM.dcm", dicomfiles.multi_frame_bytes(3), "application/dicom")
    with mock.patch("tumorapp.inference.services.run_create", run_create):
        response = api_for(bob).post(URL, {"files": [upload]})
    # then the answer is a clear error in the API's shape, not a server error
    assert calls == [1, 2, 3]
    assert response.status_code == 503
    assert response["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "store_failed"
    [result] = error["details"]["results"]
    assert result["status"] == "rejected" and result["slices"] == 3
    assert "nothing of it was kept" in result["message"]
    # and no frame, run, audit event, file or task is left of it
    _nothing_kept(media_dir)
    sent.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_a_commit_failure_keeps_no_frame_and_no_file(media_dir, sent):
    # given an uploader whose row is gone: the frames' foreign keys to it are checked by
    # PostgreSQL only at COMMIT (Django's keys are deferred)
    ghost = User(pk=2_000_000_000, username="ghost")
    # when a three-frame file is uploaded, then the commit fails and takes every file with it
    outcome = scan_upload(
        uploaded_by=ghost, filename="IM.dcm", data=dicomfiles.multi_frame_bytes(3)
    )
    assert outcome.status == UploadOutcome.REJECTED and outcome.error.code == "store_failed"
    _nothing_kept(media_dir)
    sent.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_the_frames_of_a_file_are_stored_together_and_again_are_duplicates(bob, media_dir, sent):
    # given a three-frame file; when it is uploaded
    data = dicomfiles.multi_frame_bytes(3)
    outcome = scan_upload(uploaded_by=bob, filename="IM.dcm", data=data)
    # then its three frames are stored, each with a run whose task is sent after the commit
    assert outcome.status == UploadOutcome.CREATED and outcome.slices == 3
    assert sorted(Scan.objects.values_list("frame_number", flat=True)) == [1, 2, 3]
    assert sent.call_count == 3
    files = stored_files(media_dir)
    # and the same bytes again are a duplicate that stores and sends nothing new
    again = scan_upload(uploaded_by=bob, filename="IM.dcm", data=data)
    assert again.status == UploadOutcome.DUPLICATE and again.slices == 3
    assert Scan.objects.count() == 3 and sent.call_count == 3
    assert stored_files(media_dir) == files
