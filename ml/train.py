"""Train a model from scratch (or fine-tune one) and write a versioned model folder.

    python -m ml.train [--data DIR] [--extra DIR ...] [--out DIR] [--epochs N] [--seed N]
                       [--intensity percentile|equalize] [--off-source-val F] [--tta-flip]
                       [--source-aug N] [--label-smoothing EPS]
                       [--init-from MODELDIR] [--version NAME]

1. Scan the data (decode checks, hashes, cached preprocessed pixels) and split it so that no
   duplicate cluster straddles train / validation / test; the official Testing folder is
   only ever the test set and is not touched here.
2. Train with scanner-variation augmentation, class weights, outlier exposure (generated
   non-MRI images) and early stopping on the validation loss (best weights restored). With
   ``--source-aug N``, N source-randomised copies of every training image (ml.source_aug:
   framing, resolution, JPEG re-compression, applied before preprocessing) are drawn in
   advance and each step trains on one of them or the clean image, picked at random.
3. On validation only (as it is and under simulated scanner shift): fit the temperature,
   choose the tumour threshold for the target sensitivity (with ``--off-source-val``, also
   reached on the held-out tumours from minority sources alone: leave-source-out
   validation, see ml.dataset.split_table), fit the OOD guard's thresholds.
4. Write the model folder (see ml.artefact).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from ml import CLASS_NAMES, DEFAULT_DATA_DIR, NO_TUMOR, REPO_ROOT, artefact
from ml.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    sensitivity_specificity,
    softmax,
)
from ml.dataset import Split, Table, scan, split_table
from ml.fingerprint import build_fingerprint
from ml.ood_probes import synthetic_images
from ml.preprocess import PREPROCESS_VERSION, PreprocessConfig, preprocess, to_model_input

TARGET_SENSITIVITY = 0.97


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR, help="image folder <split>/<label>/*"
    )
    p.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="extra ImageFolder export(s) to train on",
    )
    p.add_argument("--out", type=Path, help="model folder to write (default models/<version>)")
    p.add_argument("--version", help="model version name (default brain-mri-cnn-<UTC timestamp>)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs: default 6 (EfficientNet) or at most 45 (CNN, early stopping may end sooner)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--arch",
        choices=["efficientnet-lite0", "cnn"],
        default="efficientnet-lite0",
        help="pretrained EfficientNet-Lite0 with tumour + subtype outputs (ml.transfer, the "
        "shipped recipe) or the small from-scratch CNN of v2/v3; with --init-from, the "
        "parent's architecture is used whatever this says",
    )
    p.add_argument(
        "--lgg", type=Path, default=None, help="LGG FLAIR folder (default: the shared one)"
    )
    p.add_argument("--no-lgg", action="store_true", help="do not add the LGG FLAIR slices")
    p.add_argument("--frozen-blocks", type=int, default=12, help="EfficientNet blocks kept frozen")
    p.add_argument(
        "--loso",
        action="store_true",
        help="fit temperature and threshold on leave-one-source-out predictions (4 extra runs)",
    )
    p.add_argument(
        "--oof",
        type=Path,
        default=None,
        help="with --loso: reuse the out-of-fold predictions `python -m ml.loso` saved for "
        "this recipe and seed (var/ml/oof-finetune-b<frozen>-e<epochs>-<seed>.npz) instead of "
        "recomputing them",
    )
    p.add_argument("--size", type=int, default=None, help="input side (224 EfficientNet, 128 CNN)")
    p.add_argument("--width", type=int, default=32, help="filters in the first stage")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="default 1e-3 (EfficientNet), 2e-3 (CNN)")
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument(
        "--off-source-val",
        type=float,
        default=0.0,
        help="share of off-source tumour clusters (minority resolution of their class) moved "
        "to validation; the threshold must also reach the target sensitivity on them",
    )
    p.add_argument(
        "--intensity",
        choices=("equalize", "percentile"),
        default="percentile",
        help="intensity normalisation of the preprocessing (see ml.preprocess)",
    )
    p.add_argument(
        "--tta-flip",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="average the logits over a left-right flip (training-time calibration and prediction)",
    )
    p.add_argument(
        "--source-aug",
        type=int,
        default=0,
        help="source-randomised copies per training image (ml.source_aug); 0 turns it off",
    )
    p.add_argument(
        "--label-smoothing", type=float, default=0.0, help="label smoothing of the MRI targets"
    )
    p.add_argument("--target-sensitivity", type=float, default=TARGET_SENSITIVITY)
    p.add_argument(
        "--init-from",
        type=Path,
        help="fine-tune from this model folder (same classes and input size)",
    )
    p.add_argument("--outliers", type=int, default=50, help="outlier-exposure images per kind")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-cache", action="store_true", help="neither read nor write var/ml's cache")
    return p.parse_args(argv)


def load_data(args: argparse.Namespace, config: PreprocessConfig) -> tuple[Table, Split]:
    use_cache = not args.no_cache
    tables = [scan(args.data, config, use_cache=use_cache)]
    tables += [scan(extra, config, use_cache=use_cache) for extra in args.extra]
    table = Table.concat(tables) if len(tables) > 1 else tables[0]
    return table, split_table(
        table, val_fraction=args.val_fraction, seed=args.seed, off_source_val=args.off_source_val
    )


def report_integrity(table: Table, split: Split) -> None:
    failed = [(p, e) for p, e in zip(table.paths, table.errors, strict=True) if e]
    print(f"scanned {len(table)} files; {len(failed)} failed to decode")
    for p, e in failed:
        print(f"  DECODE FAILED {p}: {e}")
    print("excluded:", json.dumps(split.exclusion_summary()))
    print("split counts:", json.dumps(split.counts(table.labels)))


def train(args: argparse.Namespace) -> Path:
    import keras
    import tensorflow as tf

    from ml.model import FEATURE_LAYER, augment, build_model, outlier_exposure_loss
    from ml.ood import fit_guard

    started = time.time()
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    except RuntimeError:
        pass  # TensorFlow already ran in this process (e.g. a test session): its settings stand

    if args.init_from:
        base_manifest = artefact.read_manifest(args.init_from)
        config = PreprocessConfig.from_dict(base_manifest["preprocess"])
        tta_flip = bool(base_manifest.get("tta_flip", False))
    else:
        base_manifest = None
        config = PreprocessConfig(size=args.size, intensity=args.intensity)
        tta_flip = args.tta_flip
    table, split = load_data(args, config)
    report_integrity(table, split)

    y_all = table.label_ids()
    tr, va = split.assignment == "train", split.assignment == "val"
    x_train, y_train = table.pixels[tr], y_all[tr]
    x_val, y_val = table.pixels[va], y_all[va]
    counts = np.bincount(y_train, minlength=len(CLASS_NAMES))
    class_weight = {
        i: float(len(y_train) / (len(CLASS_NAMES) * max(c, 1))) for i, c in enumerate(counts)
    }

    # Outlier exposure: generated non-MRI images (noise, documents, shapes, textures...)
    # labelled len(CLASS_NAMES), trained towards a flat softmax.
    outliers = np.stack(
        [
            preprocess(img, config)
            for _, img in synthetic_images(seed=1000 + args.seed, per_kind=args.outliers)
        ]
    )
    n_classes = len(CLASS_NAMES)
    x_fit = np.concatenate([x_train, outliers])
    if args.source_aug > 0:
        from ml.source_aug import source_variants

        t0 = time.time()
        train_paths = [table.paths[i] for i in np.flatnonzero(tr)]
        variants = source_variants(
            Path(table.root.split(";")[0]),
            train_paths,
            args.source_aug,
            config,
            seed=args.seed,
            use_cache=not args.no_cache,
        )
        print(f"source-randomised variants {variants.shape} in {time.time() - t0:.0f} s")
        # Row i of x_fit holds its choices: the clean image then its variants (outliers have
        # no original to re-encode: their choices are all the clean image).
        x_fit = np.concatenate(
            [
                np.concatenate([x_train[:, None], variants], axis=1),
                np.repeat(outliers[:, None], args.source_aug + 1, axis=1),
            ]
        )
    y_fit = np.concatenate([y_train, np.full(len(outliers), n_classes)])
    w_fit = np.array([class_weight.get(int(y), 1.0) for y in y_fit], dtype=np.float32)

    if base_manifest is not None:
        model = keras.models.load_model(Path(args.init_from) / artefact.MODEL_FILE, compile=False)
    else:
        model = build_model(config.size, n_classes, width=args.width)
    steps = int(np.ceil(len(x_fit) / args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr, decay_steps=steps * args.epochs, alpha=0.02
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=outlier_exposure_loss(n_classes, label_smoothing=args.label_smoothing),
        metrics=["accuracy"],
    )

    def augment_batch(i, batch):
        x, y, w = batch
        if args.source_aug > 0:  # pick one of each row's choices
            k = tf.random.stateless_uniform(
                [args.batch_size],
                tf.stack([tf.constant(args.seed + 7, tf.int64), i]),
                0,
                args.source_aug + 1,
                dtype=tf.int32,
            )
            x = tf.gather(x, k, batch_dims=1)
        x = tf.cast(x, tf.float32)[..., None] / 255.0
        return augment(x, tf.stack([tf.constant(args.seed, tf.int64), i])), y, w

    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_fit, y_fit, w_fit))
        .shuffle(len(x_fit), seed=args.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(args.batch_size, drop_remainder=True)
        .enumerate()
        .map(augment_batch, num_parallel_calls=2, deterministic=True)
        .prefetch(2)
    )
    history = model.fit(
        train_ds,
        epochs=args.epochs,
        steps_per_epoch=steps,
        validation_data=(to_model_input(x_val), y_val),
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=args.patience, restore_best_weights=True
            )
        ],
        verbose=2,
    )
    train_seconds = time.time() - started

    features_model = keras.Model(
        model.inputs, [model.output, model.get_layer(FEATURE_LAYER).output]
    )

    def run(pixels: np.ndarray, shift_seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features; with ``shift_seed`` under scanner-variation augmentation."""
        logits, feats = [], []
        for start in range(0, len(pixels), 128):
            x = tf.constant(to_model_input(pixels[start : start + 128]))
            if shift_seed is not None:
                x = augment(x, tf.constant([shift_seed, start], tf.int64))
            lo, fe = features_model(x, training=False)
            if tta_flip:  # the same averaging the Predictor does
                lo = (lo + model(tf.reverse(x, axis=[2]), training=False)) / 2.0
            logits.append(lo.numpy())
            feats.append(fe.numpy())
        return np.concatenate(logits).astype(np.float64), np.concatenate(feats).astype(np.float64)

    # Validation twice over: as it is, and under simulated scanner shift (two augmented
    # copies). Temperature, threshold and OOD thresholds are set on both together, so they
    # hold up on other scanners rather than only on the training sources.
    val_logits, val_feats = run(x_val)
    shifted = [run(x_val, 10_000 + args.seed + k) for k in range(2)]
    cal_logits = np.concatenate([val_logits] + [lo for lo, _ in shifted])
    cal_feats = np.concatenate([val_feats] + [fe for _, fe in shifted])
    cal_y = np.concatenate([y_val] * 3)
    train_logits, train_feats = run(x_train)
    _, train_feats_shifted = run(x_train, 20_000 + args.seed)
    temperature = fit_temperature(cal_logits, cal_y)
    no_tumor = CLASS_NAMES.index(NO_TUMOR)
    cal_probs = softmax(cal_logits, temperature)
    cal_p_tumor = 1.0 - cal_probs[:, no_tumor]
    threshold = choose_threshold(cal_p_tumor, cal_y != no_tumor, args.target_sensitivity)
    # Leave-source-out: tumours from a minority source of their class must reach the target
    # sensitivity too (clean and shifted); the lower of the two thresholds is kept.
    off_val = split.off_source[va] if split.off_source is not None else np.zeros(len(y_val), bool)
    cal_off = np.tile(off_val, 3) & (cal_y != no_tumor)
    if cal_off.any():
        threshold = min(
            threshold,
            choose_threshold(
                cal_p_tumor[cal_off], np.ones(cal_off.sum(), bool), args.target_sensitivity
            ),
        )
    guard = fit_guard(
        np.concatenate([train_feats, train_feats_shifted]), x_train, cal_feats, cal_logits
    )
    val_probs = softmax(val_logits, temperature)
    n_val = len(y_val)

    version = args.version or f"brain-mri-cnn-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"
    out = args.out or (REPO_ROOT / "models" / version)
    out.mkdir(parents=True, exist_ok=True)
    # An uncompiled wrapper of the same layers saves without the optimizer state (a third
    # of the file size) and without the custom loss, which prediction does not need.
    keras.Model(model.inputs, model.output, name=model.name).save(out / artefact.MODEL_FILE)
    guard.save(out / artefact.OOD_FILE)
    fingerprint = build_fingerprint(
        {
            "width": table.width[tr],
            "height": table.height[tr],
            "aspect": table.width[tr] / np.maximum(table.height[tr], 1),
            "mean_intensity": table.mean[tr],
            "contrast": table.std[tr],
        },
        table.labels[tr],
        CLASS_NAMES,
    )
    artefact.write_json(out / artefact.FINGERPRINT_FILE, fingerprint)
    with open(out / artefact.SPLIT_FILE, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "reason"])
        for p, lbl, part, reason in zip(
            table.paths, table.labels, split.assignment, split.reasons, strict=True
        ):
            w.writerow([p, lbl, part, reason])

    best_epoch = int(np.argmin(history.history["val_loss"])) + 1
    manifest = {
        "format_version": artefact.FORMAT_VERSION,
        "version": version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "class_names": list(CLASS_NAMES),
        "preprocess": config.to_dict(),
        "preprocess_version": PREPROCESS_VERSION,
        "threshold": threshold,
        "target_sensitivity": args.target_sensitivity,
        "temperature": temperature,
        "tta_flip": tta_flip,
        "threshold_rule": (
            f"highest threshold with tumour sensitivity >= {args.target_sensitivity} on validation "
            "plus two scanner-shifted copies, and on the off-source validation tumours alone"
        ),
        "ood": {
            "feature_layer": FEATURE_LAYER,
            "val_flag_rate_each": 0.005,
            "outliers": len(outliers),
        },
        "training": {
            "data": [str(args.data)] + [str(e) for e in args.extra],
            "init_from": str(args.init_from) if args.init_from else None,
            "seed": args.seed,
            "epochs_run": len(history.history["loss"]),
            "best_epoch": best_epoch,
            "max_epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "off_source_val": args.off_source_val,
            "source_aug": args.source_aug,
            "label_smoothing": args.label_smoothing,
            "width": args.width,
            "params": int(model.count_params()),
            "class_weight": class_weight,
            "split_counts": split.counts(table.labels),
            "excluded": split.exclusion_summary(),
            "decode_failures": int(sum(1 for e in table.errors if e)),
            "seconds": round(train_seconds, 1),
            "history": {
                k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()
            },
            "versions": {
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "numpy": np.__version__,
            },
        },
        "validation": {
            "n": int(n_val),
            "accuracy": float(np.mean(val_probs.argmax(1) == y_val)),
            "train_accuracy_no_augmentation": float(np.mean(train_logits.argmax(1) == y_train)),
            "ece_before": expected_calibration_error(softmax(val_logits), y_val),
            "ece_after": expected_calibration_error(val_probs, y_val),
            "tumour": sensitivity_specificity(
                1.0 - val_probs[:, no_tumor], y_val != no_tumor, threshold
            ),
            "off_source": _off_source_metrics(
                cal_probs, cal_y, np.tile(off_val, 3), n_val, threshold, no_tumor
            ),
            "shifted": {
                "n": int(len(cal_y) - n_val),
                "accuracy": float(np.mean(cal_probs[n_val:].argmax(1) == cal_y[n_val:])),
                "ece_after": expected_calibration_error(cal_probs[n_val:], cal_y[n_val:]),
                "tumour": sensitivity_specificity(
                    1.0 - cal_probs[n_val:, no_tumor], cal_y[n_val:] != no_tumor, threshold
                ),
            },
        },
    }
    artefact.write_json(out / artefact.MANIFEST, manifest)
    print(
        json.dumps(
            {
                "model_dir": str(out),
                "validation": manifest["validation"],
                "seconds": round(time.time() - started),
            }
        )
    )
    return out


def _off_source_metrics(
    probs: np.ndarray, y: np.ndarray, off: np.ndarray, n_clean: int, threshold: float, no_tumor: int
) -> dict:
    """Figures on the off-source validation tumours (clean, and with their shifted copies)."""
    out = {}
    for name, sel in (("clean", off & (np.arange(len(y)) < n_clean)), ("with_shifted", off)):
        if not sel.any():
            out[name] = {"n": 0}
            continue
        caught = (1.0 - probs[sel, no_tumor]) >= threshold
        out[name] = {
            "n": int(sel.sum()),
            "accuracy": float(np.mean(probs[sel].argmax(1) == y[sel])),
            "sensitivity": float(np.mean(caught)),
        }
    return out


def uses_transfer(args: argparse.Namespace) -> bool:
    """Whether this run trains the pretrained network (a parent's architecture wins)."""
    if args.init_from:
        return artefact.read_manifest(args.init_from).get("arch") == artefact.TRANSFER_ARCH
    return args.arch == "efficientnet-lite0"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if uses_transfer(args):
        from ml.train_transfer import train as train_transfer

        args.epochs = args.epochs or 6
        args.lr = args.lr or 1e-3
        train_transfer(args)
    else:
        args.size, args.epochs, args.lr = args.size or 128, args.epochs or 45, args.lr or 2e-3
        train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
