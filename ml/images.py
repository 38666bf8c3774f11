"""Decode and validate image inputs (bytes, paths, PIL images, arrays) into numpy arrays.

Used by the upload pipeline (validation before storage) and by the predictor. numpy, Pillow
and pydicom only: the web process imports this module and must never load TensorFlow.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Anything the predictor accepts as one image.
ImageInput = np.ndarray | Image.Image | bytes | bytearray | str | os.PathLike

#: Refuse larger images before decoding them (pixel bombs: a flat 200-megapixel PNG is tiny).
MAX_PIXELS = 40_000_000
MAX_FRAMES = 1
MIN_SIDE = 16

# Formats decoded with Pillow. Everything else (SVG, HTML, PDF, GIF animations...) is refused
# by sniffing the first bytes, never trusting a file name.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)


class ImageDecodeError(ValueError):
    """The input is not an image we accept; the message says why (safe to show to users)."""


@dataclass(frozen=True)
class DecodedImage:
    """Pixels plus what was learnt while decoding them."""

    pixels: np.ndarray  # HxW (grey) or HxWx3 (RGB); uint8, uint16 or float32
    format: str  # "PNG", "JPEG", "TIFF", "BMP", "DICOM" or "array"

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def sniff_format(data: bytes) -> str | None:
    """Return the container format from the magic bytes, or None when unsupported."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "DICOM"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def decode_image_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode and validate image bytes (PNG, JPEG, TIFF, BMP or single-frame DICOM).

    Raises ImageDecodeError for empty, truncated, spoofed, oversized or multi-frame input.
    The pixel count is checked from the header, before any pixel is decoded.
    """
    if not data:
        raise ImageDecodeError("empty file")
    fmt = sniff_format(bytes(data[:132]))
    if fmt is None:
        raise ImageDecodeError("not a supported image (PNG, JPEG, TIFF, BMP or DICOM expected)")
    if fmt == "DICOM":
        return DecodedImage(_decode_dicom(bytes(data), max_pixels), "DICOM")
    return DecodedImage(_decode_pillow(bytes(data), fmt, max_pixels), fmt)


def _check_size(width: int, height: int, frames: int, max_pixels: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageDecodeError(f"image too small ({width}x{height}, at least {MIN_SIDE} px a side)")
    if width * height > max_pixels:
        raise ImageDecodeError(f"image too large ({width}x{height} pixels, at most {max_pixels})")
    if frames > MAX_FRAMES:
        raise ImageDecodeError(f"{frames} frames; a single 2D slice is expected")


def _decode_pillow(data: bytes, fmt: str, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow warns (and errors past 2x) on decompression bombs; we check ourselves first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.format != fmt:
                    raise ImageDecodeError(f"content is {im.format}, header said {fmt}")
                _check_size(im.width, im.height, getattr(im, "n_frames", 1), max_pixels)
                im.load()
                return pil_to_array(im)
    except ImageDecodeError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise ImageDecodeError(f"cannot decode {fmt}: {exc}") from exc


def _decode_dicom(data: bytes, max_pixels: int) -> np.ndarray:
    import pydicom  # only needed for DICOM uploads

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        _check_size(cols, rows, frames, max_pixels)
        if "PixelData" not in ds:
            raise ImageDecodeError("DICOM without pixel data")
        pixels = ds.pixel_array.astype(np.float32)
    except ImageDecodeError:
        raise
    except Exception as exc:  # pydicom raises many unrelated types on malformed files
        raise ImageDecodeError(f"cannot decode DICOM: {exc}") from exc
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    pixels = pixels * slope + intercept
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        pixels = pixels.max() - pixels
    if pixels.ndim == 3 and pixels.shape[-1] != 3:
        raise ImageDecodeError(f"unexpected DICOM pixel shape {pixels.shape}")
    return pixels


def pil_to_array(im: Image.Image) -> np.ndarray:
    """PIL image -> HxW grey or HxWx3 RGB array, keeping 16-bit depth when present."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(im, dtype=np.float32)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float32)
    if im.mode in ("L", "1"):
        return np.asarray(im.convert("L"), dtype=np.uint8)
    if im.mode in ("LA", "La"):
        return np.asarray(im.convert("L"), dtype=np.uint8)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_image(source: ImageInput, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Turn any accepted input into an HxW or HxWx3 array (see ``ImageInput``)."""
    if isinstance(source, np.ndarray):
        return _check_array(source)
    if isinstance(source, Image.Image):
        _check_size(source.width, source.height, 1, max_pixels)
        return pil_to_array(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image_bytes(bytes(source), max_pixels=max_pixels).pixels
    if isinstance(source, (str, os.PathLike)):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from exc
        return decode_image_bytes(data, max_pixels=max_pixels).pixels
    raise ImageDecodeError(f"unsupported input type {type(source).__name__}")


def _check_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ImageDecodeError(f"expected HxW or HxWx3 array, got shape {arr.shape}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ImageDecodeError(f"unsupported array dtype {arr.dtype}")
    _check_size(arr.shape[1], arr.shape[0], 1, MAX_PIXELS)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ImageDecodeError("array contains NaN or infinite values")
    return arr


def load_images(sources: Sequence[ImageInput]) -> list[np.ndarray | ImageDecodeError]:
    """Load many inputs; a failure is returned in place, never skipped silently."""
    out: list[np.ndarray | ImageDecodeError] = []
    for src in sources:
        try:
            out.append(load_image(src))
        except ImageDecodeError as exc:
            out.append(exc)
    return out
