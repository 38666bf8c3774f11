"""Turns a quality report (selectors.quality_report) into what the dashboard template shows."""

from __future__ import annotations

from reviews.models import ReadLabel
from tumorapp.quality import charts

CLASS_LABELS = dict(ReadLabel.choices)
FEATURE_LABELS = {
    "width": "Image width (px)",
    "height": "Image height (px)",
    "aspect": "Aspect ratio (w/h)",
    "mean_intensity": "Mean intensity",
    "contrast": "Contrast (SD)",
}
CATEGORY_LABELS = {
    "manufacturer": "Manufacturer",
    "scanner_model": "Scanner model",
    "field_strength": "Field strength (T)",
}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# Below this PSI a feature is stable; up to the alert threshold a moderate shift (docs/quality.md).
PSI_STABLE = 0.1


def psi_grade(psi: float | None, *, threshold: float) -> tuple[str, str]:
    """(pill class, words) for one PSI, on the page's own lines."""
    if psi is None:
        return "info", "no reference"
    if psi < PSI_STABLE:
        return "ok", "Stable"
    if psi <= threshold:
        return "warn", "Moderate shift"
    return "danger", "Significant shift"


def drift_badge(drift: dict) -> dict | None:
    """The drift tile's badge from the largest PSI of the range: "Stable" only below 0.1,
    a significant shift above the threshold even when too few scans to raise the alert."""
    scores = [f["psi"] for f in drift["features"] if f["psi"] is not None]
    if not scores:
        return None
    worst = max(scores)
    kind, words = psi_grade(worst, threshold=drift["threshold"])
    if drift["alert"]:
        words = "Drift"
    elif kind == "danger" and drift["scans"] < drift["min_scans"]:
        words += f" (under {drift['min_scans']} scans: no alert)"
    return {"kind": kind, "words": words, "psi": worst}


def _shares(counts: list[int]) -> list[float]:
    n = sum(counts)
    return [c / n if n else 0.0 for c in counts]


def _heat(share: float) -> int:
    return min(5, int(share * 5 + 0.999)) if share > 0 else 0


def context(report: dict) -> dict:
    mvf = report["model_vs_final"]
    weekly = report["weekly"]
    week_labels = [w["week"][5:] for w in weekly]
    reference = mvf["reference"] or {}
    references = []
    if reference.get("sensitivity") is not None:
        references.append(("card sensitivity", "c-series-1", reference["sensitivity"]))
    if reference.get("sensitivity_ci95"):
        references.append(
            ("card 95 % CI low", "c-series-1 c-faint", reference["sensitivity_ci95"][0])
        )

    confusion_rows = []
    for i, name in enumerate(mvf["final_classes"]):
        row = mvf["confusion"][i]
        total = sum(row)
        confusion_rows.append(
            {
                "label": CLASS_LABELS[name],
                "cells": [
                    {"n": n, "heat": _heat(n / total if total else 0), "diagonal": j == i}
                    for j, n in enumerate(row)
                ],
                "total": total,
            }
        )

    drift = report["drift"]
    drift_panels = []
    for feature in drift["features"]:
        edges = feature["edges"]
        ticks = [f"{e:g}" for e in edges[:-1]] if edges else [""] * len(feature["counts"])
        drift_panels.append(
            {
                "name": feature["name"],
                "label": FEATURE_LABELS.get(feature["name"], feature["name"]),
                "psi": feature["psi"],
                "alert": feature["alert"],
                "grade": psi_grade(feature["psi"], threshold=drift["threshold"])[0],
                "chart": charts.histogram_pair(
                    ticks,
                    _shares(feature["training_counts"]) if feature["training_counts"] else None,
                    _shares(feature["counts"]),
                    label=f"{FEATURE_LABELS.get(feature['name'], feature['name'])}: recent "
                    "scans against the training images",
                ),
            }
        )

    categories = [
        {
            "label": CATEGORY_LABELS.get(name, name),
            "rows": [
                {"value": value, "n": n, "share": n / sum(values.values())}
                for value, n in sorted(values.items(), key=lambda kv: -kv[1])
            ],
        }
        for name, values in drift["categories"].items()
    ]

    turnaround = {
        stage: [
            {
                **row,
                "median": format_duration(row["median_s"]),
                "p90": format_duration(row["p90_s"]),
            }
            for row in rows
        ]
        for stage, rows in report["turnaround"].items()
    }
    throughput = report["throughput"]
    return {
        "mvf": mvf,
        "confusion_labels": [CLASS_LABELS[c] for c in mvf["classes"]],
        "confusion_rows": confusion_rows,
        "recall_chart": charts.interval_bars(
            [
                (CLASS_LABELS[r["class"]], r["value"], r["ci95"], "c-series-1")
                for r in mvf["per_class_recall"]
            ],
            label="Recall of the AI per final class, with 95 % Wilson intervals",
        ),
        "reliability_chart": charts.reliability_chart(
            mvf["calibration"]["bins"],
            label="Reliability: share of AI answers confirmed per confidence bin",
        ),
        "trend_chart": charts.line_chart(
            week_labels,
            [
                ("sensitivity", "c-series-1", [w["sensitivity"]["value"] for w in weekly]),
                ("specificity", "c-series-2", [w["specificity"]["value"] for w in weekly]),
                ("accuracy", "c-series-3", [w["accuracy"]["value"] for w in weekly]),
            ],
            references=references,
            label="Weekly tumour sensitivity, specificity and 4-class accuracy on reviewed cases",
            width=1200,
            height=260,
        ),
        "ood_chart": charts.column_chart(
            [(label, w["ood"]["value"]) for label, w in zip(week_labels, weekly, strict=True)],
            label="Share of scans flagged out-of-distribution per week",
            width=1200,
            height=200,
        ),
        "drift": drift,
        "drift_badge": drift_badge(drift),
        "drift_panels": drift_panels,
        "readers": report["readers"],
        "categories": categories,
        "turnaround": turnaround,
        "throughput": throughput,
        "throughput_chart": charts.column_chart(
            [(row["reader"], row["reads"]) for row in throughput[:12]],
            label="Reads per reader in the range",
            percent=False,
            width=1200,
            height=200,
        )
        if throughput
        else None,
        "bias": report["automation_bias"],
        "queue": report["queue"],
        "weekly": weekly,
    }
