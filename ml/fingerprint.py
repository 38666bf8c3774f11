"""Training-data fingerprint for drift monitoring (numpy only).

The fingerprint is a JSON document with, per feature, fixed bin edges, the training counts in
those bins and summary quantiles. A monitor computes ``image_features`` on incoming scans,
bins them with the same edges and compares the two histograms (e.g. population stability
index); fixed edges make the comparison independent of how many scans arrived.
"""

from __future__ import annotations

import numpy as np

from ml.preprocess import to_grey

#: Feature -> bin edges. Intensities are on the raw 8-bit scale of the input file.
BINS: dict[str, list[float]] = {
    "width": [0, 256, 384, 480, 511, 513, 640, 800, 1024, 1e9],
    "height": [0, 256, 384, 480, 511, 513, 640, 800, 1024, 1e9],
    "aspect": [0, 0.75, 0.9, 0.98, 1.02, 1.1, 1.33, 1e9],
    "mean_intensity": list(np.linspace(0, 160, 17)) + [256],
    "contrast": list(np.linspace(0, 100, 21)) + [256],
}


def image_features(image: np.ndarray) -> dict[str, float]:
    """The fingerprinted features of one raw image array."""
    grey = to_grey(image)
    h, w = grey.shape
    return {
        "width": float(w),
        "height": float(h),
        "aspect": float(w / h),
        "mean_intensity": float(grey.mean()),
        "contrast": float(grey.std()),
    }


def build_fingerprint(
    features: dict[str, np.ndarray], labels: np.ndarray, class_names: tuple[str, ...]
) -> dict:
    """Histogram + quantiles per feature, and class counts, of the training images."""
    out: dict = {
        "n_images": int(len(labels)),
        "class_counts": {c: int(np.sum(labels == c)) for c in class_names},
    }
    feats = {}
    for name, edges in BINS.items():
        v = np.asarray(features[name], dtype=np.float64)
        counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
        q = np.quantile(v, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
        feats[name] = {
            "bin_edges": [float(e) for e in edges],
            "counts": [int(c) for c in counts],
            "mean": float(v.mean()),
            "std": float(v.std()),
            "quantiles": {
                k: float(x)
                for k, x in zip(("p01", "p05", "p25", "p50", "p75", "p95", "p99"), q, strict=True)
            },
        }
    out["features"] = feats
    return out
