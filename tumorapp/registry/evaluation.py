"""Evaluate a candidate and its baseline on the same held-out images (worker only: loads
the predictor class, TensorFlow for the real one).

Held-out reviewed cases are the test split of the chosen export: splits come from a keyed
hash of each image's group, so no export's training part holds them, and ``ml.train`` never
trains on a test split. The base data's Testing split is the public set's own hold-out.

A reviewed image labelled "tumour, type unknown" has no class the models could name: it
counts as a tumour for tumour sensitivity and is left out of accuracy, per-class recall and
calibration (``_set_figures``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils.module_loading import import_string

from ml import CLASS_NAMES
from ml.calibration import sensitivity_specificity
from ml.compare import disagreements, set_metrics
from ml.dataset import list_files
from reviews.labels import TUMOR_UNKNOWN, UNREADABLE, is_tumour
from tumorapp.datasets.models import ExportItem
from tumorapp.registry import gate, stats
from tumorapp.registry.models import Comparison
from tumorapp.registry.selectors import site_operating_point

BATCH = 32
#: Disagreements kept for the page (thumbnails), per evaluated set.
MAX_DISAGREEMENTS = 60


def _reviewed(comparison: Comparison) -> list[dict]:
    if comparison.export is None:
        return []
    # An export asked to include unreadable / non-brain images lists them; no model is
    # judged on them.
    items = (
        ExportItem.objects.filter(export=comparison.export, split="test")
        .exclude(label=UNREADABLE)
        .select_related("scan")
    )
    return [
        {"ref": str(i.scan.public_id), "label": i.label, "file": i.scan.image.name}
        for i in items.order_by("pk")
    ]


def _base_testing() -> list[dict]:
    root = Path(settings.REGISTRY_BASE_DATA_DIR)
    return [
        {"ref": rel, "label": label, "path": str(root / rel)}
        for rel, split, label in list_files(root)
        if split == "test"
    ]


def _read(entry: dict) -> bytes:
    if "file" in entry:
        with default_storage.open(entry["file"], "rb") as fh:
            return fh.read()
    return Path(entry["path"]).read_bytes()


def _predict_all(predictor, entries: list[dict], on_batch) -> list:
    results = []
    for start in range(0, len(entries), BATCH):
        batch = entries[start : start + BATCH]
        results += predictor.predict([_read(e) for e in batch], heatmap=False)
        on_batch(len(batch))
    return results


def _set_figures(labels: list[str], predictions: list, threshold: float) -> dict:
    """``set_metrics`` over the images with a model class; over every image, tumour
    sensitivity and specificity (Wilson intervals) and the ROC AUC of P(tumour) (DeLong
    interval), and ``type_unknown``: how many images only count there. ``recall_ci``: each
    class's recall with its Wilson interval (the gate's figures)."""
    typed = [i for i, label in enumerate(labels) if label != TUMOR_UNKNOWN]
    figures = set_metrics(
        [labels[i] for i in typed],
        [predictions[i].probabilities for i in typed],
        [predictions[i].p_tumor for i in typed],
        threshold,
    )
    figures["n"] = len(labels)
    figures["type_unknown"] = len(labels) - len(typed)
    p_tumor = np.array([float(p.p_tumor) for p in predictions])
    tumour = np.array([is_tumour(label) for label in labels], dtype=bool)
    if labels and figures["type_unknown"]:
        figures["tumour"] = sensitivity_specificity(p_tumor, tumour, threshold)
    figures["auc"] = stats.roc_auc_ci(p_tumor, tumour) if labels else None
    figures["recall_ci"] = {
        name: stats.proportion(
            sum(1 for i in typed if labels[i] == name and predictions[i].label == name),
            sum(1 for i in typed if labels[i] == name),
        )
        for name in CLASS_NAMES
    }
    return figures


def _paired_errors(labels: list[str], candidate: list, baseline: list, thresholds: dict) -> dict:
    """McNemar's exact test on the images only one model gets wrong: the class (images with
    a model class) and the tumour flag at each model's threshold (every image)."""
    typed = [i for i, label in enumerate(labels) if label != TUMOR_UNKNOWN]
    tumour = np.array([is_tumour(label) for label in labels], dtype=bool)

    def flag_errors(predictions, threshold):
        return np.array([float(p.p_tumor) >= threshold for p in predictions]) != tumour

    return {
        "class": stats.mcnemar_exact(
            [candidate[i].label != labels[i] for i in typed],
            [baseline[i].label != labels[i] for i in typed],
        ),
        "tumour": stats.mcnemar_exact(
            flag_errors(candidate, thresholds["candidate"]),
            flag_errors(baseline, thresholds["baseline"]),
        ),
    }


def compare(comparison: Comparison) -> dict:
    """Both models' figures on each set, and the images where they disagree."""
    sets = {"reviewed": _reviewed(comparison)}
    if comparison.include_base_testing:
        sets["base_testing"] = _base_testing()
    predictor_class = import_string(settings.INFERENCE_PREDICTOR)
    models = {"candidate": comparison.candidate, "baseline": comparison.baseline}
    total = 2 * sum(len(v) for v in sets.values()) or 1
    done = {"n": 0}

    def on_batch(n: int) -> None:
        done["n"] += n
        Comparison.objects.filter(pk=comparison.pk).update(progress=int(99 * done["n"] / total))

    outputs: dict[str, dict[str, list]] = {name: {} for name in sets}
    thresholds = {}
    for role, version in models.items():
        predictor = predictor_class.load(version.path)
        # Each model at the threshold it would flag with here (the site's, when applied).
        site = site_operating_point(version)
        thresholds[role] = site.threshold if site else float(predictor.threshold)
        for name, entries in sets.items():
            outputs[name][role] = _predict_all(predictor, entries, on_batch)
        del predictor
    result: dict = {"sets": {}, "thresholds": thresholds}
    for name, entries in sets.items():
        labels = [e["label"] for e in entries]
        figures = {}
        for role in models:
            figures[role] = _set_figures(labels, outputs[name][role], thresholds[role])
        differ = disagreements(
            [p.label for p in outputs[name]["candidate"]],
            [p.label for p in outputs[name]["baseline"]],
        )
        figures["mcnemar"] = _paired_errors(
            labels, outputs[name]["candidate"], outputs[name]["baseline"], thresholds
        )
        figures["disagreements"] = len(differ)
        figures["disagreement_cases"] = [
            {
                "ref": entries[i]["ref"],
                "label": entries[i]["label"],
                "candidate": outputs[name]["candidate"][i].label,
                "candidate_p_tumor": round(float(outputs[name]["candidate"][i].p_tumor), 3),
                "baseline": outputs[name]["baseline"][i].label,
                "baseline_p_tumor": round(float(outputs[name]["baseline"][i].p_tumor), 3),
            }
            for i in differ[:MAX_DISAGREEMENTS]
        ]
        result["sets"][name] = figures
    result["gate"] = {"regressions": gate.regressions(result)}
    return result
