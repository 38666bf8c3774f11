"""Out-of-distribution guard: is this input a brain MRI slice like the training data?

Two independent checks, both fitted at training time and stored in the model folder:

1. Image statistics (cheap, before the network): colour saturation (MRI is grey), blank or
   near-constant images, and an envelope of statistics of the preprocessed image (share of
   dark background, high-frequency energy that flags noise and text, mean intensity) taken
   from the training images' own range.
2. Feature distance: the Mahalanobis distance of the network's pooled features to the
   nearest class mean (shared Ledoit-Wolf covariance), threshold at a validation quantile.

numpy only, so the statistics part can be used anywhere; the features come from the predictor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

#: Statistic name -> which side of the training range is suspicious.
ENVELOPE = {"dark_fraction": "low", "high_freq": "high", "mean": "both", "edge_density": "high"}


def colour_saturation(image: np.ndarray) -> float:
    """Mean chroma (max - min channel) in [0, 1]; 0 for grey images."""
    if image.ndim != 3:
        return 0.0
    rgb = image[..., :3].astype(np.float32)
    scale = 255.0 if image.dtype == np.uint8 else max(float(rgb.max()), 1e-6)
    return float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1)) / scale)


def relative_spread(image: np.ndarray) -> float:
    """Standard deviation over dynamic range (0 for a constant image)."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3:
        a = a.mean(axis=-1)
    rng = float(a.max() - a.min())
    return float(a.std() / rng) if rng > 0 else 0.0


def preprocessed_stats(pixels: np.ndarray) -> dict[str, float]:
    """Statistics of one preprocessed uint8 image, compared with the training envelope."""
    x = pixels.astype(np.float32) / 255.0
    blurred = (
        np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
        / 255.0
    )
    gy, gx = np.gradient(blurred)
    grad = np.hypot(gx, gy)
    return {
        "dark_fraction": float(np.mean(x < 0.1)),
        # Energy that a 1.5 px blur removes: high for noise, text and fine photo texture.
        "high_freq": float(np.mean(np.abs(x - blurred)) / (x.std() + 1e-3)),
        "mean": float(x.mean()),
        "edge_density": float(np.mean(grad > 0.08)),
    }


@dataclass
class OODGuard:
    """Fitted parameters; ``check`` returns (is_ood, score, reasons)."""

    class_means: np.ndarray  # (C, D)
    precision: np.ndarray  # (D, D)
    distance_threshold: float
    envelope: dict[str, tuple[float, float]]
    max_saturation: float = 0.06
    min_spread: float = 0.02

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance to the nearest class mean, per row of ``features``."""
        d = features[:, None, :] - self.class_means[None, :, :]
        m = np.einsum("ncd,de,nce->nc", d, self.precision, d)
        return np.sqrt(np.maximum(m.min(axis=1), 0.0))

    def image_reasons(self, image: np.ndarray, pixels: np.ndarray) -> list[str]:
        reasons = []
        if colour_saturation(image) > self.max_saturation:
            reasons.append("colour image (MRI is greyscale)")
        if relative_spread(image) < self.min_spread:
            reasons.append("blank or near-constant image")
        stats = preprocessed_stats(pixels)
        for name, side in ENVELOPE.items():
            lo, hi = self.envelope[name]
            if (side in ("low", "both") and stats[name] < lo) or (
                side in ("high", "both") and stats[name] > hi
            ):
                reasons.append(
                    f"{name}={stats[name]:.3f} outside training range [{lo:.3f}, {hi:.3f}]"
                )
        return reasons

    def score(self, distance: float) -> float:
        """Distance relative to the threshold: > 1 means flagged by the feature check."""
        return float(distance / self.distance_threshold)

    def save(self, path) -> None:
        np.savez(
            path,
            class_means=self.class_means.astype(np.float32),
            precision=self.precision.astype(np.float32),
            distance_threshold=np.float64(self.distance_threshold),
            envelope_names=np.array(list(self.envelope)),
            envelope=np.array([self.envelope[k] for k in self.envelope], dtype=np.float64),
            max_saturation=np.float64(self.max_saturation),
            min_spread=np.float64(self.min_spread),
        )

    @classmethod
    def load(cls, path) -> OODGuard:
        with np.load(path) as z:
            return cls(
                class_means=z["class_means"].astype(np.float64),
                precision=z["precision"].astype(np.float64),
                distance_threshold=float(z["distance_threshold"]),
                envelope={
                    str(k): (float(v[0]), float(v[1]))
                    for k, v in zip(z["envelope_names"], z["envelope"], strict=True)
                },
                max_saturation=float(z["max_saturation"]),
                min_spread=float(z["min_spread"]),
            )


def fit_guard(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    train_pixels: np.ndarray,
    val_features: np.ndarray,
    val_flag_rate: float = 0.01,
    envelope_quantile: float = 0.002,
) -> OODGuard:
    """Fit the guard on training data; the feature threshold flags ``val_flag_rate`` of validation.

    The statistics envelope is the training range between the ``envelope_quantile`` quantiles,
    widened by a quarter of the inter-quantile range, so it rejects only clearly foreign inputs.
    """
    from sklearn.covariance import LedoitWolf

    classes = np.unique(train_labels)
    means = np.stack([train_features[train_labels == c].mean(axis=0) for c in classes])
    centred = train_features - means[np.searchsorted(classes, train_labels)]
    precision = LedoitWolf().fit(centred).precision_
    stats = [preprocessed_stats(p) for p in train_pixels]
    envelope = {}
    for name in ENVELOPE:
        v = np.array([s[name] for s in stats])
        lo, hi = np.quantile(v, [envelope_quantile, 1 - envelope_quantile])
        pad = 0.25 * (hi - lo)
        envelope[name] = (float(lo - pad), float(hi + pad))
    guard = OODGuard(means, precision, 1.0, envelope)
    guard.distance_threshold = float(np.quantile(guard.distances(val_features), 1 - val_flag_rate))
    return guard
