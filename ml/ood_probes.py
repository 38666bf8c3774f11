"""Non-MRI inputs for measuring the OOD guard: generated images and scikit-image samples.

Colour photographs are also given in greyscale so the colour check alone cannot pass the test.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SKIMAGE_SAMPLES = (
    "astronaut", "camera", "coins", "chelsea", "coffee", "rocket", "text", "page", "moon", "horse",
    "hubble_deep_field", "immunohistochemistry", "cat", "clock", "grass", "gravel", "brick",
    "checkerboard", "colorwheel", "logo", "microaneurysms", "retina", "binary_blobs", "cell",
    "stereo_motorcycle", "shepp_logan_phantom",
)  # fmt: skip

_WORDS = [
    "patient",
    "report",
    "findings",
    "normal",
    "impression",
    "contrast",
    "axial",
    "series",
    "image",
    "dose",
    "scan",
    "clinic",
]


def _to_uint8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        a = (a - a.min()) / max(a.max() - a.min(), 1e-12) * 255
        return a.astype(np.uint8)
    return a


def skimage_images() -> list[tuple[str, np.ndarray]]:
    """scikit-image's bundled samples (those available offline), colour ones also in grey."""
    import skimage.data

    out = []
    for name in SKIMAGE_SAMPLES:
        try:
            a = getattr(skimage.data, name)()
        except (ImportError, OSError, ValueError):  # needs a download (pooch) unavailable offline
            continue
        a = _to_uint8(a[0] if isinstance(a, tuple) else a)
        if a.ndim == 3 and a.shape[-1] == 4:
            a = a[..., :3]
        out.append((f"skimage:{name}", a))
        if a.ndim == 3:
            grey = np.asarray(Image.fromarray(a).convert("L"))
            out.append((f"skimage:{name}(grey)", grey))
    return out


def synthetic_images(seed: int = 0, per_kind: int = 6) -> list[tuple[str, np.ndarray]]:
    """Noise, blank, gradients, text documents, random shapes and smooth random textures.

    ``per_kind`` of each. Training draws its outlier-exposure images from here with another
    seed; the evaluation's scikit-image samples are kinds training never saw.
    """
    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=18)
    out: list[tuple[str, np.ndarray]] = []
    for k in range(per_kind):
        h, w = int(rng.integers(200, 640)), int(rng.integers(200, 640))
        out.append(
            (f"noise:gaussian{k}", np.clip(rng.normal(128, 50, (h, w)), 0, 255).astype(np.uint8))
        )
        out.append((f"noise:uniform-rgb{k}", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
        out.append((f"noise:salt-pepper{k}", (rng.random((h, w)) < 0.5).astype(np.uint8) * 255))
        out.append((f"blank:{k}", np.full((h, w), int(rng.integers(0, 256)), np.uint8)))
        yy, xx = np.mgrid[0:h, 0:w]
        angle = rng.uniform(0, np.pi)
        lin = np.cos(angle) * xx / w + np.sin(angle) * yy / h
        out.append((f"gradient:linear{k}", _to_uint8(lin)))
        rad = np.hypot(yy - h * rng.uniform(0.3, 0.7), xx - w * rng.uniform(0.3, 0.7))
        out.append((f"gradient:radial{k}", _to_uint8(-rad)))
        doc = Image.new("L", (w + 200, h + 300), 255)
        draw = ImageDraw.Draw(doc)
        for line in range(5, doc.height - 20, 24):
            words = " ".join(rng.choice(_WORDS, size=int(rng.integers(3, 9))))
            draw.text((10, line), words, fill=int(rng.integers(0, 80)), font=font)
        out.append((f"document:{k}", np.asarray(doc)))
        shapes = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(shapes)
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
            box = (x0, y0, x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2)))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        shapes_rgb = np.asarray(shapes)
        out.append((f"shapes:colour{k}", shapes_rgb))
        out.append((f"shapes:grey{k}", np.asarray(shapes.convert("L"))))
        out.append((f"texture:{k}", _texture(rng, h, w, colour=k % 2 == 0)))
    return out


def _texture(rng: np.random.Generator, h: int, w: int, colour: bool) -> np.ndarray:
    """Sum of random noise at several scales: cloud-, wood- and fabric-like surfaces."""
    channels = 3 if colour else 1
    acc = np.zeros((h, w, channels), np.float32)
    for cells in (4, 12, 40, 120):
        small = rng.random((cells, cells, channels)).astype(np.float32)
        layers = [
            np.asarray(Image.fromarray(small[..., c]).resize((w, h), Image.Resampling.BICUBIC))
            for c in range(channels)
        ]
        acc += rng.uniform(0.2, 1.0) * np.stack(layers, axis=-1)
    out = _to_uint8(acc)
    return out if colour else out[..., 0]
