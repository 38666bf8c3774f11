"""POST /api/v1/scans/: single and batch uploads, duplicates, hostile files and limits."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.throttling import ScopedRateThrottle

from tests.tumorapp.scans import images
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.scans.models import Scan

URL = "/api/v1/scans/"


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_upload_is_stored_predicted_and_audited(bob, api_for, media_dir):
    # given a technologist and a real slice
    name, data = images.real_slice(1)
    # when they upload it
    response = api_for(bob).post(URL, {"files": [upload(name, data, "image/jpeg")]})
    # then it is stored under its content hash and predicted right after commit (eager)
    assert response.status_code == 201, response.content
    [result] = response.json()["results"]
    assert result["status"] == "created"
    scan = Scan.objects.get(public_id=result["scan"]["id"])
    assert scan.original_filename == name
    assert scan.image.name == f"scans/{scan.sha256[:2]}/{scan.sha256}.png"
    assert scan.status == Scan.Status.PREDICTED
    run = InferenceRun.objects.get(scan=scan)
    assert run.status == InferenceRun.Status.SUCCEEDED and run.attempts == 1
    assert Prediction.objects.filter(scan=scan).count() == 1
    assert (
        AuditEvent.objects.filter(
            action=Action.SCAN_UPLOADED, target_id=str(scan.public_id)
        ).count()
        == 1
    )
    assert (
        AuditEvent.objects.filter(
            action=Action.PREDICTION_MADE, target_id=str(scan.public_id)
        ).count()
        == 1
    )
    # and the API detail shows the prediction
    detail = api_for(bob).get(f"{URL}{scan.public_id}/").json()
    assert detail["status"] == "predicted"
    assert detail["prediction"]["model_version"] == "fake-1"
    assert set(detail["prediction"]["probabilities"]) == {
        "glioma",
        "meningioma",
        "pituitary",
        "no_tumor",
    }
    assert detail["heatmap_url"].endswith(f"/scans/{scan.public_id}/heatmap/")


@pytest.mark.django_db
def test_a_batch_accepts_good_files_and_reports_bad_ones(bob, api_for, media_dir):
    files = [
        upload("a.png", images.png_bytes(seed=1)),
        upload("x.php.png", images.PHP),
        upload("b.jpg", images.jpeg_bytes(seed=2), "image/jpeg"),
        upload("empty.png", b""),
    ]
    response = api_for(bob).post(URL, {"files": files})
    assert response.status_code == 201
    statuses = [(r["filename"], r["status"], r["code"]) for r in response.json()["results"]]
    assert statuses == [
        ("a.png", "created", None),
        ("x.php.png", "rejected", "unsupported_format"),
        ("b.jpg", "created", None),
        ("empty.png", "rejected", "empty"),
    ]
    assert Scan.objects.count() == 2
    # (no heat maps yet: this test's transaction never commits, so nothing was predicted)
    assert len(images.stored_files(media_dir)) == 2


@pytest.mark.django_db
def test_the_same_bytes_twice_are_a_duplicate_not_a_second_scan(bob, api_for, media_dir):
    data = images.png_bytes(seed=5)
    first = api_for(bob).post(URL, {"files": [upload("one.png", data)]}).json()["results"][0]
    again = api_for(bob).post(URL, {"files": [upload("renamed.png", data)]})
    assert again.status_code == 200
    [result] = again.json()["results"]
    assert result["status"] == "duplicate"
    assert result["scan"]["id"] == first["scan"]["id"]
    assert Scan.objects.count() == 1


@pytest.mark.django_db
def test_a_duplicate_of_someone_elses_scan_does_not_reveal_it(bob, api_for, media_dir):
    from tests.factories import UserFactory
    from tumorapp.accounts.roles import Role

    other = UserFactory(role=Role.TECHNOLOGIST)
    data = images.png_bytes(seed=6)
    api_for(other).post(URL, {"files": [upload("theirs.png", data)]})
    response = api_for(bob).post(URL, {"files": [upload("mine.png", data)]})
    [result] = response.json()["results"]
    assert result["status"] == "duplicate"
    assert result["scan"] is None
    assert "theirs.png" not in response.content.decode()
    assert Scan.objects.count() == 1


HOSTILE = [
    ("x.php.png", images.PHP, 415, "unsupported_format"),
    ("page.png", images.HTML, 415, "unsupported_format"),
    ("a.php%00.png", images.PHP, 415, "unsupported_format"),
    ("a.php\x00.png", images.PHP, 415, "unsupported_format"),
    ("vector.svg", images.SVG, 415, "unsupported_format"),
    ("empty.png", b"", 400, "empty"),
    ("half.jpg", images.truncated_jpeg(), 400, "corrupt"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "status", "code"), HOSTILE, ids=[h[0].replace("\x00", "NUL") for h in HOSTILE]
)
def test_hostile_files_are_refused_with_a_reason_and_nothing_is_stored(
    bob, api_for, media_dir, name, data, status, code
):
    response = api_for(bob).post(URL, {"files": [upload(name, data)]})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["details"]["results"][0]["status"] == "rejected"
    assert Scan.objects.count() == 0
    assert images.stored_files(media_dir) == []


@pytest.mark.django_db
@pytest.mark.parametrize("side", [10_000, 14_143], ids=["100MP", "200MP"])
def test_pixel_bombs_are_refused_and_nothing_is_stored(bob, api_for, media_dir, side):
    bomb = images.flat_png_bomb(side, side)
    response = api_for(bob).post(URL, {"files": [upload("flat.png", bomb)]})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_pixels"
    assert "pixels" in response.json()["error"]["message"]
    assert Scan.objects.count() == 0
    assert images.stored_files(media_dir) == []


@pytest.mark.django_db
def test_too_many_files_are_refused_as_a_whole(bob, api_for, media_dir, settings):
    settings.SCAN_UPLOAD_MAX_FILES = 3
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [upload(f"{i}.png", images.png_bytes(seed=i)) for i in range(4)]
    response = api_for(bob).post(URL, {"files": files})
    assert response.status_code == 413
    assert "at most 3 files" in response.json()["error"]["message"]
    assert Scan.objects.count() == 0
    assert images.stored_files(media_dir) == []


@pytest.mark.django_db
def test_too_many_files_for_djangos_own_limit_are_still_a_413(bob, api_for, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [upload(f"{i}.png", images.png_bytes(seed=i)) for i in range(3)]
    response = api_for(bob).post(URL, {"files": files})
    assert response.status_code == 413
    assert Scan.objects.count() == 0


@pytest.mark.django_db
def test_too_large_a_body_is_refused_before_it_is_read(bob, api_for, media_dir, settings):
    settings.SCAN_UPLOAD_MAX_BATCH_BYTES = 50_000
    files = [upload(f"{i}.png", images.png_bytes(128, 128, seed=i)) for i in range(4)]
    response = api_for(bob).post(URL, {"files": files})
    assert response.status_code == 413
    assert "50,000 bytes" in response.json()["error"]["message"]
    assert Scan.objects.count() == 0
    assert images.stored_files(media_dir) == []


@pytest.mark.django_db
def test_a_file_over_the_per_file_limit_is_refused(bob, api_for, media_dir, settings):
    settings.SCAN_UPLOAD_MAX_FILE_BYTES = 2_000
    response = api_for(bob).post(URL, {"files": [upload("big.png", images.png_bytes(128, 128))]})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert Scan.objects.count() == 0


@pytest.mark.django_db
def test_no_files_is_a_400(bob, api_for):
    response = api_for(bob).post(URL, {})
    assert response.status_code == 400
    assert "files" in response.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["radiologist", "admin", "data_team", "none"])
def test_only_technologists_upload(users, api_for, role, media_dir):
    response = api_for(users[role]).post(URL, {"files": [upload("a.png", images.png_bytes())]})
    assert response.status_code == 403
    assert Scan.objects.count() == 0


@pytest.mark.django_db
def test_uploads_are_throttled_with_retry_after(bob, api_for, media_dir, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"upload": "2/min"})
    api = api_for(bob)
    codes = [
        api.post(URL, {"files": [upload(f"{i}.png", images.png_bytes(seed=40 + i))]}).status_code
        for i in range(3)
    ]
    assert codes[:2] == [201, 201]
    assert codes[2] == 429
    refused = api.post(URL, {"files": [upload("x.png", images.png_bytes(seed=50))]})
    assert int(refused["Retry-After"]) > 0
    # and reading the list is not limited by the upload budget
    assert api.get(URL).status_code == 200
