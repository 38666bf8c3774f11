"""The data team exports and compares, an admin promotes: through the real pages in headless
Chromium (screenshots for the docs)."""

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS
from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.registry.conftest import write_model_folder
from tests.tumorapp.registry.fakes import RETRAINED
from tumorapp.registry.selectors import active_model
from tumorapp.registry.services import model_promote, model_register


def _sign_in(page, live_server, username):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def _slice(seed: int, brightness: int) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:128, 0:128]
    inside = ((yy - 64) / 54) ** 2 + ((xx - 64) / 46) ** 2 < 1
    pixels = np.where(inside, brightness + rng.normal(0, 30, (128, 128)), brightness * 0.6)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_export_compare_and_promote_through_the_pages(
    live_server, page, settings, tmp_path, bob, alice, carol, dave
):
    settings.INFERENCE_PREDICTOR = RETRAINED
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }
    from tumorapp.inference import predictor

    predictor._loaded.clear()
    v1 = model_register(path=write_model_folder(tmp_path / "models", "v1", accuracy=0.91))
    model_register(path=write_model_folder(tmp_path / "models", "v2", accuracy=0.93))
    model_promote(model=v1)
    # given forty reviewed cases, some of them corrections
    single_reads_only()

    for i in range(40):
        case = upload(bob, f"s{i}.png", _slice(i, 100 + 3 * i))
        truth = ("glioma", "meningioma", "pituitary", "no_tumor")[i % 4]
        read(case, alice, truth)

    # when the data team exports every reviewed case from the Datasets page
    _sign_in(page, live_server, "dave")
    page.click("nav >> text=Datasets")
    page.click("button:has-text('Export')")
    expect(page.locator("h1")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("pre.card-text")).to_contain_text("Version id")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dataset-export.png"), full_page=True)

    # and, after two more reviewed cases, exports again and opens what changed
    for i in range(40, 42):
        read(upload(bob, f"s{i}.png", _slice(i, 100 + 3 * i)), alice, "glioma")
    page.click("nav >> text=Datasets")
    page.click("button:has-text('Export')")
    expect(page.locator("h1")).to_contain_text("succeeded", timeout=30_000)
    page.click("a.button:has-text('Changes')")
    expect(page.locator("#added h2")).to_contain_text("2")
    expect(page.locator("#classes")).to_contain_text("glioma")
    page.screenshot(path=str(SCREENSHOTS / "dataset-changes.png"), full_page=True)

    # and compares v2 with the active v1 on the export's held-out cases
    page.click("nav >> text=Models")
    page.select_option("#id_candidate", label="v2 (candidate)")
    page.select_option("#id_export", index=1)
    page.uncheck("#id_include_base_testing")
    page.click("button:has-text('Compare')")
    expect(page.locator("h1")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#set-reviewed table.side-by-side")).to_contain_text("Accuracy")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / "model-comparison.png"), full_page=True)

    expect(page.locator("#set-reviewed table.side-by-side")).to_contain_text("ROC AUC")
    expect(page.locator("#gate")).to_contain_text("Passed")

    # and an admin fits v1's operating point on the site's reviewed cases and applies it
    _sign_in(page, live_server, "carol")
    page.goto(f"{live_server.url}/models/{v1.public_id}/operating-point/?target=0.95")
    expect(page.locator("#proposed-threshold")).to_be_visible()
    expect(page.locator("#false-alarm-rate")).to_contain_text("false-alarm")
    page.screenshot(path=str(SCREENSHOTS / "operating-point.png"), full_page=True)
    page.click("button:has-text('Apply threshold')")
    expect(page.locator("#threshold-in-force")).to_contain_text("site")

    # then an admin promotes v2 from the Models page
    _sign_in(page, live_server, "carol")
    page.click("nav >> text=Models")
    page.locator("#models tr", has_text="v2").locator("a:has-text('Promote')").click()
    page.click("#confirm-button")
    expect(page.locator("#active-version")).to_have_text("v2")
    page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)
    assert active_model().version == "v2"
