"""Quality figures from additive counts (plain Python: no Django, no numpy).

The dashboard never walks the reviewed cases on a page view. A periodic task folds each day's
events into a ``Counts`` document per (day, model version) whose every leaf is a sum, so the
documents of any date range merge by addition (``merge``) and the figures of the range are
computed from the merged document (``figures``).

Conventions: the confusion matrix is ``confusion[final_label][ai_label]``, its rows every
reader answer (``FINAL_CLASSES``), its columns the model's classes; "tumour" is any class but
``no_tumor``, "tumour, type unknown" included; that answer has no class the AI could match,
so it counts in tumour sensitivity and specificity but not in accuracy, per-class recall or
calibration. The model flags a tumour when its stored ``tumor_suspected`` is true
(P(tumour) at or above the model's threshold). Durations are binned on a geometric scale
(``DURATION_EDGES``), so turnaround quantiles are exact to within one bin (10 %).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping

from reviews.labels import MODEL_CLASSES, READ_LABELS, TUMOR_UNKNOWN, is_tumour

#: The AI's classes (the confusion matrix's columns, the 4-class figures).
CLASSES: tuple[str, ...] = MODEL_CLASSES
#: The radiologists' final answers (the confusion matrix's rows).
FINAL_CLASSES: tuple[str, ...] = READ_LABELS
RELIABILITY_BINS = 10
Z95 = 1.959964

# A population stability index above 0.25 is the usual "significant shift" mark in credit
# scoring, where PSI comes from (0.1-0.25 moderate, below 0.1 stable).
PSI_THRESHOLD = 0.25
# Empty bins get this share so the logarithm stays finite (a standard PSI smoothing).
PSI_FLOOR = 1e-4

#: Duration bin edges in seconds: 0, then 1 s growing by 10 % up to beyond 90 days.
DURATION_EDGES: tuple[float, ...] = (0.0,) + tuple(1.1**k for k in range(0, 180))


def empty_counts() -> dict:
    return {
        "confusion": {c: dict.fromkeys(CLASSES, 0) for c in FINAL_CLASSES},
        "tumour": {"tp": 0, "fn": 0, "tn": 0, "fp": 0},
        "reliability": [[0, 0.0, 0] for _ in range(RELIABILITY_BINS)],
        "predictions": 0,
        "ood": 0,
        "features": {},
        "categories": {},
        "upload_to_prediction": {},
        "prediction_to_final": {},
        "reads": {},
        # Per reader: reads compared with the final label of a double-read case, and first
        # reads compared with the AI's answer.
        "readers": {},
        "bias": {
            "shown": 0,
            "shown_agree": 0,
            "blind": 0,
            "blind_initial_agree": 0,
            "blind_final_agree": 0,
            "blind_changed": 0,
            "blind_changed_to_ai": 0,
        },
    }


def merge(into: dict, other: Mapping) -> dict:
    """Add ``other`` into ``into`` leaf by leaf (numbers add, lists add element-wise)."""
    for key, value in other.items():
        if key not in into:
            into[key] = _copy(value)
        elif isinstance(value, Mapping):
            merge(into[key], value)
        elif isinstance(value, list):
            into[key] = _add_lists(into[key], value)
        else:
            into[key] += value
    return into


def _copy(value):
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _add_lists(a: list, b: list) -> list:
    if len(a) != len(b):
        raise ValueError("cannot merge lists of different lengths")
    return [_add_lists(x, y) if isinstance(x, list) else x + y for x, y in zip(a, b, strict=True)]


# --- Folding events into counts --------------------------------------------------------------


def add_reviewed(
    counts: dict,
    *,
    final_label: str,
    ai_label: str,
    tumor_suspected: bool,
    confidence: float,
    prediction_to_final_s: float | None,
    band: str,
) -> None:
    """One reported case: the radiologists' final label against the model's answer."""
    # setdefault: documents written before "tumour, type unknown" existed lack its row.
    counts["confusion"].setdefault(final_label, dict.fromkeys(CLASSES, 0))[ai_label] += 1
    tumour = is_tumour(final_label)
    key = ("tp" if tumor_suspected else "fn") if tumour else ("fp" if tumor_suspected else "tn")
    counts["tumour"][key] += 1
    if final_label != TUMOR_UNKNOWN:
        row = counts["reliability"][reliability_bin(confidence)]
        row[0] += 1
        row[1] += confidence
        row[2] += int(final_label == ai_label)
    if prediction_to_final_s is not None:
        _add_duration(counts["prediction_to_final"], band, prediction_to_final_s)


def add_prediction(
    counts: dict,
    *,
    ood: bool,
    features: Mapping[str, float],
    edges: Mapping[str, list[float]],
    categories: Mapping[str, str],
    upload_to_prediction_s: float,
    band: str,
) -> None:
    """One scan read by the model: input statistics for drift, OOD flag, turnaround."""
    counts["predictions"] += 1
    counts["ood"] += int(ood)
    for name, value in features.items():
        bins = counts["features"].setdefault(name, [0] * (len(edges[name]) - 1))
        bins[bin_index(value, edges[name])] += 1
    for name, value in categories.items():
        seen = counts["categories"].setdefault(name, {})
        seen[value] = seen.get(value, 0) + 1
    _add_duration(counts["upload_to_prediction"], band, upload_to_prediction_s)


def _reader(counts: dict, reader: str) -> dict:
    # setdefault on "readers": documents written before per-reader figures lack it.
    return counts.setdefault("readers", {}).setdefault(
        reader, {"final_n": 0, "final_agree": 0, "ai_n": 0, "ai_agree": 0}
    )


def add_read(
    counts: dict, *, reader: str, first_read: bool, label: str, ai_label: str, initial_label: str
) -> None:
    """One radiologist read; first reads also feed the automation-bias counts and the
    reader's agreement with the AI."""
    counts["reads"][reader] = counts["reads"].get(reader, 0) + 1
    if not first_read:
        return
    per_reader = _reader(counts, reader)
    per_reader["ai_n"] += 1
    per_reader["ai_agree"] += int(label == ai_label)
    bias = counts["bias"]
    if not initial_label:
        bias["shown"] += 1
        bias["shown_agree"] += int(label == ai_label)
        return
    bias["blind"] += 1
    bias["blind_initial_agree"] += int(initial_label == ai_label)
    bias["blind_final_agree"] += int(label == ai_label)
    if label != initial_label:
        bias["blind_changed"] += 1
        bias["blind_changed_to_ai"] += int(label == ai_label)


def add_read_vs_final(counts: dict, *, reader: str, label: str, final_label: str) -> None:
    """One first or second read of a double-read case, against the case's final label (a
    single read is its own final label, so it says nothing about the reader)."""
    per_reader = _reader(counts, reader)
    per_reader["final_n"] += 1
    per_reader["final_agree"] += int(label == final_label)


def _add_duration(per_band: dict, band: str, seconds: float) -> None:
    bins = per_band.setdefault(band, {})
    key = str(bin_index(max(seconds, 0.0), DURATION_EDGES))
    bins[key] = bins.get(key, 0) + 1


def bin_index(value: float, edges: list[float] | tuple[float, ...]) -> int:
    """The histogram bin of ``value``: [e_i, e_i+1), the last bin closed, outliers clipped
    into the end bins (the same rule as numpy.histogram on clipped values)."""
    if value >= edges[-1]:
        return len(edges) - 2
    return max(0, min(bisect_right(edges, value) - 1, len(edges) - 2))


def reliability_bin(confidence: float) -> int:
    """Bins (0, 0.1], (0.1, 0.2], ... (0.9, 1.0] as in ml.calibration.reliability_bins.

    The first guess from ``ceil`` is corrected against the edges i / 10, because a product
    like 0.7 * 10 lands a rounding error above 7 and would skip a bin.
    """
    i = math.ceil(confidence * RELIABILITY_BINS) - 1
    if i >= 0 and confidence <= i / RELIABILITY_BINS:
        i -= 1
    elif confidence > (i + 1) / RELIABILITY_BINS:
        i += 1
    return min(max(i, 0), RELIABILITY_BINS - 1)


# --- Statistics ---------------------------------------------------------------------------


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    """95 % Wilson score interval for a binomial proportion; None when there is no trial."""
    if total == 0:
        return None
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(successes: int, total: int) -> dict:
    return {
        "value": successes / total if total else None,
        "ci95": wilson_interval(successes, total),
        "successes": successes,
        "n": total,
    }


def psi(expected: list[int], actual: list[int], floor: float = PSI_FLOOR) -> float | None:
    """Population stability index: sum over bins of (a - e) * ln(a / e) on bin shares."""
    n_e, n_a = sum(expected), sum(actual)
    if n_e == 0 or n_a == 0:
        return None
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / n_e, floor), max(a / n_a, floor)
        total += (pa - pe) * math.log(pa / pe)
    return total


def histogram_quantile(bins: Mapping[str, int], q: float) -> float | None:
    """The q-quantile of durations binned on DURATION_EDGES, interpolated inside its bin."""
    n = sum(bins.values())
    if n == 0:
        return None
    rank = q * n
    seen = 0
    for index in sorted(bins, key=int):
        count = bins[index]
        if seen + count >= rank:
            lo, hi = DURATION_EDGES[int(index)], DURATION_EDGES[int(index) + 1]
            return lo + (hi - lo) * ((rank - seen) / count if count else 0.0)
        seen += count
    return DURATION_EDGES[-1]


# --- Figures ------------------------------------------------------------------------------


def figures(
    counts: Mapping,
    *,
    fingerprint: Mapping | None = None,
    reference: Mapping | None = None,
    psi_threshold: float = PSI_THRESHOLD,
    min_drift_scans: int = 0,
    bands: Mapping[str, str] | None = None,
) -> dict:
    """Every dashboard figure of one merged ``counts`` document.

    ``fingerprint`` is the model's training-data fingerprint (ml.fingerprint format);
    ``reference`` the model card's tumour figures (sensitivity, sensitivity_ci95, ...).
    """
    return {
        "model_vs_final": model_vs_final(counts, reference=reference),
        "drift": drift(
            counts,
            fingerprint=fingerprint,
            psi_threshold=psi_threshold,
            min_scans=min_drift_scans,
        ),
        "turnaround": turnaround(counts, bands=bands or {}),
        "throughput": sorted(
            ({"reader": r, "reads": n} for r, n in counts["reads"].items()),
            key=lambda row: (-row["reads"], row["reader"]),
        ),
        "readers": reader_agreement(counts.get("readers", {})),
        "automation_bias": automation_bias(counts["bias"]),
    }


def reader_agreement(readers: Mapping[str, Mapping[str, int]]) -> list[dict]:
    """Per reader, with 95 % Wilson intervals: how often their read equals the final label
    of a double-read case, and how often their first read equals the AI's answer."""
    rows = [
        {
            "reader": name,
            "vs_final": proportion(r["final_agree"], r["final_n"]),
            "vs_ai": proportion(r["ai_agree"], r["ai_n"]),
        }
        for name, r in readers.items()
    ]
    return sorted(rows, key=lambda row: row["reader"])


def _confusion_matrix(confusion: Mapping) -> list[list[int]]:
    """Rows FINAL_CLASSES, columns CLASSES; a row missing from older counts is zeros."""
    return [[confusion.get(f, {}).get(a, 0) for a in CLASSES] for f in FINAL_CLASSES]


def model_vs_final(counts: Mapping, *, reference: Mapping | None = None) -> dict:
    matrix = _confusion_matrix(counts["confusion"])
    n = sum(map(sum, matrix))
    # 4-class figures over the cases with a model class (the first len(CLASSES) rows).
    typed = sum(sum(row) for row in matrix[: len(CLASSES)])
    correct = sum(matrix[i][i] for i in range(len(CLASSES)))
    t = counts["tumour"]
    return {
        "reviewed": n,
        "type_unknown": n - typed,
        "classes": list(CLASSES),
        "final_classes": list(FINAL_CLASSES),
        "confusion": matrix,
        "accuracy": proportion(correct, typed),
        "per_class_recall": [
            {"class": c, **proportion(matrix[i][i], sum(matrix[i]))} for i, c in enumerate(CLASSES)
        ],
        "sensitivity": proportion(t["tp"], t["tp"] + t["fn"]),
        "specificity": proportion(t["tn"], t["tn"] + t["fp"]),
        "tumour_counts": dict(t),
        "reference": dict(reference) if reference else None,
        "calibration": calibration(counts["reliability"]),
    }


def calibration(rows: list) -> dict:
    """Reliability diagram of the AI's top-class probability, and the expected calibration
    error (share-weighted mean |accuracy - confidence| over the bins)."""
    n = sum(row[0] for row in rows)
    bins = []
    ece = 0.0
    for i, (count, conf_sum, correct) in enumerate(rows):
        confidence = conf_sum / count if count else None
        accuracy = correct / count if count else None
        if count:
            ece += count / n * abs(accuracy - confidence)
        bins.append(
            {
                "lo": i / RELIABILITY_BINS,
                "hi": (i + 1) / RELIABILITY_BINS,
                "n": count,
                "confidence": confidence,
                "accuracy": accuracy,
            }
        )
    return {"bins": bins, "ece": ece if n else None, "n": n}


def drift(
    counts: Mapping,
    *,
    fingerprint: Mapping | None,
    psi_threshold: float = PSI_THRESHOLD,
    min_scans: int = 0,
) -> dict:
    """Per fingerprinted feature: the PSI of recent scans against the training images."""
    n = counts["predictions"]
    features = []
    reference = (fingerprint or {}).get("features", {})
    # The fingerprint's order (stored counts may come back with their keys re-sorted).
    order = {name: i for i, name in enumerate(reference)}
    for name in sorted(counts["features"], key=lambda n: (order.get(n, len(order)), n)):
        actual = counts["features"][name]
        ref = reference.get(name)
        comparable = ref is not None and len(ref["counts"]) == len(actual)
        score = psi(ref["counts"], actual) if comparable else None
        features.append(
            {
                "name": name,
                "psi": score,
                "alert": score is not None and n >= min_scans and score > psi_threshold,
                "counts": list(actual),
                "training_counts": list(ref["counts"]) if comparable else None,
                "edges": list(ref["bin_edges"]) if comparable else None,
            }
        )
    return {
        "scans": n,
        "threshold": psi_threshold,
        "min_scans": min_scans,
        "has_fingerprint": bool(reference),
        "features": features,
        "alert": any(f["alert"] for f in features),
        "categories": {k: dict(sorted(v.items())) for k, v in counts["categories"].items()},
        "ood": proportion(counts["ood"], n),
    }


def turnaround(counts: Mapping, *, bands: Mapping[str, str]) -> dict:
    out = {}
    for stage in ("upload_to_prediction", "prediction_to_final"):
        per_band = counts[stage]
        rows = []
        everything: dict[str, int] = {}
        for band in sorted(per_band, key=str):
            merge(everything, per_band[band])
            rows.append(_duration_row(bands.get(band, band), per_band[band]))
        rows.append(_duration_row("All", everything))
        out[stage] = rows
    return out


def _duration_row(label: str, bins: Mapping[str, int]) -> dict:
    return {
        "band": label,
        "n": sum(bins.values()),
        "median_s": histogram_quantile(bins, 0.5),
        "p90_s": histogram_quantile(bins, 0.9),
    }


def automation_bias(bias: Mapping[str, int]) -> dict:
    """How often the read equals the AI when it was shown vs hidden, and how often a blind
    first answer changed once the AI was revealed (and towards the AI)."""
    return {
        "final_equals_ai_when_shown": proportion(bias["shown_agree"], bias["shown"]),
        "final_equals_ai_when_blind": proportion(bias["blind_final_agree"], bias["blind"]),
        "initial_equals_ai_when_blind": proportion(bias["blind_initial_agree"], bias["blind"]),
        "changed_after_reveal": proportion(bias["blind_changed"], bias["blind"]),
        "changed_towards_ai": proportion(bias["blind_changed_to_ai"], bias["blind_changed"]),
        "switched_to_ai": proportion(
            bias["blind_changed_to_ai"], bias["blind"] - bias["blind_initial_agree"]
        ),
    }


def automation_bias_alarm(bias: Mapping[str, int], *, min_disagreements: int, share: float) -> bool:
    """True when readers defer to the AI: of the blind first answers that differed from the
    AI (at least ``min_disagreements``), at least ``share`` were switched to the AI's answer
    once it was revealed."""
    switched = automation_bias(bias)["switched_to_ai"]
    return switched["n"] >= min_disagreements and switched["value"] >= share


def weekly_trend(weeks: Iterable[tuple[str, Mapping]]) -> list[dict]:
    """Per week (label, merged counts of its days): sensitivity, specificity, OOD rate."""
    out = []
    for label, counts in weeks:
        t = counts["tumour"]
        matrix = _confusion_matrix(counts["confusion"])
        typed = matrix[: len(CLASSES)]
        out.append(
            {
                "week": label,
                "reviewed": sum(map(sum, matrix)),
                "sensitivity": proportion(t["tp"], t["tp"] + t["fn"]),
                "specificity": proportion(t["tn"], t["tn"] + t["fp"]),
                "accuracy": proportion(
                    sum(typed[i][i] for i in range(len(CLASSES))), sum(map(sum, typed))
                ),
                "ood": proportion(counts["ood"], counts["predictions"]),
            }
        )
    return out


def sensitivity_below_card(
    sensitivity: Mapping, reference: Mapping | None, *, min_positives: int
) -> bool:
    """True when recent sensitivity sits below the model card's 95 % interval.

    "Below the card's figure by more than its confidence interval" is read as below the
    lower end of that interval; fewer than ``min_positives`` tumours say nothing either way.
    """
    if not reference or not reference.get("sensitivity_ci95") or sensitivity["value"] is None:
        return False
    if sensitivity["n"] < min_positives:
        return False
    return sensitivity["value"] < reference["sensitivity_ci95"][0]
