import pytest
from django.urls import reverse

from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.scans import images
from tumorapp.audit.models import AuditEvent
from tumorapp.datasets.models import DatasetExport

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_reviewed(media_dir, bob, alice, django_capture_on_commit_callbacks):
    single_reads_only()
    case = upload(
        bob, "a.png", images.png_bytes(80, 80, seed=5), django_capture_on_commit_callbacks
    )
    return read(case, alice, "meningioma", reason="motion")


def test_the_data_team_exports_from_the_page_and_downloads_the_zip(
    one_reviewed, dave, client_for, django_capture_on_commit_callbacks
):
    client = client_for(dave)
    # when dave asks for corrected single reads
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("datasets:export_list"),
            {"correction": "corrected", "resolutions": ["single"]},
        )
    export = DatasetExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("datasets:export_detail", args=[export.public_id])
    # then the export page shows the finished export with its card
    page = client.get(response["Location"])
    assert page.status_code == 200 and export.version_id[:12] in page.content.decode()
    assert "Dataset card" in page.content.decode()
    # and the download is the zip, audited
    download = client.get(reverse("datasets:export_download", args=[export.public_id]))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert b"".join(download.streaming_content)[:2] == b"PK"
    assert AuditEvent.objects.filter(
        action="dataset.downloaded", actor=dave, target_id=str(export.public_id)
    ).exists()


def test_a_bad_date_range_is_refused_on_the_page(dave, client_for):
    response = client_for(dave).post(
        reverse("datasets:export_list"),
        {"reviewed_from": "2026-05-02", "reviewed_to": "2026-05-01", "correction": "any"},
    )
    assert (
        response.status_code == 200 and "The end is before the start." in response.content.decode()
    )
    assert not DatasetExport.objects.exists()


def test_a_running_export_page_refreshes_itself(dave, client_for):
    export = DatasetExport.objects.create(created_by=dave, status="running", total=10, done=4)
    page = client_for(dave).get(reverse("datasets:export_detail", args=[export.public_id]))
    assert "data-job-running" in page.content.decode() and "40%" in page.content.decode()


def test_the_api_starts_an_export_and_reports_it(
    one_reviewed, dave, api_for, django_capture_on_commit_callbacks
):
    api = api_for(dave)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/datasets/", {"labels": ["meningioma"]}, format="json")
    assert created.status_code == 202
    detail = api.get(f"/api/v1/datasets/{created.data['id']}/")
    assert detail.data["status"] == "succeeded" and detail.data["total"] == 1
    assert len(detail.data["version_id"]) == 64
    refused = api.post("/api/v1/datasets/", {"labels": ["cat"]}, format="json")
    assert refused.status_code == 400


def test_other_roles_cannot_export_or_download(one_reviewed, dave, carol, alice, client_for):
    export = DatasetExport.objects.create(created_by=dave, status="succeeded", file="x.zip")
    for user in (carol, alice):
        client = client_for(user)
        assert (
            client.get(reverse("datasets:export_download", args=[export.public_id])).status_code
            == 403
        )
        assert (
            client.post(reverse("datasets:export_list"), {"correction": "any"}).status_code == 403
        )
    assert not AuditEvent.objects.filter(action="dataset.downloaded").exists()
