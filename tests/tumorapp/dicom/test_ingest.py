"""RELIABILITY 3 and 4 through the upload API, and the DICOM reader on real files:
hostile DICOM is refused with a 4xx within 2 s and nothing stored; accepted files keep only
their de-identified form, with a zeroed preamble."""

import io
import time

import numpy as np
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.tumorapp.dicom import dicomfiles
from tests.tumorapp.scans.images import stored_files
from tumorapp.scans.ingest import Limits, ingest_slices
from tumorapp.scans.models import Scan

URL = "/api/v1/scans/"
LIMITS = Limits(max_file_bytes=20 * 1024 * 1024, max_pixels=4096 * 4096)


def post(api, name, data):
    return api.post(URL, {"files": [SimpleUploadedFile(name, data, "application/dicom")]})


HOSTILE = [
    ("lying 65535 x 65535", dicomfiles.lying_dimensions, 413, "too_many_pixels"),
    ("lying many frames", lambda: dicomfiles.lying_dimensions(512, 512, 5000), 413, None),
    ("lying frames x bits", lambda: dicomfiles.lying_dimensions(2048, 2048, 40), 413, "too_large"),
    ("tiny pixel data", dicomfiles.short_pixel_data, 400, "truncated"),
    ("truncated file", dicomfiles.truncated, 400, None),
    ("truncated header", dicomfiles.truncated_header, 400, None),
    ("huge length field", dicomfiles.huge_length_field, 400, "length_beyond_file"),
    ("huge pixel length", dicomfiles.huge_pixel_length, 400, "length_beyond_file"),
    ("deep sequences", dicomfiles.deep_sequences, 400, "too_deep"),
    ("sequences 13 deep", lambda: dicomfiles.deep_sequences(13), 400, "cannot_deidentify"),
    ("not DICOM, named .dcm", dicomfiles.not_dicom_named_dcm, 415, "unsupported_format"),
    ("garbage after DICM", dicomfiles.garbage_after_magic, 400, None),
    ("unknown transfer syntax", dicomfiles.unknown_transfer_syntax, 415, None),
    ("colour", dicomfiles.colour, 415, "not_greyscale"),
    ("truncated RLE", lambda: dicomfiles.compressed_truncated("MR_small_RLE.dcm"), 400, None),
    (
        "truncated JPEG-LS",
        lambda: dicomfiles.compressed_truncated("MR_small_jpeg_ls_lossless.dcm"),
        400,
        None,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "build", "status", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_dicom_is_refused_quickly_and_nothing_is_stored(
    label, build, status, code, bob, api_for, media_dir
):
    # given a hostile file named like a DICOM file
    data = build()
    # when a technologist uploads it
    started = time.monotonic()
    response = post(api_for(bob), "slice.dcm", data)
    elapsed = time.monotonic() - started
    # then it is refused with a 4xx and a reason, fast, and nothing is kept
    assert response.status_code == status, response.content
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    assert error["message"]
    assert elapsed < 2.0, f"{label}: {elapsed:.2f} s"
    assert Scan.objects.count() == 0
    assert stored_files(media_dir) == []


@pytest.mark.django_db
def test_the_stored_file_has_a_zeroed_preamble(bob, api_for, media_dir):
    # given a DICOM file whose preamble holds an executable's header (RELIABILITY 4)
    ds = dicomfiles.identified_dataset()
    data = dicomfiles.to_bytes(ds, preamble=b"MZ\x90\x00\x03\x00\x00\x00PE\x00\x00evil")
    assert data[:2] == b"MZ"
    # when it is uploaded
    response = post(api_for(bob), "slice.dcm", data)
    assert response.status_code == 201, response.content
    # then the only DICOM in storage starts with 128 zero bytes
    [dicom_name] = [n for n in stored_files(media_dir) if n.endswith(".dcm")]
    stored = (media_dir / dicom_name).read_bytes()
    assert stored[:128] == b"\x00" * 128 and stored[128:132] == b"DICM"
    assert data not in stored and stored != data


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
    ],
)
def test_pydicom_real_mr_files_decode_with_their_header_window(name):
    data = dicomfiles.pydicom_file(name)
    if data is None:
        pytest.skip(f"{name} is not shipped with this pydicom")
    reference = pydicom.dcmread(io.BytesIO(data)).pixel_array.astype(np.float64)
    [image] = ingest_slices(data, LIMITS)
    info = image.dicom
    # the header's window is the viewer's default
    assert (info.window_center, info.window_width) == (600.0, 1600.0)
    # the 16-bit pixels give back the modality values exactly (no rescale in these files)
    stored = np.asarray(Image.open(io.BytesIO(info.pixels16_png)), dtype=np.float64)
    assert np.array_equal(stored * info.pixel_scale + info.pixel_offset, reference)
    # and the model's image is the window applied (0..255 over centre +/- width / 2)
    expected = np.clip(((reference - 599.5) / 1599 + 0.5) * 255, 0, 255)
    model_image = np.asarray(Image.open(io.BytesIO(image.png)), dtype=np.float64)
    assert np.abs(model_image - expected).max() <= 1.0
    # and the patient's name is nowhere in what would be stored
    for blob in (image.png, info.pixels16_png, info.deidentified):
        assert b"CompressedSamples" not in blob


def test_rescale_is_applied_before_windowing():
    # given a synthetic slice with intercept -100 and a header window 600 / 1200
    ds = dicomfiles.identified_dataset()
    raw = ds.pixel_array.astype(np.float64)
    [image] = ingest_slices(dicomfiles.to_bytes(ds), LIMITS)
    info = image.dicom
    stored = np.asarray(Image.open(io.BytesIO(info.pixels16_png)), dtype=np.float64)
    assert np.array_equal(stored * info.pixel_scale + info.pixel_offset, raw - 100)
    assert info.bits_stored == 12
    assert (info.modality, info.manufacturer, info.manufacturer_model_name) == (
        "MR",
        "SIEMENS",
        "Avanto",
    )
    assert info.magnetic_field_strength == 1.5


def test_without_a_header_window_one_is_computed_from_percentiles():
    [image] = ingest_slices(dicomfiles.identified_bytes(window=None), LIMITS)
    values = dicomfiles.identified_dataset().pixel_array.astype(float) - 100
    low, high = np.percentile(values, [0.5, 99.5])
    assert image.dicom.window_center == pytest.approx((low + high) / 2)
    assert image.dicom.window_width == pytest.approx(high - low)


def test_a_multi_frame_file_becomes_one_slice_per_frame():
    slices = ingest_slices(dicomfiles.multi_frame_bytes(3), LIMITS)
    assert [s.dicom.frame_number for s in slices] == [1, 2, 3]
    assert len({s.sha256 for s in slices}) == 3
    assert len({s.dicom.file_key for s in slices}) == 1
    means = [s.intensity_mean for s in slices]
    assert means[0] < means[1] < means[2]  # each frame is its own slice


def test_a_real_shared_slice_wrapped_as_dicom_is_accepted():
    [image] = ingest_slices(dicomfiles.from_shared_jpeg(2), LIMITS)
    assert image.format == "dicom" and image.width >= 64
    assert image.dicom.quarantine_reason == ""


def enhanced_multi_frame(frames: list[tuple[float, float, float]]) -> bytes:
    """An enhanced-style multi-frame file: each frame's rescale intercept, window centre and
    width in its own per-frame functional group; a shared group with other values."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    stack = np.stack([np.full((32, 32), 1000, dtype=np.uint16) for _ in frames])
    for i in range(len(frames)):
        stack[i, 8:24, 8:24] += 200 * (i + 1)
    ds = dicomfiles.identified_dataset(pixels=stack[0], window=None)
    for keyword in ("RescaleIntercept", "RescaleSlope"):
        delattr(ds, keyword)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = stack.astype("<u2").tobytes()

    def group(intercept, center, width):
        item = Dataset()
        transform, window = Dataset(), Dataset()
        transform.RescaleIntercept, transform.RescaleSlope, transform.RescaleType = (
            intercept,
            1,
            "US",
        )
        window.WindowCenter, window.WindowWidth = center, width
        item.PixelValueTransformationSequence = Sequence([transform])
        item.FrameVOILUTSequence = Sequence([window])
        return item

    ds.SharedFunctionalGroupsSequence = Sequence([group(-999, 1, 2)])
    ds.PerFrameFunctionalGroupsSequence = Sequence([group(*f) for f in frames])
    return dicomfiles.to_bytes(ds)


def test_each_frame_of_an_enhanced_file_gets_its_own_rescale_and_window():
    # given three frames, each with its own intercept and window in its per-frame group
    frames = [(-100.0, 1000.0, 400.0), (0.0, 1200.0, 800.0), (50.0, 1500.0, 1000.0)]
    data = enhanced_multi_frame(frames)
    raw = pydicom.dcmread(io.BytesIO(data)).pixel_array.astype(np.float64)
    slices = ingest_slices(data, LIMITS)
    # then each slice's modality values use its own intercept (not the shared -999)
    for image, (intercept, center, width), pixels in zip(slices, frames, raw, strict=True):
        info = image.dicom
        stored = np.asarray(Image.open(io.BytesIO(info.pixels16_png)), dtype=np.float64)
        assert np.array_equal(stored * info.pixel_scale + info.pixel_offset, pixels + intercept)
        # and the viewer's default is its own window
        assert (info.window_center, info.window_width) == (center, width)


def test_a_monochrome1_slice_is_inverted_for_the_model_and_flagged_for_the_viewer():
    ds = dicomfiles.identified_dataset()
    [plain] = ingest_slices(dicomfiles.to_bytes(ds), LIMITS)
    ds.PhotometricInterpretation = "MONOCHROME1"
    [inverted] = ingest_slices(dicomfiles.to_bytes(ds), LIMITS)
    assert (plain.dicom.monochrome1, inverted.dicom.monochrome1) == (False, True)
    a = np.asarray(Image.open(io.BytesIO(plain.png)), dtype=int)
    b = np.asarray(Image.open(io.BytesIO(inverted.png)), dtype=int)
    assert np.array_equal(a, 255 - b)
    # the 16-bit values stay the modality values: the viewer inverts them on screen
    assert plain.dicom.pixels16_png == inverted.dicom.pixels16_png


def test_the_pixel_spacing_is_kept_for_the_viewers_ruler():
    # given a slice whose header says 0.5 mm between rows and 0.8 mm between columns
    ds = dicomfiles.identified_dataset()
    ds.PixelSpacing = [0.5, 0.8]
    [image] = ingest_slices(dicomfiles.to_bytes(ds), LIMITS)
    assert image.dicom.pixel_spacing == (0.5, 0.8)
    # a missing or nonsense spacing gives none: the ruler then measures in pixels
    del ds.PixelSpacing
    [image] = ingest_slices(dicomfiles.to_bytes(ds), LIMITS)
    assert image.dicom.pixel_spacing is None
    ds.PixelSpacing = [0, 0.8]
    [image] = ingest_slices(dicomfiles.to_bytes(ds), LIMITS)
    assert image.dicom.pixel_spacing is None


def test_an_enhanced_file_takes_each_frames_own_pixel_spacing():
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    frames = [(-100.0, 1000.0, 400.0), (0.0, 1200.0, 800.0)]
    ds = pydicom.dcmread(io.BytesIO(enhanced_multi_frame(frames)))
    ds.PixelSpacing = [9.0, 9.0]  # the top level is read last
    for item, spacing in zip(ds.PerFrameFunctionalGroupsSequence, ([0.4, 0.4], None), strict=True):
        if spacing:
            measures = Dataset()
            measures.PixelSpacing = spacing
            item.PixelMeasuresSequence = Sequence([measures])
    shared = Dataset()
    shared.PixelSpacing = [1.2, 1.1]
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence = Sequence([shared])
    slices = ingest_slices(dicomfiles.to_bytes(ds), LIMITS)
    assert [s.dicom.pixel_spacing for s in slices] == [(0.4, 0.4), (1.2, 1.1)]
