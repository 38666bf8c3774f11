"""The review screen's image viewer from the keyboard, in headless Chromium at 1440x900 on a
screen of two device pixels per CSS pixel: window/level presets and nudges, zoom, fit, a
true 1:1 view, pan, the ruler in mm (or px), every key in the help list, and the image still
in view after a read."""

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from reviews.models import SiteOptions
from tests.factories import TEST_PASSWORD
from tests.reviews.conftest import slice_png
from tests.screenshots import SCREENSHOTS

DPR = 2
VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture
def hidpi_page(browser):
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=DPR)
    page = context.new_page()
    yield page
    context.close()


def state(page) -> dict:
    return page.evaluate("Object.assign({}, document.getElementById('slice').dataset)")


def press(page, key: str, **expected) -> dict:
    """Press a key and wait until the canvas's data-* attributes say what is expected."""
    page.keyboard.press(key)
    checks = " && ".join(f"d[{name!r}] === {str(value)!r}" for name, value in expected.items())
    page.wait_for_function(
        f"(() => {{ const d = document.getElementById('slice').dataset; return {checks}; }})()"
    )
    return state(page)


def client_point(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) is on the page, in CSS pixels."""
    return page.evaluate(
        """([x, y]) => {
            const c = document.getElementById('slice');
            const r = c.getBoundingClientRect();
            const k = r.width / c.width;
            const d = c.dataset;
            return [r.left + (Number(d.originX) + x * Number(d.scale)) * k,
                    r.top + (Number(d.originY) + y * Number(d.scale)) * k];
        }""",
        [x, y],
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_viewer_from_the_keyboard(live_server, hidpi_page, alice, make_case, stored_files):
    page = hidpi_page
    options = SiteOptions.current()
    options.double_read_rate = 0.0
    options.save()
    # given a slice whose pixel spacing is known (0.5 mm) and one whose spacing is not
    first = stored_files(make_case(p_tumor=0.97, label="glioma"))
    first.scan.pixel_spacing_row = first.scan.pixel_spacing_col = 0.5
    first.scan.save(update_fields=["pixel_spacing_row", "pixel_spacing_col"])
    second = stored_files(make_case(p_tumor=0.9, label="glioma"))
    page.goto(f"{live_server.url}/accounts/login/?next=/worklist/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/worklist/")
    page.keyboard.press("n")
    page.wait_for_url(f"**/worklist/cases/{first.public_id}/")
    canvas = page.locator("#slice")
    expect(canvas).to_have_attribute("data-zoom", "1.0000")
    s = state(page)
    assert (s["preset"], s["window"], s["level"]) == ("default", "255", "128")

    # the canvas's backing store is its on-screen box in device pixels
    box = page.evaluate(
        "(() => { const c = document.getElementById('slice'); const r = c.getBoundingClientRect();"
        " return [c.width, c.height, r.width * devicePixelRatio, r.height * devicePixelRatio]; })()"
    )
    assert box[0] == box[2] and box[1] == box[3], box

    # w cycles the window presets: brain, narrow, wide, back to the default
    press(page, "w", preset="brain", window="160", level="90")
    press(page, "w", preset="contrast", window="100", level="110")
    press(page, "w", preset="wide", window="400", level="128")
    press(page, "w", preset="default", window="255", level="128")
    # [ ] narrow and widen the window, ; ' lower and raise the level
    press(page, "]", window="265", preset="")
    press(page, "[", window="255")
    press(page, "'", level="138")
    press(page, ";", level="128")

    # + and - zoom about the centre, 0 fits
    press(page, "+", zoom="1.2500")
    press(page, "-", zoom="1.0000")
    press(page, "=", zoom="1.2500")
    # shift+arrows pan by 40 CSS pixels (80 device pixels here)
    press(page, "Shift+ArrowRight", panX=str(40 * DPR), panY="0")
    press(page, "Shift+ArrowDown", panX=str(40 * DPR), panY=str(40 * DPR))
    press(page, "Shift+ArrowLeft", panX="0")
    press(page, "Shift+ArrowUp", panY="0")
    press(page, "0", zoom="1.0000", panX="0", panY="0")
    fit_scale = float(state(page)["scale"])
    assert fit_scale > 1  # a 256-pixel slice is enlarged to fit

    # z shows the slice 1:1: one image pixel on one device pixel
    s = press(page, "z", native="1", scale="1.0000")
    assert "1:1" in page.locator("#viewer-status").inner_text()
    assert page.locator("#zoom").inner_text() == "100"
    left, top = client_point(page, 0, 0)
    right, bottom = client_point(page, 256, 256)
    assert (right - left, bottom - top) == (256 / DPR, 256 / DPR)
    # what the screen shows, in device pixels, is the slice's own pixels
    shot = page.screenshot(
        clip={"x": left, "y": top, "width": 256 / DPR, "height": 256 / DPR}, scale="device"
    )
    shown = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=int)
    source = np.asarray(Image.open(io.BytesIO(slice_png())).convert("L"), dtype=int)
    assert shown.shape == source.shape == (256, 256)
    assert np.abs(shown - source).max() <= 1
    # z again goes back to the fit
    press(page, "z", native="0", zoom="1.0000", scale=f"{fit_scale:.4f}")

    # u: the ruler, in mm on this slice (0.5 mm pixels): two clicks 100 pixels apart
    press(page, "u", ruler="on", rulerUnit="mm")
    page.mouse.click(*client_point(page, 60, 128))
    page.mouse.click(*client_point(page, 160, 128))
    s = state(page)
    assert s["rulerUnit"] == "mm"
    assert abs(float(s["rulerLength"]) - 50.0) < 0.3, s
    expect(page.locator("#ruler-readout")).to_contain_text("mm")
    page.screenshot(path=str(SCREENSHOTS / "review-ruler.png"), scale="css")
    # esc clears the measurement, a second esc puts the ruler away
    press(page, "Escape", ruler="on", rulerLength="")
    press(page, "Escape", ruler="off")
    # a drag measures too: 60 pixels down is 30 mm
    press(page, "u", ruler="on")
    page.mouse.move(*client_point(page, 128, 40))
    page.mouse.down()
    page.mouse.move(*client_point(page, 128, 70), steps=4)
    page.mouse.move(*client_point(page, 128, 100), steps=4)
    page.mouse.up()
    assert abs(float(state(page)["rulerLength"]) - 30.0) < 0.3, state(page)

    # ? lists every key the viewer answers
    page.keyboard.press("?")
    dialog = page.locator("#keys-dialog")
    expect(dialog).to_be_visible()
    keys = dialog.locator("kbd").all_inner_texts()
    for key in [
        "w",
        "[",
        "]",
        ";",
        "'",
        "+",
        "-",
        "0",
        "z",
        "u",
        "esc",
        "shift",
        "space",
        "g",
        "i",
    ]:
        assert key in keys, key
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    press(page, "Escape", ruler="on", rulerLength="")

    # when she records the read, the next image opens in view: nothing pushes it down
    page.keyboard.press("a")
    page.wait_for_url(f"**/worklist/cases/{second.public_id}/")
    expect(page.locator(".messages")).to_contain_text("Read recorded")
    box = canvas.bounding_box()
    assert 0 <= box["y"] < VIEWPORT["height"] / 2, box
    assert box["y"] + box["height"] <= VIEWPORT["height"], box
    # and the message can be dismissed
    page.locator(".msg-dismiss").first.click()
    expect(page.locator(".messages .msg")).to_have_count(0)
    # and without a pixel spacing the ruler says pixels
    expect(canvas).to_have_attribute("data-zoom", "1.0000")
    press(page, "u", ruler="on", rulerUnit="px")
    expect(page.locator("#ruler-readout")).to_contain_text("px")
    page.mouse.click(*client_point(page, 60, 128))
    page.mouse.click(*client_point(page, 160, 128))
    s = state(page)
    assert s["rulerUnit"] == "px" and abs(float(s["rulerLength"]) - 100) < 0.5, s
