"""Leave-one-source-out validation: the selection rule that sees other sources.

    python -m ml.loso [--seeds 1 2] [--epochs 6] [--frozen-blocks 12] [--out docs/ml/loso.json]
                      [--baseline models/brain-mri-cnn-v3]

Each base source (``ml.sources.SOURCES``) is held out in turn; a model is trained on the
others' train+val rows and predicts every row of the held-out source. Never reads Testing.

Candidates (pre-registered in ``docs/ml/tried.md``):

- ``probe``: frozen ImageNet EfficientNet-Lite0 features, logistic regression for the tumour
  output (all rows, balanced by source and class) and for the subtype (known types only),
  combined as ``ml.transfer`` combines its two outputs;
- ``finetune``: ``ml.transfer``'s recipe (upper blocks, head and both outputs trained).
- ``baseline``: an existing model folder (the from-scratch v3) predicting the held-out rows
  through ``Predictor``; it trained on both Sartaj sources, so only its figures on sources it
  never saw (LGG) count.

Per held-out source: tumour-vs-normal ROC AUC (when the source has at least
``MIN_PER_CLASS`` of each), and sensitivity / specificity at a threshold and ECE after a
temperature that are both fitted on the *other* sources' held-out predictions, so the
operating point is judged on a source it was not fitted on. The primary figure is the worst
source's ROC AUC.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ml import CACHE_DIR, CLASS_NAMES, DEFAULT_DATA_DIR, DEFAULT_LGG_DIR, NO_TUMOR, REPO_ROOT
from ml.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    sensitivity_specificity,
    softmax,
)
from ml.preprocess import PreprocessConfig
from ml.sources import SOURCES, MultiSource, balanced_weights, load

MIN_PER_CLASS = 10
TARGET_SENSITIVITY = 0.97
NO_TUMOR_ID = CLASS_NAMES.index(NO_TUMOR)


def tumour_auc(p_tumour: np.ndarray, is_tumour: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if min(is_tumour.sum(), (~is_tumour).sum()) < MIN_PER_CLASS:
        return None
    return float(roc_auc_score(is_tumour, p_tumour))


def binary_ece(p_tumour: np.ndarray, is_tumour: np.ndarray, n_bins: int = 10) -> float:
    """Calibration error of P(tumour) itself (equal-width bins)."""
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(p_tumour, edges[1:-1]), 0, n_bins - 1)
    return float(
        sum(
            abs(p_tumour[idx == b].mean() - is_tumour[idx == b].mean()) * (idx == b).mean()
            for b in range(n_bins)
            if (idx == b).any()
        )
    )


def source_report(
    logits: np.ndarray, labels: np.ndarray, source: np.ndarray, target: float = TARGET_SENSITIVITY
) -> dict:
    """Per source figures from out-of-fold logits; threshold and temperature for each source
    are fitted on the other sources' rows only."""
    out = {}
    known = labels < len(CLASS_NAMES)
    is_tumour = labels != NO_TUMOR_ID
    for s in [s for s in SOURCES if s in set(source.tolist())]:
        held, rest = source == s, source != s
        temperature = fit_temperature(logits[rest & known], labels[rest & known])
        probs = softmax(logits, temperature)
        p_t = 1.0 - probs[:, NO_TUMOR_ID]
        threshold = choose_threshold(p_t[rest], is_tumour[rest], target)
        op = sensitivity_specificity(p_t[held], is_tumour[held], threshold)
        k = held & known
        out[s] = {
            "n": int(held.sum()),
            "tumours": int((held & is_tumour).sum()),
            "normals": int((held & ~is_tumour).sum()),
            "roc_auc": tumour_auc(p_t[held], is_tumour[held]),
            "temperature_from_others": temperature,
            "threshold_from_others": threshold,
            "sensitivity": op["sensitivity"],
            "specificity": op["specificity"],
            "missed_tumours": op["false_negatives"],
            "false_alarms": op["false_positives"],
            "accuracy_4class": float(np.mean(probs[k].argmax(1) == labels[k])) if k.any() else None,
            "ece_4class": expected_calibration_error(probs[k], labels[k]) if k.any() else None,
            "ece_tumour": binary_ece(p_t[held], is_tumour[held]),
        }
    aucs = [v["roc_auc"] for v in out.values() if v["roc_auc"] is not None]
    return {
        "per_source": out,
        "worst_roc_auc": min(aucs) if aucs else None,
        "worst_sensitivity": min(
            v["sensitivity"] for v in out.values() if v["sensitivity"] is not None
        ),
    }


def operating_point(
    logits: np.ndarray, labels: np.ndarray, source: np.ndarray, target: float = TARGET_SENSITIVITY
) -> tuple[float, float, dict]:
    """Temperature (all held-out rows) and the threshold that reaches the target sensitivity
    on every source's held-out tumours (the lowest of the per-source thresholds)."""
    known = labels < len(CLASS_NAMES)
    temperature = fit_temperature(logits[known], labels[known])
    p_t = 1.0 - softmax(logits, temperature)[:, NO_TUMOR_ID]
    is_tumour = labels != NO_TUMOR_ID
    per = {
        s: choose_threshold(p_t[source == s], is_tumour[source == s], target)
        for s in sorted(set(source.tolist()))
        if (is_tumour & (source == s)).any()
    }
    return temperature, min(per.values()), per


# --- candidates -----------------------------------------------------------------------------


def probe_fold(
    feats: np.ndarray, labels: np.ndarray, weights: np.ndarray, train: np.ndarray
) -> np.ndarray:
    """Logistic-regression tumour and subtype outputs on frozen features -> four logits."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(feats[train])
    x = scaler.transform(feats)
    is_tumour = labels != NO_TUMOR_ID
    binary = LogisticRegression(C=0.05, max_iter=2000).fit(
        x[train], is_tumour[train], sample_weight=weights[train]
    )
    typed = train & (labels < NO_TUMOR_ID)
    subtype = LogisticRegression(C=0.05, max_iter=2000).fit(x[typed], labels[typed])
    t = binary.decision_function(x)
    log_q = np.full((len(x), 3), np.log(1e-6))
    log_q[:, subtype.classes_] = subtype.predict_log_proba(x)
    return np.concatenate([t[:, None] + log_q, np.zeros((len(x), 1))], axis=1)


def _activations(ms: MultiSource, rows: np.ndarray, frozen_blocks: int, size: int):
    from ml.transfer import build_model, cache_activations, split_model

    key = hashlib.sha256(
        json.dumps(
            [ms.table.sha256[i] for i in rows] + [frozen_blocks, size, ms.table.config.to_dict()]
        ).encode()
    ).hexdigest()[:16]
    path = CACHE_DIR / f"act-{key}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    lower, _ = split_model(build_model(size), frozen_blocks)
    act = cache_activations(lower, ms.table.pixels[rows])
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path.with_suffix(".tmp.npy"), act)
    os.replace(path.with_suffix(".tmp.npy"), path)
    return act


def run_folds(
    ms: MultiSource,
    *,
    candidate: str,
    seed: int,
    epochs: int,
    frozen_blocks: int,
    lr: float = 1e-3,
    log=print,
) -> dict:
    """Out-of-fold logits for every pool row of a base source (rows, logits, source, labels)."""
    from ml.transfer import build_model, fit_upper, predict_upper, split_model

    rows = np.flatnonzero(ms.pool & np.isin(ms.source, SOURCES))
    labels = ms.table.label_ids()[rows]
    source = ms.source[rows]
    size = ms.table.config.size
    act = _activations(ms, rows, frozen_blocks, size)
    weights = balanced_weights(source, ms.table.labels[rows])
    logits = np.zeros((len(rows), len(CLASS_NAMES)))
    timings = {}
    if candidate == "probe":
        _, upper = split_model(build_model(size), frozen_blocks)
        _, feats = predict_upper(upper, act)
    for s in SOURCES:
        held = source == s
        if not held.any():
            continue
        t0 = time.time()
        train = ~held
        if candidate == "probe":
            logits[held] = probe_fold(
                feats, labels, balanced_weights(source, ms.table.labels[rows]), train
            )[held]
        else:
            _, upper = split_model(build_model(size), frozen_blocks)
            fit_upper(
                upper,
                act[train],
                labels[train],
                balanced_weights(source[train], ms.table.labels[rows][train]),
                epochs=epochs,
                seed=seed,
                lr=lr,
                log=log,
            )
            logits[held] = predict_upper(upper, act[np.flatnonzero(held)])[0]
        timings[s] = round(time.time() - t0, 1)
        log(f"{candidate} seed {seed}: held out {s} in {timings[s]} s")
    del weights
    return {"rows": rows, "logits": logits, "source": source, "labels": labels, "seconds": timings}


def baseline_folds(ms: MultiSource, model_dir: Path) -> dict:
    """An existing model's logits on every base-source pool row (it is not retrained)."""
    from ml.predict import Predictor

    predictor = Predictor(model_dir)
    rows = np.flatnonzero(ms.pool & np.isin(ms.source, SOURCES))
    roots = ms.table.root.split(";")
    logits = []
    for i in rows:
        path = Path(ms.table.paths[i])
        path = path if path.is_absolute() else Path(roots[0]) / path
        p = predictor.predict([path])[0]
        probs = np.array([p.probabilities[c] for c in CLASS_NAMES])
        logits.append(np.log(np.clip(probs, 1e-9, None)) * predictor.temperature)
    return {
        "rows": rows,
        "logits": np.array(logits),
        "source": ms.source[rows],
        "labels": ms.table.label_ids()[rows],
    }


def ood_held_out(ms: MultiSource, frozen_blocks: int, size: int, flag_rate: float = 0.005) -> dict:
    """The OOD guard's k-NN check on held-out sources: for each source, reference features
    from the other sources, threshold at their ``1 - flag_rate`` quantile, then the share of
    the held-out source's MRIs and of the non-MRI probes (``ml.ood_probes``) flagged. Two
    feature sets: the frozen block under the fine-tuned ones, and the ImageNet head."""
    from ml.ood import OODGuard
    from ml.ood_probes import skimage_images, synthetic_images
    from ml.preprocess import preprocess
    from ml.transfer import build_model, cache_activations, predict_upper, split_model

    rows = np.flatnonzero(ms.pool & np.isin(ms.source, SOURCES))
    act = _activations(ms, rows, frozen_blocks, size)
    source = ms.source[rows]
    lower, upper = split_model(build_model(size), frozen_blocks)
    probes = synthetic_images() + skimage_images()
    probe_act = cache_activations(
        lower, np.stack([preprocess(img, ms.table.config) for _, img in probes])
    )
    sets = {
        "frozen_block": (
            np.asarray(act[:, 0], np.float32).mean(axis=(1, 2)),
            np.asarray(probe_act[:, 0], np.float32).mean(axis=(1, 2)),
        ),
        "imagenet_head": (predict_upper(upper, act)[1], predict_upper(upper, probe_act)[1]),
    }
    rng = np.random.default_rng(0)
    out: dict = {}
    for name, (feats, probe_feats) in sets.items():
        out[name] = {}
        for s in SOURCES:
            others = rng.permutation(np.flatnonzero(source != s))
            fit, cal = others[: len(others) // 2], others[len(others) // 2 :]
            ref = feats[fit] / np.linalg.norm(feats[fit], axis=1, keepdims=True)
            guard = OODGuard(ref.astype(np.float32), 1.0, 0.0, 1e9, {})
            threshold = np.quantile(guard.knn_distance(feats[cal]), 1 - flag_rate)
            out[name][s] = {
                "held_out_mri_flagged": float(
                    np.mean(guard.knn_distance(feats[source == s]) > threshold)
                ),
                "probes_flagged": float(np.mean(guard.knn_distance(probe_feats) > threshold)),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml.loso", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--lgg", type=Path, default=DEFAULT_LGG_DIR)
    p.add_argument("--candidates", nargs="+", default=["probe", "finetune"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--frozen-blocks", type=int, default=12)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--intensity", default="percentile", choices=["percentile", "equalize"])
    p.add_argument(
        "--baseline", type=Path, default=None, help="an existing model folder to score too"
    )
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "ml" / "loso.json")
    p.add_argument(
        "--ood-only",
        action="store_true",
        help="only the OOD guard's held-out check, added to an existing --out file",
    )
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    ms = load([args.data, args.lgg], PreprocessConfig(size=args.size, intensity=args.intensity))
    if args.ood_only:
        report = json.loads(args.out.read_text()) if args.out.exists() else {}
        report["ood_held_out"] = ood_held_out(ms, args.frozen_blocks, args.size)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report["ood_held_out"], indent=1))
        return 0
    report: dict = {"settings": {k: str(v) for k, v in vars(args).items()}, "candidates": {}}
    if args.baseline:
        folds = baseline_folds(ms, args.baseline)
        report["candidates"]["baseline"] = {
            "model": str(args.baseline),
            "seeds": {"-": source_report(folds["logits"], folds["labels"], folds["source"])},
        }
    for candidate in args.candidates:
        entry: dict = {"seeds": {}}
        for seed in args.seeds if candidate == "finetune" else [0]:
            folds = run_folds(
                ms,
                candidate=candidate,
                seed=seed,
                epochs=args.epochs,
                frozen_blocks=args.frozen_blocks,
                lr=args.lr,
            )
            entry["seeds"][str(seed)] = {
                **source_report(folds["logits"], folds["labels"], folds["source"]),
                "fold_seconds": folds["seconds"],
            }
            np.savez_compressed(
                CACHE_DIR / f"oof-{candidate}-b{args.frozen_blocks}-e{args.epochs}-{seed}.npz",
                **{k: v for k, v in folds.items() if k != "seconds"},
            )
        worst = [v["worst_roc_auc"] for v in entry["seeds"].values()]
        entry["mean_worst_roc_auc"] = float(np.mean(worst))
        report["candidates"][candidate] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(
            json.dumps(
                {
                    candidate: {
                        s: {k: v.get("worst_roc_auc") for k, v in [("r", e)]}
                        for s, e in entry["seeds"].items()
                    }
                }
            )
        )
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
