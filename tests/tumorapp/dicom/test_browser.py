"""Headless Chromium: a technologist uploads a DICOM file on the upload page; a radiologist
opens it in review and the window/level readout starts at the header's centre and width,
windowing the 16-bit values; an admin sees a burned-in slice in quarantine."""

import io

import pydicom
import pytest
from playwright.sync_api import expect

from reviews.models import Case
from tests.factories import TEST_PASSWORD
from tests.screenshots import SCREENSHOTS
from tests.tumorapp.dicom import dicomfiles

CENTER, WIDTH = 1800, 3600


def sign_in(page, base, username, next_url="/"):
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_url}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_upload_a_dicom_then_review_it_with_the_header_window(
    live_server, browser, bob, alice, carol, tmp_path
):
    # given a DICOM slice (a real MR slice wrapped with identifiers, header window 1800/3600)
    # and one whose header says text is burned in
    slice_file = tmp_path / "IM0001.dcm"
    slice_file.write_bytes(dicomfiles.from_shared_jpeg(3, window=(CENTER, WIDTH)))
    burned = tmp_path / "IM0002.dcm"
    burned.write_bytes(
        dicomfiles.identified_bytes(instance=2, series_uid="1.2.3.99", burned_in="YES")
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # when the technologist uploads both on the upload page
    tech = browser.new_page()
    sign_in(tech, live_server.url, "bob", "/scans/upload/")
    tech.set_input_files("#upload-input", [str(slice_file), str(burned)])
    done = tech.locator(".upload-row[data-state=ok]")
    done.nth(1).wait_for(timeout=20_000)
    assert done.count() == 2
    # then the radiologist finds the slice as a case and the viewer opens on the header window
    case = Case.objects.get()
    reader = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(reader, live_server.url, "alice", "/worklist/")
    assert reader.locator("#worklist tbody tr").count() == 1  # the burned-in one is not there
    reader.goto(f"{live_server.url}/worklist/cases/{case.public_id}/")
    # (expect polls from Python: the page's CSP forbids the eval that wait_for_function uses)
    expect(reader.locator("#viewer")).to_have_attribute("data-depth", "16", timeout=10_000)
    assert reader.locator("#wl-width").inner_text() == str(WIDTH)
    assert reader.locator("#wl-level").inner_text() == str(CENTER)
    reader.screenshot(path=str(SCREENSHOTS / "review-dicom.png"))
    # and dragging windows the 16-bit values in modality units; Reset returns to the header's
    canvas = reader.locator("#slice").bounding_box()
    x, y = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    reader.mouse.move(x, y)
    reader.mouse.down()
    reader.mouse.move(x - 40, y, steps=4)
    reader.mouse.up()
    narrowed = int(reader.locator("#wl-width").inner_text())
    assert narrowed < WIDTH - 40  # a pixel of drag is worth more than one modality unit here
    reader.click("#view-reset")
    assert reader.locator("#wl-width").inner_text() == str(WIDTH)
    # and the admin sees the burned-in slice in quarantine
    admin = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(admin, live_server.url, "carol", "/dicom/quarantine/")
    assert admin.locator(".quarantine-item").count() == 1
    expect(admin.locator(".quarantine-item img")).to_be_visible()
    admin.wait_for_load_state("networkidle")
    admin.screenshot(path=str(SCREENSHOTS / "dicom-quarantine.png"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_study_is_read_as_one_case_moving_through_its_slices(
    live_server, browser, bob, alice, tmp_path
):
    # given a folder with three slices of one study (real MR slices wrapped as DICOM)
    series = tmp_path / "series"
    series.mkdir()
    for instance, index in enumerate((5, 1, 8), start=1):
        data = dicomfiles.from_shared_jpeg(index, instance=instance, window=(2000, 4000))
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.PixelSpacing = [0.8, 0.6]  # mm between rows, between columns: the ruler's mm
        if instance == 2:  # low values white: the viewer must show it inverted
            ds.PhotometricInterpretation = "MONOCHROME1"
        data = dicomfiles.to_bytes(ds)
        path = series / f"IM000{instance}"  # PACS exports often have no extension
        path.write_bytes(data)
    (series / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    # when the technologist chooses the series' folder on the upload page
    tech = browser.new_page()
    sign_in(tech, live_server.url, "bob", "/scans/upload/")
    tech.set_input_files("#upload-folder", str(series))
    tech.locator(".upload-row[data-state=ok]").nth(2).wait_for(timeout=20_000)
    # then its three slices are sent, and the hidden file is not
    assert tech.locator(".upload-row").count() == 3
    expect(tech.locator(".upload-row").first).to_contain_text("series/IM000")
    # then the worklist has one case for the study
    case = Case.objects.get()
    reader = browser.new_page(viewport={"width": 1440, "height": 900})
    sign_in(reader, live_server.url, "alice", "/worklist/")
    rows = reader.locator("#worklist tbody tr")
    assert rows.count() == 1
    expect(rows.first).to_contain_text("Study · 3 slices")
    # when the radiologist takes it, the viewer opens on the AI's key slice, in 16 bits
    reader.click("#next-case")
    reader.wait_for_url(f"**/worklist/cases/{case.public_id}/")
    chips = reader.locator("#slice-strip .slice-chip")
    assert chips.count() == 3
    key = case.scan.instance_number
    viewer = reader.locator("#viewer")
    expect(viewer).to_have_attribute("data-slice", str(key))
    expect(viewer).to_have_attribute("data-depth", "16", timeout=10_000)
    expect(chips.nth(key - 1)).to_have_class("slice-chip key current")
    expect(viewer).to_have_attribute("data-heatmap", "off")  # off until the reader asks
    reader.keyboard.press("Home")  # slice 1 (the key slice may be the MONOCHROME1 one)
    expect(viewer).to_have_attribute("data-slice", "1")
    reader.wait_for_load_state("networkidle")
    reader.screenshot(path=str(SCREENSHOTS / "review-study.png"))
    # and the keys and the wheel move through the slices, keeping the reader's window
    canvas = reader.locator("#slice").bounding_box()
    x, y = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    reader.mouse.move(x, y)
    reader.mouse.down()
    reader.mouse.move(x - 30, y, steps=3)
    reader.mouse.up()
    narrowed = reader.locator("#wl-width").inner_text()
    reader.keyboard.press("Home")
    expect(viewer).to_have_attribute("data-slice", "1")
    expect(reader.locator("#slice-position")).to_have_text("Slice 1 / 3")
    invert = reader.locator("#invert-toggle")
    expect(invert).to_have_attribute("aria-pressed", "false")
    reader.keyboard.press("ArrowDown")
    expect(viewer).to_have_attribute("data-slice", "2")
    expect(invert).to_have_attribute("aria-pressed", "true")  # MONOCHROME1
    reader.mouse.move(x, y)
    reader.mouse.wheel(0, 120)
    expect(viewer).to_have_attribute("data-slice", "3")
    expect(invert).to_have_attribute("aria-pressed", "false")
    assert reader.locator("#wl-width").inner_text() == narrowed
    reader.keyboard.press("m")
    expect(viewer).to_have_attribute("data-slice", str(key))
    reader.keyboard.press("End")
    expect(viewer).to_have_attribute("data-slice", "3")
    # and w cycles the window presets
    slice_canvas = reader.locator("#slice")
    # (from the reader's own window, the first w is the header's window, in modality units)
    reader.keyboard.press("w")
    expect(slice_canvas).to_have_attribute("data-preset", "default")
    expect(slice_canvas).to_have_attribute("data-window", "4000")
    expect(slice_canvas).to_have_attribute("data-level", "2000")
    reader.keyboard.press("w")
    expect(slice_canvas).to_have_attribute("data-preset", "brain")
    for _ in range(3):
        reader.keyboard.press("w")
    expect(slice_canvas).to_have_attribute("data-preset", "default")
    expect(slice_canvas).to_have_attribute("data-window", "4000")
    expect(slice_canvas).to_have_attribute("data-level", "2000")
    # and shift+arrows pan, where plain arrows move through the slices
    reader.keyboard.press("Shift+ArrowUp")
    expect(slice_canvas).to_have_attribute("data-pan-y", "-40")
    expect(viewer).to_have_attribute("data-slice", "3")
    # and the ruler measures in mm from the header's pixel spacing: 100 columns are 60 mm
    reader.keyboard.press("u")
    expect(slice_canvas).to_have_attribute("data-ruler-unit", "mm")
    geometry = slice_canvas.evaluate(
        "c => [c.getBoundingClientRect().left, c.getBoundingClientRect().top,"
        " Number(c.dataset.originX), Number(c.dataset.originY), Number(c.dataset.scale),"
        " c.getBoundingClientRect().width / c.width]"
    )
    left, top, origin_x, origin_y, scale, css = geometry
    for column in (20, 120):
        reader.mouse.click(
            left + (origin_x + column * scale) * css, top + (origin_y + 30 * scale) * css
        )
    length = float(slice_canvas.get_attribute("data-ruler-length"))
    assert abs(length - 60.0) < 0.5, length
    reader.keyboard.press("Escape")
    expect(slice_canvas).to_have_attribute("data-ruler-length", "")
    # and accepting records the slice on screen as the key slice of the read
    reader.keyboard.press("a")
    reader.wait_for_url("**/worklist/")
    review = case.reviews.get()
    assert review.key_scan.instance_number == 3
    assert review.key_scan.series.study == case.study
