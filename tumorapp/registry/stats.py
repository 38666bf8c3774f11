"""Statistics for comparing two models on the same images, and for a site's operating point
(plain numpy and scipy: no Django, no TensorFlow).

- ``roc_auc_ci``: ROC AUC with DeLong's 95 % interval (DeLong, DeLong & Clarke-Pearson 1988,
  with Sun & Xu's mid-rank computation).
- ``mcnemar_exact``: McNemar's exact test on paired errors (the images only one model gets
  wrong).
- ``worse_beyond_interval``: the non-regression rule of the promotion gate.
- ``fit_threshold`` / ``threshold_interval``: the highest tumour threshold that keeps a target
  sensitivity on reviewed cases, and its bootstrap interval.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from ml.calibration import choose_threshold, wilson_interval

Z95 = 1.959964


def _midranks(x: np.ndarray) -> np.ndarray:
    return sps.rankdata(x, method="average")


def roc_auc_ci(scores, positive) -> dict | None:
    """ROC AUC of ``scores`` for ``positive`` with DeLong's 95 % interval; None when either
    class is absent."""
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    pos, neg = scores[positive], scores[~positive]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return None
    # Structural components (Sun & Xu): V10 per positive, V01 per negative.
    all_ranks = _midranks(np.concatenate([pos, neg]))
    pos_ranks, neg_ranks = _midranks(pos), _midranks(neg)
    auc = float((all_ranks[:m].sum() - m * (m + 1) / 2) / (m * n))
    v10 = (all_ranks[:m] - pos_ranks) / n
    v01 = 1.0 - (all_ranks[m:] - neg_ranks) / m
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    half = Z95 * math.sqrt(max(var, 0.0))
    return {
        "auc": auc,
        "ci95": (max(0.0, auc - half), min(1.0, auc + half)),
        "positives": m,
        "negatives": n,
    }


def mcnemar_exact(errors_a, errors_b) -> dict:
    """McNemar's exact (binomial) two-sided test on paired errors: ``only_a`` images are
    wrong for model a only, ``only_b`` for model b only."""
    errors_a = np.asarray(errors_a, dtype=bool)
    errors_b = np.asarray(errors_b, dtype=bool)
    only_a = int(np.sum(errors_a & ~errors_b))
    only_b = int(np.sum(errors_b & ~errors_a))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(sps.binomtest(only_a, discordant, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p_value": p}


def proportion(successes: int, total: int) -> dict | None:
    """A share with its Wilson 95 % interval; None without a denominator."""
    if total == 0:
        return None
    return {
        "value": successes / total,
        "ci95": wilson_interval(successes, total),
        "successes": successes,
        "n": total,
    }


def worse_beyond_interval(candidate: dict | None, baseline: dict | None) -> bool:
    """Whether the candidate's share is worse than the baseline's beyond its own interval:
    the upper end of the candidate's Wilson 95 % interval lies below the baseline's value.
    Missing figures (a class absent from the set) are never a regression."""
    if not candidate or not baseline or candidate["value"] >= baseline["value"]:
        return False
    # The tolerance keeps a rounding error of the interval from counting (1 - 1e-16 < 1).
    return candidate["ci95"][1] < baseline["value"] - 1e-9


def fit_threshold(p_tumor, positive, target: float) -> float:
    """The highest threshold whose tumour sensitivity on these cases reaches ``target``."""
    return choose_threshold(np.asarray(p_tumor, dtype=float), np.asarray(positive), target)


def threshold_interval(
    p_tumor, positive, target: float, *, rounds: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile bootstrap interval of ``fit_threshold``: cases resampled with
    replacement (rounds without a tumour are skipped)."""
    p_tumor = np.asarray(p_tumor, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(rounds):
        pick = rng.integers(0, len(p_tumor), len(p_tumor))
        if positive[pick].any():
            fits.append(fit_threshold(p_tumor[pick], positive[pick], target))
    if not fits:
        return (float("nan"), float("nan"))
    low, high = np.percentile(fits, [2.5, 97.5])
    return (float(low), float(high))
