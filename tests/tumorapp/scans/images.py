"""Test images: small generated ones, real slices read from the shared data set at run
time (never copied into the repository), and hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ml import DEFAULT_DATA_DIR

DATA = DEFAULT_DATA_DIR / "Testing"


def png_bytes(width: int = 64, height: int = 64, *, seed: int = 0, mode: str = "L") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width) if mode == "L" else (height, width, 3)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, mode).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 64, height: int = 64, *, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), "L").save(
        out, format="JPEG", quality=90
    )
    return out.getvalue()


def real_slice(index: int = 0, tumour: str = "glioma_tumor") -> tuple[str, bytes]:
    """A real slice from the public data set (read-only, outside the repository)."""
    files = sorted((DATA / tumour).glob("*.jpg"))
    if not files:
        return f"generated-{index}.jpg", jpeg_bytes(256, 256, seed=index)
    path = files[index % len(files)]
    return path.name, path.read_bytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def flat_png_bomb(width: int, height: int) -> bytes:
    """A valid all-black greyscale PNG of width x height; compresses to almost nothing."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    idat = b"".join(parts)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


PHP = b"<?php system($_GET['c']); ?>\n"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b"<script>alert(1)</script><rect width='64' height='64'/></svg>"
)


def truncated_jpeg() -> bytes:
    data = jpeg_bytes(128, 128, seed=3)
    return data[: len(data) // 2]


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())
