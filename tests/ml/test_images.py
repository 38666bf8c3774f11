import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from ml.images import ImageDecodeError, decode_image_bytes, load_image


def _encode(arr: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_png_and_jpeg_decode(brain_like):
    assert decode_image_bytes(_encode(brain_like, "PNG")).pixels.shape == brain_like.shape
    decoded = decode_image_bytes(_encode(np.stack([brain_like] * 3, -1), "JPEG"))
    assert decoded.format == "JPEG" and decoded.pixels.shape == (*brain_like.shape, 3)


def test_sixteen_bit_png_keeps_depth(brain_like):
    arr = brain_like.astype(np.uint16) * 200
    pixels = decode_image_bytes(_encode(arr, "PNG")).pixels
    assert pixels.max() > 255


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"<html><script>alert(1)</script></html>", "not a supported image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "not a supported image"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "cannot decode"),
    ],
)
def test_refuses_non_images(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_image_bytes(data)


def test_refuses_truncated_jpeg(brain_like):
    data = _encode(brain_like, "JPEG")
    with pytest.raises(ImageDecodeError):
        decode_image_bytes(data[: len(data) // 2])


def test_refuses_pixel_bomb_before_decoding(monkeypatch):
    data = _encode(np.zeros((10000, 10000), np.uint8), "PNG")  # 100 MP, ~100 kB

    def decoding_forbidden(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoding_forbidden)
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image_bytes(data)


def test_load_image_accepts_all_input_kinds(tmp_path, brain_like):
    path = tmp_path / "x.png"
    path.write_bytes(_encode(brain_like, "PNG"))
    for source in (brain_like, Image.fromarray(brain_like), path.read_bytes(), path, str(path)):
        assert np.array_equal(load_image(source), brain_like)
    rgba = np.dstack([brain_like] * 4)
    assert load_image(rgba).shape == (*brain_like.shape, 3)
    with pytest.raises(ImageDecodeError, match="cannot read"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageDecodeError, match="NaN"):
        load_image(np.full((32, 32), np.nan, np.float32))
