"""Out-of-distribution guard: is this input a brain MRI slice like the training data?

Two independent checks, both fitted at training time and stored in the model folder:

1. Image statistics (cheap, before the network): colour saturation (MRI is grey), blank or
   near-constant images, and an envelope of statistics of the preprocessed image (share of
   dark background, high-frequency energy that flags noise and text, mean intensity) taken
   from the training images' own range.
2. Feature checks: the cosine distance of the network's pooled features to their k-th
   nearest training feature, and the energy score of the logits (the network was trained
   with outlier exposure, so non-MRI inputs get flat logits). Thresholds at a validation
   quantile, on clean and scanner-augmented validation images alike.

numpy only, so the statistics part can be used anywhere; the features come from the predictor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

#: Statistic name -> which side of the training range is suspicious.
ENVELOPE = {"dark_fraction": "low", "high_freq": "high", "mean": "both", "edge_density": "high"}


def _coarse(image: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Strided view with at most ``max_side`` pixels a side: these statistics need no detail."""
    step = max(1, max(image.shape[:2]) // max_side)
    return image[::step, ::step]


def colour_saturation(image: np.ndarray) -> float:
    """Mean chroma (max - min channel) in [0, 1]; 0 for grey images."""
    if image.ndim != 3:
        return 0.0
    rgb = _coarse(image, max_side=128)[..., :3]
    if image.dtype == np.uint8:  # integer max - min: a third of the float path's time
        return float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1)) / 255.0)
    rgb = rgb.astype(np.float32)
    scale = max(float(rgb.max()), 1e-6)
    return float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1)) / scale)


def relative_spread(image: np.ndarray) -> float:
    """Standard deviation over dynamic range (0 for a constant image)."""
    a = _coarse(np.asarray(image)).astype(np.float32)
    if a.ndim == 3:
        a = a.mean(axis=-1)
    rng = float(a.max() - a.min())
    return float(a.std() / rng) if rng > 0 else 0.0


#: Side at which the preprocessed-image statistics are taken (larger inputs are reduced first:
#: the statistics describe texture at this scale, and cost a quarter at 224 px).
STATS_SIDE = 128


def preprocessed_stats(pixels: np.ndarray) -> dict[str, float]:
    """Statistics of one preprocessed uint8 image, compared with the training envelope."""
    if pixels.shape[0] > STATS_SIDE:
        pixels = np.asarray(
            Image.fromarray(pixels).resize((STATS_SIDE, STATS_SIDE), Image.Resampling.BILINEAR)
        )
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
    """Fitted parameters of both checks."""

    reference: np.ndarray  # (K, D) unit-length training features (clean and augmented)
    knn_threshold: float  # cosine distance to the k-th nearest reference feature
    energy_median: float  # validation median of the energy score
    energy_threshold: float
    envelope: dict[str, tuple[float, float]]
    k: int = 10
    max_saturation: float = 0.06
    min_spread: float = 0.02

    def knn_distance(self, features: np.ndarray) -> np.ndarray:
        """Cosine distance to the k-th nearest training feature (Sun et al. 2022), per row."""
        q = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        sims = q.astype(np.float32) @ self.reference.T
        kth = np.partition(sims, -self.k, axis=1)[:, -self.k]
        return 1.0 - kth

    @staticmethod
    def energy(logits: np.ndarray) -> np.ndarray:
        """Negative log-sum-exp of the logits: high when no class fits (Liu et al. 2020)."""
        m = logits.max(axis=1, keepdims=True)
        return -(m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)))

    def feature_scores(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """(N, 2): kNN distance and energy, each scaled so that 1.0 is its threshold."""
        knn = self.knn_distance(features) / self.knn_threshold
        energy = (self.energy(logits) - self.energy_median) / (
            self.energy_threshold - self.energy_median
        )
        return np.stack([knn, energy], axis=1)

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

    def save(self, path) -> None:
        np.savez_compressed(
            path,
            reference=self.reference.astype(np.float16),
            knn_threshold=np.float64(self.knn_threshold),
            energy_median=np.float64(self.energy_median),
            energy_threshold=np.float64(self.energy_threshold),
            envelope_names=np.array(list(self.envelope)),
            envelope=np.array([self.envelope[k] for k in self.envelope], dtype=np.float64),
            k=np.int64(self.k),
            max_saturation=np.float64(self.max_saturation),
            min_spread=np.float64(self.min_spread),
        )

    @classmethod
    def load(cls, path) -> OODGuard:
        with np.load(path) as z:
            return cls(
                reference=z["reference"].astype(np.float32),
                knn_threshold=float(z["knn_threshold"]),
                energy_median=float(z["energy_median"]),
                energy_threshold=float(z["energy_threshold"]),
                envelope={
                    str(k): (float(v[0]), float(v[1]))
                    for k, v in zip(z["envelope_names"], z["envelope"], strict=True)
                },
                k=int(z["k"]),
                max_saturation=float(z["max_saturation"]),
                min_spread=float(z["min_spread"]),
            )


def fit_guard(
    train_features: np.ndarray,
    train_pixels: np.ndarray,
    val_features: np.ndarray,
    val_logits: np.ndarray,
    *,
    flag_rate: float = 0.005,
    envelope_quantile: float = 0.002,
    max_reference: int = 4000,
    seed: int = 0,
) -> OODGuard:
    """Fit the guard on training data; each feature threshold flags ``flag_rate`` of validation.

    Pass training and validation features of both clean and scanner-augmented images, so a
    new scanner's style is not itself taken for "not an MRI". The statistics envelope is the
    training range between the ``envelope_quantile`` quantiles, widened by a quarter of the
    inter-quantile range, so it rejects only clearly foreign inputs.
    """
    rng = np.random.default_rng(seed)
    ref = train_features / np.maximum(np.linalg.norm(train_features, axis=1, keepdims=True), 1e-12)
    if len(ref) > max_reference:
        ref = ref[rng.choice(len(ref), max_reference, replace=False)]
    stats = [preprocessed_stats(p) for p in train_pixels]
    envelope = {}
    for name in ENVELOPE:
        v = np.array([s[name] for s in stats])
        lo, hi = np.quantile(v, [envelope_quantile, 1 - envelope_quantile])
        pad = 0.25 * (hi - lo)
        envelope[name] = (float(lo - pad), float(hi + pad))
    guard = OODGuard(ref.astype(np.float32), 1.0, 0.0, 1.0, envelope)
    guard.knn_threshold = float(np.quantile(guard.knn_distance(val_features), 1 - flag_rate))
    energy = OODGuard.energy(val_logits)
    guard.energy_median = float(np.median(energy))
    guard.energy_threshold = float(np.quantile(energy, 1 - flag_rate))
    return guard
