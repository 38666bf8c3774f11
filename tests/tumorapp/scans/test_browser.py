"""A technologist uploads through the real page in headless Chromium: several files at
once, each with its own progress and result, then follows one to its scan page."""

import pytest
from playwright.sync_api import expect

from ml import DEFAULT_MODEL_DIR
from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS
from tests.tumorapp.scans import images


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_drop_many_files_see_each_result_and_open_the_scan(
    live_server, page, bob, tmp_path, settings
):
    # The live server predicts in-process (eager, as the embedded site does): with the
    # shipped model when there is one, so the screenshots show a real heat map.
    if (DEFAULT_MODEL_DIR / "manifest.json").exists():
        settings.INFERENCE_PREDICTOR = "ml.predict.Predictor"
    # given a technologist signed in, and three files: two real slices and a disguised PHP file
    files = []
    for seed in (5, 6):
        name, data = images.real_slice(seed, "meningioma_tumor")
        files.append(tmp_path / name)
        files[-1].write_bytes(data)
    php = tmp_path / "x.php.png"
    php.write_bytes(images.PHP)
    files.append(php)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # when they choose the files on the upload page
    page.click("text=Upload")
    page.wait_for_url("**/scans/upload/")
    page.set_input_files("#upload-input", [str(f) for f in files])
    # then each file gets a row that ends stored or refused, with the reason
    rows = page.locator(".upload-row")
    finished = page.locator(".upload-row[data-state=ok], .upload-row[data-state=danger]")
    expect(finished).to_have_count(3, timeout=60_000)
    assert rows.count() == 3
    refused = page.locator(".upload-row[data-state=danger]")
    assert refused.count() == 1
    assert "not a supported image" in refused.locator(".upload-message").inner_text()
    assert page.locator(".upload-row[data-state=ok] progress").first.get_attribute("value") == "100"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "scan-upload.png"), full_page=True)
    # and "My uploads" lists both stored scans with their status
    page.click("text=My uploads")
    page.wait_for_url("**/scans/mine/")
    assert page.locator("table.data tbody tr").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "scan-my-uploads.png"), full_page=True)
    # and a stored scan opens on its page with the image and the model's reading
    page.locator(".upload-row, table.data a", has_text="Open").first.click()
    page.wait_for_selector(".scan-figure img")
    assert page.locator(".p-tumor").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "scan-detail.png"), full_page=True)
