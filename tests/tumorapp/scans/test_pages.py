"""Pages: upload, my uploads, scan detail; file downloads; escaping; audit of views."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.factories import InferenceRunFactory, PredictionFactory, ScanFactory
from tests.tumorapp.scans import images
from tumorapp.audit.models import Action, AuditEvent


@pytest.mark.django_db
def test_the_upload_page_offers_a_drop_zone_with_limits(bob, client_for):
    page = client_for(bob).get("/scans/upload/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="upload-form"' in html and 'type="file"' in html and "multiple" in html
    assert 'data-upload-url="/api/v1/scans/"' in html
    assert '<script id="upload-config" type="application/json">' in html
    assert "js/upload.js" in html


@pytest.mark.django_db
def test_technologists_see_upload_links_in_the_navigation(bob, alice, client_for):
    assert "/scans/upload/" in client_for(bob).get("/").content.decode()
    assert "/scans/upload/" not in client_for(alice).get("/").content.decode()


@pytest.mark.django_db
def test_my_uploads_lists_status_and_reading_and_refreshes_while_pending(bob, client_for):
    done = PredictionFactory(run__scan__uploaded_by=bob, p_tumor=0.92).scan
    pending = ScanFactory(uploaded_by=bob, status="queued", original_filename="waiting.png")
    failed = ScanFactory(uploaded_by=bob, status="failed", status_reason="The model failed: boom")
    ScanFactory(original_filename="someone-else.png")
    html = client_for(bob).get("/scans/mine/").content.decode()
    for scan in (done, pending, failed):
        assert f"/scans/{scan.public_id}/" in html
    assert "someone-else.png" not in html
    assert "Tumour suspected" in html and "0.92" in html
    assert 'data-status="queued"' in html and 'data-status="failed"' in html
    assert "The model failed: boom" in html
    assert 'data-refresh-seconds="4"' in html


@pytest.mark.django_db
def test_my_uploads_query_count_is_pinned(bob, client_for, django_assert_max_num_queries):
    for _ in range(10):
        PredictionFactory(run__scan__uploaded_by=bob)
    client = client_for(bob)
    client.get("/scans/mine/")
    # session, user, role, count, scans, runs, predictions, session save (3)
    with django_assert_max_num_queries(10):
        client.get("/scans/mine/")


@pytest.mark.django_db
def test_the_detail_page_shows_the_reading_and_is_audited(alice, client_for):
    prediction = PredictionFactory(
        p_tumor=0.81, ood=True, ood_reasons=["colour image"], heatmap="heatmaps/x/y.png"
    )
    scan = prediction.scan
    html = client_for(alice).get(f"/scans/{scan.public_id}/").content.decode()
    assert "Tumour suspected" in html
    assert "0.810" in html
    assert "Unusual image" in html and "colour image" in html
    assert f"/scans/{scan.public_id}/heatmap/" in html
    assert f"/scans/{scan.public_id}/image/" in html
    events = AuditEvent.objects.filter(action=Action.SCAN_VIEWED, target_id=str(scan.public_id))
    assert events.count() == 1 and events.get().actor == alice


@pytest.mark.django_db
def test_a_failed_run_shows_its_error(alice, client_for):
    run = InferenceRunFactory(
        status="failed", error="Gave up after 3 attempts", scan__status="failed"
    )
    run.scan.status_reason = "Gave up after 3 attempts"
    run.scan.save()
    html = client_for(alice).get(f"/scans/{run.scan.public_id}/").content.decode()
    assert "could not read this scan" in html
    assert "Gave up after 3 attempts" in html


@pytest.mark.django_db
def test_the_original_filename_is_rendered_escaped(bob, client_for):
    scan = ScanFactory(uploaded_by=bob, original_filename="<script>alert(1)</script>.png")
    for url in ("/scans/mine/", f"/scans/{scan.public_id}/"):
        html = client_for(bob).get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in html


@pytest.mark.django_db
@pytest.mark.parametrize("api", [False, True], ids=["page", "api"])
def test_images_download_as_private_nosniff_attachments_named_by_id(bob, client_for, api):
    prediction = PredictionFactory(run__scan__uploaded_by=bob, heatmap="heatmaps/ab/cd.png")
    scan = prediction.scan
    default_storage.save(scan.image.name, ContentFile(images.png_bytes()))
    default_storage.save("heatmaps/ab/cd.png", ContentFile(images.png_bytes(seed=1)))
    prefix = "/api/v1/scans" if api else "/scans"
    client = client_for(bob)
    for what, action in (
        ("image", Action.SCAN_IMAGE_VIEWED),
        ("heatmap", Action.SCAN_HEATMAP_VIEWED),
    ):
        response = client.get(f"{prefix}/{scan.public_id}/{what}/")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("attachment;")
        assert str(scan.public_id) in response["Content-Disposition"]
        assert scan.original_filename not in response["Content-Disposition"]
        assert "private" in response["Cache-Control"]
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")
        assert AuditEvent.objects.filter(action=action, target_id=str(scan.public_id)).count() == 1


@pytest.mark.django_db
def test_a_scan_without_a_heatmap_answers_404(bob, client_for):
    scan = ScanFactory(uploaded_by=bob, status="queued")
    assert client_for(bob).get(f"/scans/{scan.public_id}/heatmap/").status_code == 404
