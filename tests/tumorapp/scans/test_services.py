"""scan_upload: a failed upload leaves no file behind, whether the transaction rolls back at
the insert or at the commit, and a file that was stored before it stays."""

from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.tumorapp.scans import images
from tumorapp.accounts.models import User
from tumorapp.scans.ingest import ingest_slices
from tumorapp.scans.models import Scan
from tumorapp.scans.services import UploadOutcome, scan_storage_key, scan_upload, upload_limits


def _image(seed: int):
    return ingest_slices(images.png_bytes(seed=seed), upload_limits())[0]


def _ghost() -> User:
    """An uploader whose row is gone (say, removed by hand meanwhile): the scan's foreign
    key to it is checked by PostgreSQL only at COMMIT (Django's keys are deferred)."""
    return User(pk=2_000_000_000, username="ghost")


@pytest.mark.django_db
def test_a_failure_after_the_file_is_written_leaves_no_file_and_no_scan(bob, media_dir):
    data = images.png_bytes(seed=41)
    key = scan_storage_key(_image(41).sha256)
    with (
        mock.patch("tumorapp.inference.services.run_create", side_effect=RuntimeError("broker")),
        pytest.raises(RuntimeError),
    ):
        scan_upload(uploaded_by=bob, filename="a.png", data=data)
    assert not default_storage.exists(key)
    assert images.stored_files(media_dir) == []
    assert not Scan.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_fails_leaves_no_file_and_no_scan(media_dir):
    # given an upload whose transaction can only fail at COMMIT (deferred foreign key)
    data = images.png_bytes(seed=42)
    # when it is stored, then the commit fails and takes the file with it
    outcome = scan_upload(uploaded_by=_ghost(), filename="a.png", data=data)
    assert outcome.status == UploadOutcome.REJECTED and outcome.error.code == "store_failed"
    assert not Scan.objects.exists()
    assert not default_storage.exists(scan_storage_key(_image(42).sha256))
    assert images.stored_files(media_dir) == []


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_fails_keeps_a_file_stored_before_it(media_dir):
    # given the same bytes already in storage (written by an earlier upload)
    image = _image(43)
    key = scan_storage_key(image.sha256)
    default_storage.save(key, ContentFile(image.png))
    # when an upload of them fails at COMMIT, then the file it did not write stays
    outcome = scan_upload(uploaded_by=_ghost(), filename="a.png", data=images.png_bytes(seed=43))
    assert outcome.status == UploadOutcome.REJECTED
    assert not Scan.objects.exists()
    assert default_storage.exists(key)
    assert default_storage.open(key).read() == image.png


@pytest.mark.django_db
def test_an_upload_of_stored_bytes_keeps_the_earlier_uploads_scan_and_file(bob, media_dir):
    # given an earlier successful upload
    data = images.png_bytes(seed=44)
    earlier = scan_upload(uploaded_by=bob, filename="a.png", data=data).scan
    # when the same bytes are uploaded again
    again = scan_upload(uploaded_by=bob, filename="b.png", data=data)
    # then it is a duplicate, and the earlier upload keeps its scan and its file
    assert again.status == UploadOutcome.DUPLICATE and again.scan.pk == earlier.pk
    assert list(Scan.objects.values_list("pk", flat=True)) == [earlier.pk]
    assert default_storage.open(earlier.image.name).read() == _image(44).png
