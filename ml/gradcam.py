"""Grad-CAM maps and overlay images (numpy + Pillow; the gradients come from the predictor).

Grad-CAM (Selvaraju et al. 2017): weight each channel of the last convolutional activation by
the spatial mean of the class score's gradient, sum, keep the positive part, scale to [0, 1].
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ml.preprocess import to_grey

OVERLAY_MAX_SIDE = 1024


def cam_from_activations(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """(N, h, w, C) activations and gradients -> (N, h, w) float32 maps in [0, 1]."""
    weights = gradients.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((activations * weights).sum(axis=-1), 0.0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


def upsample(cam: np.ndarray, size: int) -> np.ndarray:
    """One (h, w) map -> (size, size), bilinear."""
    im = Image.fromarray(np.ascontiguousarray(cam, dtype=np.float32))
    return np.clip(
        np.asarray(im.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32), 0.0, 1.0
    )


def _jet(x: np.ndarray) -> np.ndarray:
    """Blue -> cyan -> yellow -> red colour map, (H, W) in [0, 1] -> (H, W, 3) uint8."""
    r = np.clip(1.5 - np.abs(4 * x - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * x - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * x - 1), 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def overlay_png(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> bytes:
    """PNG bytes of the grey image with the heat map blended in where it is high.

    ``heatmap`` has the image's height and width. Images larger than OVERLAY_MAX_SIDE are
    scaled down for the overlay only.
    """
    grey = to_grey(image)
    lo, hi = np.percentile(grey, [0.5, 99.5])
    base = np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1)
    h, w = base.shape
    scale = min(1.0, OVERLAY_MAX_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        base = np.asarray(
            Image.fromarray(base.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
        )
        heatmap = np.asarray(
            Image.fromarray(heatmap.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
        )
    weight = (alpha * np.clip(heatmap, 0, 1))[..., None]
    rgb = (1 - weight) * (base[..., None] * 255.0) + weight * _jet(np.clip(heatmap, 0, 1)).astype(
        np.float32
    )
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8), "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
