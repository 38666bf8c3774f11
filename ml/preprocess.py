"""The one preprocessing used by training, evaluation and prediction (numpy + Pillow only).

Steps, chosen to absorb scanner variation before the network sees an image:

1. greyscale (luminance of RGB; 16-bit and float kept at full depth),
2. optional brain crop: bounding box of the pixels above a fraction of the robust maximum,
   so the field of view and black borders of different scanners matter less,
3. pad to a square with the background value (aspect ratio preserved), resize with
   antialiasing to ``size`` x ``size``,
4. intensity normalisation, one of
   - ``"equalize"``: rank-based histogram equalisation over the tissue pixels: every pixel
     becomes the share of tissue pixels darker than it. Only the order of intensities
     survives, so windowing, gain, gamma and much of the sequence-brightness "style" of a
     source carry no signal (in the Sartaj Training folder that style tells the classes apart
     better than the anatomy does). Tried for a v3 candidate: it did not generalise better to
     the Testing sources (docs/ml/tried.md);
   - ``"percentile"`` (the default, and the shipped brain-mri-cnn-v2): map the [low, high]
     percentiles to [0, 255], which undoes linear windowing / gain differences.

The result is uint8 so a whole data set caches in a few tens of MB; the model input is that
divided by 255. ``Geometry`` records where the model input came from in the original image so
heat maps can be drawn back onto it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

#: Bump whenever the steps below change output for the same config: caches key on it.
#: (A new config field whose old value reproduces the old output needs no bump: that keeps
#: older model folders loadable.)
PREPROCESS_VERSION = 2


@dataclass(frozen=True)
class PreprocessConfig:
    size: int = 128
    brain_crop: bool = True
    crop_threshold: float = 0.08  # fraction of the 99th percentile that counts as tissue
    crop_margin: float = 0.04  # fraction of the box side added around the crop
    low_percentile: float = 0.5
    high_percentile: float = 99.5
    intensity: str = "percentile"  # or "equalize" (see the module docstring)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PreprocessConfig:
        # Manifests written before ``intensity`` existed were trained with percentiles.
        data = {"intensity": "percentile", **data}
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Geometry:
    """Maps the model input square back to the original image."""

    original_shape: tuple[int, int]  # (height, width) of the input image
    box: tuple[int, int, int, int]  # crop (top, left, bottom, right) in the original image
    pad: tuple[int, int]  # (top, left) padding added to make the crop square
    side: int  # side of the padded square, in original pixels


def to_grey(image: np.ndarray) -> np.ndarray:
    """HxW or HxWx3 array of any numeric dtype -> float32 HxW (original intensity scale)."""
    arr = np.asarray(image)
    if arr.ndim == 3:
        if arr.shape[-1] == 1:
            arr = arr[..., 0]
        else:
            rgb = arr[..., :3].astype(np.float32)
            # ITU-R 601 luma, the same weights Pillow's convert("L") uses.
            return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    if arr.ndim != 2:
        raise ValueError(f"expected HxW or HxWx3 image, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def brain_box(grey: np.ndarray, threshold: float, margin: float) -> tuple[int, int, int, int]:
    """Bounding box (top, left, bottom, right) of the bright region; whole image if none."""
    h, w = grey.shape
    # Work on a coarse copy: the box only needs a few pixels of precision.
    step = max(1, max(h, w) // 256)
    small = grey[::step, ::step]
    ref = float(np.percentile(small, 99))
    if ref <= float(small.min()):
        return 0, 0, h, w
    mask = small > small.min() + threshold * (ref - small.min())
    # A row/column counts when >1 % of it is tissue, so isolated specks and text do not.
    rows = np.flatnonzero(mask.mean(axis=1) > 0.01)
    cols = np.flatnonzero(mask.mean(axis=0) > 0.01)
    if rows.size == 0 or cols.size == 0:
        return 0, 0, h, w
    top, bottom = rows[0] * step, min(h, (rows[-1] + 1) * step)
    left, right = cols[0] * step, min(w, (cols[-1] + 1) * step)
    if (bottom - top) < 0.1 * h or (right - left) < 0.1 * w:
        return 0, 0, h, w  # implausibly small: trust the original framing instead
    m = int(round(margin * max(bottom - top, right - left)))
    return (
        int(max(0, top - m)),
        int(max(0, left - m)),
        int(min(h, bottom + m)),
        int(min(w, right + m)),
    )


def preprocess_with_geometry(
    image: np.ndarray, config: PreprocessConfig
) -> tuple[np.ndarray, Geometry]:
    """Image array -> (uint8 ``size`` x ``size`` array, Geometry)."""
    grey = to_grey(image)
    h, w = grey.shape
    if config.brain_crop:
        top, left, bottom, right = brain_box(grey, config.crop_threshold, config.crop_margin)
    else:
        top, left, bottom, right = 0, 0, h, w
    crop = grey[top:bottom, left:right]
    ch, cw = crop.shape
    side = max(ch, cw)
    pad_top, pad_left = (side - ch) // 2, (side - cw) // 2
    square = np.full((side, side), float(crop.min()), dtype=np.float32)
    square[pad_top : pad_top + ch, pad_left : pad_left + cw] = crop
    resized = np.asarray(
        Image.fromarray(square).resize((config.size, config.size), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    if config.intensity == "equalize":
        out = _equalize(resized, config.crop_threshold)
    elif config.intensity == "percentile":
        out = _percentile_window(resized, config.low_percentile, config.high_percentile)
    else:
        raise ValueError(f"unknown intensity normalisation {config.intensity!r}")
    return out, Geometry((h, w), (top, left, bottom, right), (pad_top, pad_left), side)


def _percentile_window(image: np.ndarray, low: float, high: float) -> np.ndarray:
    lo, hi = np.percentile(image, [low, high])
    if hi - lo < 1e-6:
        return np.zeros_like(image, dtype=np.uint8)
    return (np.clip((image - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _equalize(image: np.ndarray, threshold: float) -> np.ndarray:
    """Each pixel -> share of tissue pixels below it (background stays 0), scaled to 0..255."""
    lo, ref = float(image.min()), float(np.percentile(image, 99))
    if ref - lo < 1e-6:
        return np.zeros_like(image, dtype=np.uint8)
    tissue = np.sort(image[image > lo + threshold * (ref - lo)])
    if tissue.size < 16:
        return _percentile_window(image, 0.5, 99.5)
    cdf = np.searchsorted(tissue, image, side="right") / tissue.size
    return (cdf * 255.0 + 0.5).astype(np.uint8)


def preprocess(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Image array -> uint8 ``size`` x ``size`` array, the cached/trained representation."""
    return preprocess_with_geometry(image, config)[0]


def to_model_input(batch: np.ndarray) -> np.ndarray:
    """uint8 (N, S, S) -> float32 (N, S, S, 1) in [0, 1], the network's input."""
    return (np.asarray(batch, dtype=np.float32) / 255.0)[..., None]


def heatmap_to_original(heatmap: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Map a heat map over the model input square back onto the original image (float32 HxW)."""
    h, w = geometry.original_shape
    top, left, bottom, right = geometry.box
    side = geometry.side
    up = np.asarray(
        Image.fromarray(np.ascontiguousarray(heatmap, dtype=np.float32)).resize(
            (side, side), Image.Resampling.BILINEAR
        ),
        dtype=np.float32,
    )
    pt, pl = geometry.pad
    out = np.zeros((h, w), dtype=np.float32)
    out[top:bottom, left:right] = up[pt : pt + bottom - top, pl : pl + right - left]
    return np.clip(out, 0.0, 1.0)
