"""Turn untrusted upload bytes into a clean PNG, or refuse them with a reason.

Each accepted format is one module here that registers a Reader keyed by its magic bytes;
the format is sniffed from the content, never from the file name. A new format (DICOM) is a
new module plus one import line at the bottom of this file.

Every refusal is an IngestError whose message is safe to show to the uploader.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ml.ood import colour_saturation

if TYPE_CHECKING:
    from tumorapp.scans.ingest.dicom import DicomSlice


class IngestError(ValueError):
    """The upload is refused; ``code`` is stable for clients, ``message`` is for people."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_pixels: int
    min_side: int = 16


@dataclass(frozen=True)
class Reader:
    """One accepted format: its magic bytes and a function from bytes to a decoded image.

    A format whose files hold several slices and more than pixels (DICOM) gives
    ``read_slices`` instead, from bytes to finished IngestedImages."""

    format: str
    magics: tuple[bytes, ...]
    read: Callable[[bytes, Limits], Image.Image] | None = None
    offset: int = 0
    read_slices: Callable[[bytes, Limits], list[IngestedImage]] | None = None

    def matches(self, head: bytes) -> bool:
        return any(head[self.offset : self.offset + len(m)] == m for m in self.magics)


@dataclass(frozen=True)
class IngestedImage:
    """A validated, re-encoded image and what the platform keeps about it."""

    format: str
    sha256: str  # of the uploaded bytes: the same bytes uploaded twice are the same scan
    size_bytes: int
    png: bytes
    width: int
    height: int
    intensity_mean: float
    intensity_std: float
    intensity_p01: float
    intensity_p99: float
    dicom: DicomSlice | None = None  # DICOM only: the slice's file, header facts and keys
    # Mean chroma in [0, 1] (``ml.ood.colour_saturation``): 0 for grey, as MRI is.
    colour_saturation: float = 0.0


_READERS: list[Reader] = []
_SNIFF_BYTES = 132  # enough for every registered magic, DICOM's at offset 128 included


def register(reader: Reader) -> Reader:
    _READERS.append(reader)
    return reader


def accepted_formats() -> list[str]:
    return [r.format for r in _READERS]


def sniff(data: bytes) -> Reader:
    head = bytes(data[:_SNIFF_BYTES])
    for reader in _READERS:
        if reader.matches(head):
            return reader
    names = ", ".join(f.upper() for f in accepted_formats())
    raise IngestError(
        "unsupported_format",
        f"The content is not a supported image ({names} accepted); the file name is not trusted.",
        status=415,
    )


def ingest_slices(data: bytes, limits: Limits) -> list[IngestedImage]:
    """Every slice of one uploaded file: one for PNG and JPEG, one per frame for DICOM."""
    reader = _checked_reader(data, limits)
    if reader.read_slices is not None:
        return reader.read_slices(data, limits)
    return [ingest(data, limits)]


def ingest(data: bytes, limits: Limits) -> IngestedImage:
    """Validate upload bytes and re-encode them.

    1. Refuse empty and oversized files before looking inside.
    2. Sniff the format from the magic bytes.
    3. The format's reader checks the header dimensions, then decodes (see pillow_read).
    4. Re-encode as PNG (greyscale when the colour channels agree) without any metadata,
       and compute the intensity statistics kept for drift monitoring.
    """
    reader = _checked_reader(data, limits)
    if reader.read is None:
        slices = reader.read_slices(data, limits)
        if len(slices) != 1:
            raise IngestError("multi_frame", "The file holds several slices; one was expected.")
        return slices[0]
    return encode_image(reader.format, data, reader.read(data, limits))


def _checked_reader(data: bytes, limits: Limits) -> Reader:
    if not data:
        raise IngestError("empty", "The file is empty.")
    if len(data) > limits.max_file_bytes:
        raise IngestError(
            "file_too_large",
            f"The file is {len(data):,} bytes; at most {limits.max_file_bytes:,} are accepted.",
            status=413,
        )
    return sniff(data)


def encode_image(
    format: str,
    data: bytes,
    image: Image.Image,
    *,
    sha256: str | None = None,
    dicom_slice: DicomSlice | None = None,
) -> IngestedImage:
    """The stored PNG of a decoded image and its statistics; ``sha256`` defaults to the
    hash of the uploaded bytes."""
    image = _canonical(image)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    grey = np.asarray(image.convert("L") if image.mode == "RGB" else image, dtype=np.float64)
    p01, p99 = np.percentile(grey, [1, 99])
    return IngestedImage(
        format=format,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        png=out.getvalue(),
        width=image.width,
        height=image.height,
        intensity_mean=float(grey.mean()),
        intensity_std=float(grey.std()),
        intensity_p01=float(p01),
        intensity_p99=float(p99),
        dicom=dicom_slice,
        colour_saturation=colour_saturation(np.asarray(image)) if image.mode == "RGB" else 0.0,
    )


def _canonical(image: Image.Image) -> Image.Image:
    """L, I;16 or RGB; colour images whose channels are equal become L (MRI is grey)."""
    if image.mode in ("L", "I;16"):
        return image
    if image.mode in ("I", "I;16B", "I;16L"):
        return image.convert("I;16")
    if image.mode in ("1", "LA", "La"):
        return image.convert("L")
    rgb = image.convert("RGB")
    pixels = np.asarray(rgb)
    if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(
        pixels[..., 1], pixels[..., 2]
    ):
        return rgb.convert("L")
    return rgb


def pillow_read(data: bytes, limits: Limits, pillow_format: str) -> Image.Image:
    """Open with Pillow, check the header's dimensions and frame count, then decode.

    Pillow reads only the header in ``Image.open``; the pixel count is checked before
    ``load()`` decodes anything, so a 200-megapixel flat PNG costs a few bytes of reading.
    Pillow's own bomb error (its process-wide limit, left as it is) maps to the same refusal.
    """
    try:
        with warnings.catch_warnings():
            # Our own pixel check below refuses these; Pillow's warning adds nothing.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[pillow_format])
        with im:
            width, height = im.size
            if width * height > limits.max_pixels:
                raise IngestError(
                    "too_many_pixels",
                    f"The image is {width}x{height} pixels; at most {limits.max_pixels:,} "
                    "pixels are accepted.",
                    status=413,
                )
            if width < limits.min_side or height < limits.min_side:
                raise IngestError(
                    "too_small",
                    f"The image is {width}x{height} pixels; at least {limits.min_side} a side "
                    "is needed.",
                )
            if getattr(im, "n_frames", 1) != 1:
                raise IngestError("multi_frame", "Animated or multi-frame images are refused.")
            im.load()
            return im.copy()
    except IngestError:
        raise
    except Image.DecompressionBombError as exc:
        raise IngestError(
            "too_many_pixels",
            f"The image has more than {limits.max_pixels:,} pixels; it was refused before "
            "decoding.",
            status=413,
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise IngestError(
            "corrupt",
            f"The {pillow_format} file is damaged or truncated and cannot be decoded.",
        ) from exc


# The registered formats (import order is sniff order).
from tumorapp.scans.ingest import jpeg, png, dicom  # noqa: E402, F401, I001
