"""Probability calibration and operating-point maths (numpy/scipy; no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T > 0 minimising the negative log-likelihood of softmax(logits / T)."""
    res = minimize_scalar(
        lambda log_t: nll(logits, labels, math.exp(log_t)),
        bounds=(math.log(0.05), math.log(20.0)),
        method="bounded",
    )
    return float(math.exp(res.x))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> list[dict]:
    """Per confidence bin: count, mean confidence, accuracy (top-label calibration)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf > lo) & (conf <= hi)
        out.append(
            {
                "lo": float(lo),
                "hi": float(hi),
                "count": int(sel.sum()),
                "confidence": float(conf[sel].mean()) if sel.any() else None,
                "accuracy": float(correct[sel].mean()) if sel.any() else None,
            }
        )
    return out


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE: sum over bins of |accuracy - confidence| weighted by the bin's share."""
    n = len(labels)
    return float(
        sum(
            b["count"] / n * abs(b["accuracy"] - b["confidence"])
            for b in reliability_bins(probs, labels, n_bins)
            if b["count"]
        )
    )


def choose_threshold(scores: np.ndarray, positive: np.ndarray, target_sensitivity: float) -> float:
    """Highest threshold t such that the share of positives with score >= t is >= the target.

    The highest such t gives the best specificity the sensitivity constraint allows.
    """
    pos = np.sort(np.asarray(scores)[np.asarray(positive, dtype=bool)])[::-1]
    if pos.size == 0:
        raise ValueError("no positive examples to set a sensitivity threshold on")
    k = math.ceil(target_sensitivity * pos.size - 1e-9)  # positives that must be caught
    return float(pos[max(k, 1) - 1])


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval for a binomial proportion."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def sensitivity_specificity(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict:
    """Sensitivity and specificity of ``score >= threshold`` with Wilson 95 % intervals."""
    positive = np.asarray(positive, dtype=bool)
    flagged = np.asarray(scores) >= threshold
    tp, n_pos = int(np.sum(flagged & positive)), int(positive.sum())
    tn, n_neg = int(np.sum(~flagged & ~positive)), int((~positive).sum())
    return {
        "threshold": float(threshold),
        "sensitivity": tp / n_pos if n_pos else None,
        "sensitivity_ci95": wilson_interval(tp, n_pos) if n_pos else None,
        "specificity": tn / n_neg if n_neg else None,
        "specificity_ci95": wilson_interval(tn, n_neg) if n_neg else None,
        "positives": n_pos,
        "negatives": n_neg,
        "false_negatives": n_pos - tp,
        "false_positives": n_neg - tn,
    }
