"""Ingest: content sniffing, limits before decoding, re-encoding, statistics."""

import io

import pytest
from PIL import Image, ImageFile

from tests.tumorapp.scans import images
from tumorapp.scans.ingest import IngestError, Limits, accepted_formats, ingest

LIMITS = Limits(max_file_bytes=5_000_000, max_pixels=4096 * 4096)


def test_png_and_jpeg_are_registered_by_magic_bytes():
    assert accepted_formats() == ["jpeg", "png", "dicom"]


def test_a_real_jpeg_slice_becomes_a_greyscale_png_with_statistics():
    # given a real MRI slice stored as an RGB JPEG
    _, data = images.real_slice(0)
    # when it is ingested
    result = ingest(data, LIMITS)
    # then it is stored as a greyscale PNG of the same size, hashed over the uploaded bytes
    stored = Image.open(io.BytesIO(result.png))
    assert stored.format == "PNG" and stored.mode == "L"
    assert (stored.width, stored.height) == (result.width, result.height)
    assert result.format == "jpeg" and result.size_bytes == len(data)
    assert len(result.sha256) == 64
    assert 0 <= result.intensity_p01 <= result.intensity_mean <= result.intensity_p99 <= 255
    assert result.intensity_std > 0


def test_a_colour_png_keeps_its_colour_and_drops_its_metadata():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("PatientName", "Jane Doe")
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(out, format="PNG", pnginfo=info)
    result = ingest(out.getvalue(), LIMITS)
    stored = Image.open(io.BytesIO(result.png))
    assert stored.mode == "RGB"
    assert b"Jane Doe" not in result.png


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (b"", "empty", 400),
        (images.PHP, "unsupported_format", 415),
        (images.HTML, "unsupported_format", 415),
        (images.SVG, "unsupported_format", 415),
        (b"GIF89a" + b"\x00" * 64, "unsupported_format", 415),
        (images.truncated_jpeg(), "corrupt", 400),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt", 400),
        (images.png_bytes(8, 8), "too_small", 400),
    ],
    ids=["empty", "php", "html", "svg", "gif", "truncated-jpeg", "broken-png", "tiny"],
)
def test_bad_input_is_refused_with_a_reason(data, code, status):
    with pytest.raises(IngestError) as refused:
        ingest(data, LIMITS)
    assert refused.value.code == code
    assert refused.value.status == status
    assert refused.value.message


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read():
    with pytest.raises(IngestError) as refused:
        ingest(images.png_bytes(64, 64), Limits(max_file_bytes=100, max_pixels=10_000))
    assert refused.value.code == "file_too_large"
    assert refused.value.status == 413


def _decoding_forbidden(self):
    raise AssertionError("the pixels were decoded")


@pytest.mark.parametrize("side", [10_000, 14_143], ids=["100MP", "200MP"])
def test_pixel_bombs_are_refused_from_the_header_without_decoding(side, monkeypatch):
    # given a flat PNG of 100 or 200 megapixels that is under 1 MB
    bomb = images.flat_png_bomb(side, side)
    assert len(bomb) < 1_000_000
    # when it is ingested, then it is refused from the header: pixel decoding never starts
    monkeypatch.setattr(ImageFile.ImageFile, "load", _decoding_forbidden)
    with pytest.raises(IngestError) as refused:
        ingest(bomb, LIMITS)
    assert refused.value.code == "too_many_pixels"
    assert f"{LIMITS.max_pixels:,} pixels" in refused.value.message
