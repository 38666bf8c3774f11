"""Source randomisation: take away the cues that tell one image collection from another.

In the Sartaj Training folder each tumour class comes mostly from one collection (512x512,
one JPEG encoder, one framing) while no-tumour images come from others, so a network can
learn "which source" instead of "which tumour" (docs/ml/tried.md). These functions act on the
*original* image, before ``ml.preprocess``, where those cues live:

1. framing: crop into, or pad, each border by a random amount (field of view, black margins,
   aspect ratio);
2. resolution: down-sample so the longer side is 96-512 px, and for half of the images
   up-sample again to a random larger side (the blur and interpolation of small sources);
3. compression: re-encode as JPEG at quality 30-95 (block artefacts of other encoders).

The result goes through the model's own preprocessing. Pure numpy + Pillow, seeded, no
TensorFlow: ``source_variants`` draws a few variants per training image in advance and
caches them under ``var/ml`` so training only picks among them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ml import CACHE_DIR
from ml.images import load_image
from ml.preprocess import PREPROCESS_VERSION, PreprocessConfig, preprocess, to_grey

_VERSION = 1
_FILTERS = (
    Image.Resampling.NEAREST,
    Image.Resampling.BOX,
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
)


@dataclass(frozen=True)
class SourceAugConfig:
    crop_max: float = 0.08  # at most this share of a side cut from each border
    pad_max: float = 0.2  # at most this share of a side added to each border
    min_side: int = 96  # longer side after down-sampling: log-uniform in [min_side, max_side]
    max_side: int = 512
    upsample_p: float = 0.5  # share of images up-sampled again after down-sampling
    max_up_side: int = 640
    jpeg_p: float = 0.85  # share of images re-encoded as JPEG
    jpeg_quality: tuple[int, int] = (30, 95)

    def to_dict(self) -> dict:
        return asdict(self)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Any image array -> grey uint8 HxW (8-bit data as it is, deeper data rescaled)."""
    grey = to_grey(image)
    if grey.dtype == np.float32 and (grey.min() < 0 or grey.max() > 255):
        lo, hi = float(grey.min()), float(grey.max())
        grey = (grey - lo) / max(hi - lo, 1e-6) * 255.0
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def reframe(grey: np.ndarray, rng: np.random.Generator, cfg: SourceAugConfig) -> np.ndarray:
    """Crop into or pad each border independently (pads take the darkest value or a dark grey)."""
    h, w = grey.shape
    fill = int(grey.min()) if rng.random() < 0.5 else int(rng.integers(0, 40))
    out = grey
    if rng.random() < 0.5:  # crop: never more than crop_max of a side per border
        t, b = (int(rng.uniform(0, cfg.crop_max) * h) for _ in range(2))
        left, right = (int(rng.uniform(0, cfg.crop_max) * w) for _ in range(2))
        out = out[t : h - b, left : w - right]
    else:
        t, b = (int(rng.uniform(0, cfg.pad_max) * h) for _ in range(2))
        left, right = (int(rng.uniform(0, cfg.pad_max) * w) for _ in range(2))
        out = np.pad(out, ((t, b), (left, right)), constant_values=fill)
    return np.ascontiguousarray(out)


def resample(grey: np.ndarray, rng: np.random.Generator, cfg: SourceAugConfig) -> np.ndarray:
    """Down-sample to a random longer side, then (sometimes) up-sample to a larger one."""
    h, w = grey.shape
    side = int(round(np.exp(rng.uniform(np.log(cfg.min_side), np.log(cfg.max_side)))))
    im = Image.fromarray(grey)
    if side < max(h, w):
        scale = side / max(h, w)
        im = im.resize(
            (max(1, round(w * scale)), max(1, round(h * scale))),
            _FILTERS[int(rng.integers(1, len(_FILTERS)))],  # no NEAREST when shrinking: aliasing
        )
    if rng.random() < cfg.upsample_p:
        cur = max(im.size)
        up = int(rng.integers(cur, max(cur, cfg.max_up_side) + 1))
        if up > cur:
            scale = up / cur
            im = im.resize(
                (max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                _FILTERS[int(rng.integers(0, len(_FILTERS)))],
            )
    return np.asarray(im, dtype=np.uint8)


def jpeg_recompress(grey: np.ndarray, quality: int) -> np.ndarray:
    """Encode as a greyscale JPEG at ``quality`` and decode again."""
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=np.uint8)


def randomise_source(
    image: np.ndarray, rng: np.random.Generator, cfg: SourceAugConfig = SourceAugConfig()
) -> np.ndarray:
    """One source-randomised copy of an original image: grey uint8, a new size."""
    grey = reframe(to_uint8(image), rng, cfg)
    grey = resample(grey, rng, cfg)
    if rng.random() < cfg.jpeg_p:
        grey = jpeg_recompress(
            grey, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        )
    return grey


def _variants_one(args: tuple[str, int, int, int, PreprocessConfig, SourceAugConfig]) -> np.ndarray:
    path, seed, row, n, config, cfg = args
    image = load_image(path)
    rng = np.random.default_rng([seed, row])
    return np.stack([preprocess(randomise_source(image, rng, cfg), config) for _ in range(n)])


def source_variants(
    root: Path,
    paths: list[str],
    n: int,
    config: PreprocessConfig,
    *,
    seed: int,
    cfg: SourceAugConfig = SourceAugConfig(),
    workers: int = 2,
    use_cache: bool = True,
) -> np.ndarray:
    """(len(paths), n, S, S) uint8: ``n`` source-randomised, preprocessed copies per image.

    Row ``i`` depends only on (seed, i, the file, the configs), so a run is reproducible; the
    result is cached under ``var/ml`` keyed by all of them.
    """
    root = Path(root)
    h = hashlib.sha256(
        json.dumps(
            [_VERSION, PREPROCESS_VERSION, str(root), n, seed, config.to_dict(), cfg.to_dict()]
        ).encode()
    )
    for p in paths:
        h.update(f"{p}|{(root / p).stat().st_size}\n".encode())
    cache = CACHE_DIR / f"source-aug-{h.hexdigest()[:16]}.npy"
    if use_cache and cache.exists():
        return np.load(cache)
    jobs = [(str(root / p), seed, i, n, config, cfg) for i, p in enumerate(paths)]
    if workers > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            out = np.stack(list(pool.map(_variants_one, jobs, chunksize=16)))
    else:
        out = np.stack([_variants_one(j) for j in jobs])
    if use_cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, out)
        os.replace(tmp, cache)
    return out
