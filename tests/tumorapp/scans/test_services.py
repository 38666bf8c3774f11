"""scan_create: a failed upload leaves no file behind, whether the transaction rolls back at
the insert or at the commit, and a file that was stored before it stays."""

from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError

from tests.tumorapp.scans import images
from tumorapp.accounts.models import User
from tumorapp.scans.ingest import ingest_slices
from tumorapp.scans.models import Scan
from tumorapp.scans.services import scan_create, scan_storage_key, scan_upload, upload_limits


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
        mock.patch("tumorapp.scans.services.run_create", side_effect=RuntimeError("broker")),
        pytest.raises(RuntimeError),
    ):
        scan_upload(uploaded_by=bob, filename="a.png", data=data)
    assert not default_storage.exists(key)
    assert images.stored_files(media_dir) == []
    assert not Scan.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_fails_leaves_no_file_and_no_scan(media_dir):
    # given an upload whose transaction can only fail at COMMIT (deferred foreign key)
    image = _image(42)
    # when it is stored, then the commit fails and takes the file with it
    with pytest.raises(IntegrityError):
        scan_create(uploaded_by=_ghost(), filename="a.png", image=image)
    assert not Scan.objects.exists()
    assert not default_storage.exists(scan_storage_key(image.sha256))
    assert images.stored_files(media_dir) == []


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_fails_keeps_a_file_stored_before_it(media_dir):
    # given the same bytes already in storage (written by an earlier upload)
    image = _image(43)
    key = scan_storage_key(image.sha256)
    default_storage.save(key, ContentFile(image.png))
    # when an upload of them fails at COMMIT, then the file it did not write stays
    with pytest.raises(IntegrityError):
        scan_create(uploaded_by=_ghost(), filename="a.png", image=image)
    assert not Scan.objects.exists()
    assert default_storage.exists(key)
    assert default_storage.open(key).read() == image.png


@pytest.mark.django_db
def test_a_failed_upload_of_stored_bytes_keeps_the_earlier_uploads_file(bob, media_dir):
    # given an earlier successful upload
    image = _image(44)
    earlier = scan_create(uploaded_by=bob, filename="a.png", image=image)
    # when the same bytes are stored again and the insert fails (unique content hash)
    with pytest.raises(IntegrityError):
        scan_create(uploaded_by=bob, filename="b.png", image=image)
    # then the earlier upload keeps its scan and its file
    assert list(Scan.objects.values_list("pk", flat=True)) == [earlier.pk]
    assert default_storage.open(earlier.image.name).read() == image.png
