"""The upload page shows each file's reading as it arrives: the model reads the scans after
the upload has answered, and the page, polling in the background, shows the class,
P(tumour), the flags and a link to the case; DICOM slices are named by their place in the
series."""

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS
from tests.tumorapp.dicom import dicomfiles
from tumorapp.inference import services as inference_services
from tumorapp.inference.models import InferenceRun
from tumorapp.inference.tasks import predict_run
from tumorapp.scans.models import Scan


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_upload_page_shows_each_reading_when_the_model_has_read_it(
    live_server, page, bob, tmp_path, monkeypatch, media_dir
):
    # given predictions that wait until the test runs them (as when workers are busy)
    held: list[int] = []
    monkeypatch.setattr(inference_services, "job_submit", lambda run: held.append(run.pk))
    bright = tmp_path / "bright.png"
    bright.write_bytes(_flat_png(230))
    dark = tmp_path / "dark.png"
    dark.write_bytes(_flat_png(20))
    dicom = tmp_path / "IM0007.dcm"
    dicom.write_bytes(dicomfiles.identified_bytes(instance=7))
    background: list[str] = []
    page.on(
        "request",
        lambda r: (
            background.append(r.headers.get("x-background-refresh", ""))
            if r.method == "GET" and "/api/v1/scans/" in r.url
            else None
        ),
    )
    page.goto(f"{live_server.url}/accounts/login/?next=/scans/upload/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/scans/upload/")
    # when the technologist uploads two slices and a DICOM file
    page.set_input_files("#upload-input", [str(bright), str(dark), str(dicom)])
    stored = page.locator(".upload-row[data-state=ok]")
    expect(stored).to_have_count(3, timeout=30_000)
    # then each row waits for the model
    expect(page.locator(".upload-row[data-reading=pending]")).to_have_count(3)
    # and the DICOM row is named by its series and instance, not "(unnamed)"
    dicom_row = page.locator(".upload-row", has_text="IM0007.dcm")
    expect(dicom_row.locator(".upload-name")).to_contain_text("instance 7")
    # when the model reads them, after the upload has answered
    assert len(held) == 3
    for run_id in held:
        predict_run(run_id)
    assert InferenceRun.objects.filter(status="succeeded").count() == 3
    # then every row shows the reading without a reload: class, P(tumour), flag, link
    expect(page.locator(".upload-row[data-reading=predicted]")).to_have_count(3, timeout=15_000)
    bright_row = page.locator(".upload-row", has_text="bright.png")
    reading = bright_row.locator(".upload-reading")
    expect(reading).to_contain_text("Tumour suspected")
    expect(reading).to_contain_text("P(tumour) 0.9")
    expect(reading.locator("a", has_text="Open case")).to_have_attribute(
        "href", f"/scans/{_scan_id(bright_row)}/"
    )
    dark_reading = page.locator(".upload-row", has_text="dark.png").locator(".upload-reading")
    expect(dark_reading).to_contain_text("No tumour suspected")
    expect(dark_reading).to_contain_text("No tumor")
    expect(bright_row.locator(".upload-message")).to_have_text("Read by the model.")
    # and the polls were background requests (they do not keep an idle session signed in)
    assert background and all(h == "1" for h in background)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "scan-upload-readings.png"), full_page=True)
    # and once every file has its reading, the page stops polling
    polls = len(background)
    page.wait_for_timeout(4_000)
    assert len(background) == polls


def _flat_png(level: int) -> bytes:
    """A textured slice of about ``level`` brightness: the test predictor's P(tumour)."""
    yy, xx = np.mgrid[0:96, 0:96]
    pixels = np.clip(level + 10 * ((xx + yy) % 2), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _scan_id(row) -> str:
    name = row.locator(".upload-name").inner_text()
    return str(Scan.objects.get(original_filename=name).public_id)
