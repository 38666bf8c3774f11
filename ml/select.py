"""Decide between a shipped model and a candidate on validation data only (never Testing).

    python -m ml.select --baseline models/brain-mri-cnn-v2 --candidate DIR
                        [--require-b-sensitivity] [--out FILE]

The rule (fixed before any candidate was evaluated on Testing; docs/ml/selection.md):

- set A: the baseline's validation images (``split.csv``), which neither model trained on,
  as they are plus two copies under simulated scanner shift (``ml.model.augment``, the same
  seeds for both models, each on its own preprocessing);
- set B: the candidate's leave-source-out validation tumours (a minority resolution of
  their class, see ``ml.dataset.off_source_rows``) with the same two shifted copies. The
  baseline trained on most of them, so set B is biased in the baseline's favour.

The candidate replaces the baseline when (a) it loses nothing that matters on set A:
4-class accuracy at most 3 points lower and tumour ROC AUC at most 0.01 lower, and (b) it
is more accurate than the baseline on set B. With ``--require-b-sensitivity`` (the rule of
round v4, docs/ml/tried.md) it must also (c) miss no larger share of set B's tumours at its
own threshold than the baseline at the baseline's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from sklearn.metrics import roc_auc_score

from ml import CLASS_NAMES, DEFAULT_DATA_DIR, NO_TUMOR, artefact
from ml.calibration import sensitivity_specificity, softmax
from ml.dataset import scan

SHIFT_SEEDS = (10_001, 10_002)


def _rows(model_dir: Path, part: str) -> set[str]:
    with open(model_dir / artefact.SPLIT_FILE, newline="") as f:
        return {r["path"] for r in csv.DictReader(f) if r["split"] == part}


def _scores(model_dir: Path, data_dir: Path, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities (clean + shifted copies, stacked) and labels for ``paths``."""
    import tensorflow as tf

    from ml.model import augment
    from ml.predict import Predictor
    from ml.preprocess import to_model_input

    predictor = Predictor(model_dir)
    table = scan(data_dir, predictor.config)
    index = {p: i for i, p in enumerate(table.paths)}
    rows = np.array([index[p] for p in paths])
    pixels, labels = table.pixels[rows], table.label_ids()[rows]
    logits = [predictor.logits_and_features(pixels)[0]]
    for seed in SHIFT_SEEDS:
        shifted = []
        for start in range(0, len(pixels), 128):
            x = tf.constant(to_model_input(pixels[start : start + 128]))
            x = augment(x, tf.constant([seed, start], tf.int64)).numpy()
            shifted.append(predictor._forward(tf.constant(x))[0].numpy())
        logits.append(np.concatenate(shifted))
    probs = softmax(np.concatenate(logits), predictor.temperature)
    return probs, np.tile(labels, 1 + len(SHIFT_SEEDS))


def _figures(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    no_tumor = CLASS_NAMES.index(NO_TUMOR)
    p_tumor, is_tumor = 1.0 - probs[:, no_tumor], labels != no_tumor
    out = {"n": int(len(labels)), "accuracy": float(np.mean(probs.argmax(1) == labels))}
    if is_tumor.any() and not is_tumor.all():
        out["roc_auc"] = float(roc_auc_score(is_tumor, p_tumor))
    t = sensitivity_specificity(p_tumor, is_tumor, threshold)
    out["sensitivity"], out["specificity"] = t["sensitivity"], t["specificity"]
    return out


def select(
    baseline: Path, candidate: Path, data_dir: Path, *, require_b_sensitivity: bool = False
) -> dict:
    set_a = sorted(_rows(baseline, "val"))
    cand_val = _rows(candidate, "val")
    with open(candidate / artefact.SPLIT_FILE, newline="") as f:
        split_rows = {r["path"]: r for r in csv.DictReader(f)}
    table = scan(data_dir, _config(candidate))
    from ml.dataset import off_source_rows

    off = {p for p, o in zip(table.paths, off_source_rows(table), strict=True) if o}
    set_b = sorted(p for p in cand_val & off if split_rows[p]["label"] != NO_TUMOR)
    result: dict = {"set_a_images": len(set_a), "set_b_images": len(set_b)}
    for name, model_dir in (("baseline", baseline), ("candidate", candidate)):
        threshold = float(artefact.read_manifest(model_dir)["threshold"])
        result[name] = {
            "model": str(model_dir),
            "set_a": _figures(*_scores(model_dir, data_dir, set_a), threshold),
            "set_b": _figures(*_scores(model_dir, data_dir, set_b), threshold),
        }
    result["rule"] = rule(
        result["baseline"], result["candidate"], require_b_sensitivity=require_b_sensitivity
    )
    result["ship_candidate"] = all(result["rule"].values())
    return result


def rule(base: dict, cand: dict, *, require_b_sensitivity: bool = False) -> dict[str, bool]:
    """Each criterion of the rule from both models' set A / set B figures (see the docstring)."""
    a_base, a_cand, b_base, b_cand = base["set_a"], cand["set_a"], base["set_b"], cand["set_b"]
    out = {
        "a_accuracy_within_3_points": a_cand["accuracy"] >= a_base["accuracy"] - 0.03,
        "a_roc_auc_within_0.01": a_cand["roc_auc"] >= a_base["roc_auc"] - 0.01,
        "b_accuracy_higher": b_cand["accuracy"] > b_base["accuracy"],
    }
    if require_b_sensitivity:
        out["b_sensitivity_not_lower"] = b_cand["sensitivity"] >= b_base["sensitivity"]
    return out


def _config(model_dir: Path):
    from ml.preprocess import PreprocessConfig

    return PreprocessConfig.from_dict(artefact.read_manifest(model_dir)["preprocess"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml.select", description=__doc__.split("\n")[0])
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--candidate", type=Path, required=True)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument(
        "--require-b-sensitivity",
        action="store_true",
        help="the candidate's tumour sensitivity on set B must not be lower than the baseline's",
    )
    p.add_argument("--out", type=Path, help="write the result as JSON here too")
    args = p.parse_args(argv)
    result = select(
        args.baseline, args.candidate, args.data, require_b_sensitivity=args.require_b_sensitivity
    )
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
