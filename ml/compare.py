"""Side-by-side figures of two models on the same labelled images (no TensorFlow here: the
caller passes each model's predictions).

``set_metrics`` gives accuracy, per-class recall, tumour sensitivity and specificity at the
model's own threshold, and the expected calibration error; ``disagreements`` lists the images
where the two models' classes differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml import CLASS_NAMES, NO_TUMOR
from ml.calibration import expected_calibration_error, sensitivity_specificity


def set_metrics(
    labels: Sequence[str],
    probabilities: Sequence[dict[str, float]],
    p_tumor: Sequence[float],
    threshold: float,
) -> dict:
    """Figures of one model on one labelled set (``labels`` are class names)."""
    n = len(labels)
    if n == 0:
        return {"n": 0}
    y = np.array([CLASS_NAMES.index(label) for label in labels])
    probs = np.array([[float(p.get(c, 0.0)) for c in CLASS_NAMES] for p in probabilities])
    predicted = probs.argmax(1)
    recall = {}
    for i, name in enumerate(CLASS_NAMES):
        members = y == i
        recall[name] = float(np.mean(predicted[members] == i)) if members.any() else None
    tumour = sensitivity_specificity(
        np.asarray(p_tumor, dtype=float), y != CLASS_NAMES.index(NO_TUMOR), threshold
    )
    return {
        "n": n,
        "accuracy": float(np.mean(predicted == y)),
        "recall": recall,
        "tumour": tumour,
        "ece": float(expected_calibration_error(probs, y)),
    }


def disagreements(candidate_labels: Sequence[str], baseline_labels: Sequence[str]) -> list[int]:
    """Indices of the images where the two models name different classes."""
    return [
        i for i, (a, b) in enumerate(zip(candidate_labels, baseline_labels, strict=True)) if a != b
    ]
