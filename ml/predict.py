"""Predict brain-MRI classes, tumour suspicion, OOD flags and Grad-CAM heat maps.

Library::

    from ml.predict import Predictor
    predictor = Predictor()                      # the shipped model (ml.DEFAULT_MODEL_DIR)
    [result] = predictor.predict([path_or_bytes_or_array], heatmap=True)

Command line (one JSON object per line on stdout; exit 1 if any file failed)::

    python -m ml.predict [--model DIR] FILE...

Importing this module does not import TensorFlow; constructing a Predictor does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml import DEFAULT_MODEL_DIR, NO_TUMOR, artefact
from ml.calibration import softmax
from ml.gradcam import cam_from_activations, overlay_png, upsample
from ml.images import ImageDecodeError, ImageInput, load_image
from ml.ood import OODGuard
from ml.preprocess import (
    PREPROCESS_VERSION,
    PreprocessConfig,
    heatmap_to_original,
    preprocess_with_geometry,
    to_model_input,
)


@dataclass(frozen=True)
class Prediction:
    """One image's result.

    ``tumor_suspected`` is ``p_tumor >= threshold`` (threshold chosen on validation for high
    sensitivity). ``label`` is the most likely of the four classes; ``answer`` is the AI's
    answer, the one that agrees with the flag: the most likely tumour class when a tumour is
    suspected, else no tumour (so a flagged image never answers "no tumour"). When ``ood`` is
    true the input does not look like the training MRIs and the class outputs must not be
    trusted: show the reasons and route the scan to a human.
    ``heatmap`` (float32, in [0, 1]) has the ORIGINAL image's height x width; it explains
    the most likely tumour class when a tumour is suspected, else the predicted class.
    """

    probabilities: dict[str, float]
    label: str
    p_tumor: float
    tumor_suspected: bool
    ood: bool
    ood_score: float  # the larger feature score over its threshold: > 1 is out of distribution
    ood_reasons: tuple[str, ...]
    model_version: str
    answer: str
    heatmap: np.ndarray | None = field(default=None, repr=False)
    heatmap_class: str | None = None
    overlay_png: bytes | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-friendly summary (no heat map arrays or PNG bytes)."""
        return {
            "label": self.label,
            "answer": self.answer,
            "probabilities": self.probabilities,
            "p_tumor": self.p_tumor,
            "tumor_suspected": self.tumor_suspected,
            "ood": self.ood,
            "ood_score": self.ood_score,
            "ood_reasons": list(self.ood_reasons),
            "model_version": self.model_version,
        }


class Predictor:
    """Loads a model folder once; ``predict`` may then be called repeatedly (one per worker)."""

    def __init__(self, model_dir: Path | str | None = None) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        from ml.model import CAM_LAYER, FEATURE_LAYER

        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self.manifest = artefact.read_manifest(self.model_dir)
        self.config = PreprocessConfig.from_dict(self.manifest["preprocess"])
        if self.manifest.get("preprocess_version") != PREPROCESS_VERSION:
            trained_with = self.manifest.get("preprocess_version")
            raise ValueError(
                f"{self.model_dir} was trained with preprocessing version {trained_with}, "
                f"this code has {PREPROCESS_VERSION}: retrain it"
            )
        self.temperature = float(self.manifest["temperature"])
        self.guard = OODGuard.load(self.model_dir / artefact.OOD_FILE)
        model = keras.models.load_model(self.model_dir / artefact.MODEL_FILE, compile=False)
        # The OOD guard's features: the manifest may name another layer than the pooled
        # classifier features (e.g. a frozen ImageNet block); a spatial output is averaged.
        feature_layer = self.manifest.get("ood", {}).get("feature_layer", FEATURE_LAYER)
        self._net = keras.Model(
            model.inputs,
            [
                model.output,
                model.get_layer(feature_layer).output,
                model.get_layer(CAM_LAYER).output,
            ],
        )

        def pooled(feats):
            return tf.reduce_mean(feats, axis=[1, 2]) if len(feats.shape) == 4 else feats

        self._no_tumor = self.class_names.index(NO_TUMOR)
        spec = tf.TensorSpec([None, self.config.size, self.config.size, 1], tf.float32)
        # Test-time augmentation (when the model was calibrated with it): logits averaged
        # over the image and its left-right mirror. Features and heat maps use the image.
        tta_flip = bool(self.manifest.get("tta_flip", False))

        def with_flip(x, logits):
            if not tta_flip:
                return logits
            return (logits + model(tf.reverse(x, axis=[2]), training=False)) / 2.0

        @tf.function(input_signature=[spec])
        def forward(x):
            logits, feats, _ = self._net(x, training=False)
            return with_flip(x, logits), pooled(feats)

        @tf.function(input_signature=[spec, tf.TensorSpec([None], tf.int32)])
        def forward_cam(x, target):
            with tf.GradientTape() as tape:
                logits, feats, conv = self._net(x, training=False)
                score = tf.gather(logits, target, axis=1, batch_dims=1)
            return with_flip(x, logits), pooled(feats), conv, tape.gradient(score, conv)

        self._forward, self._forward_cam, self._tf = forward, forward_cam, tf

    @classmethod
    def load(cls, model_dir: Path | str | None = None) -> Predictor:
        """The platform's entry point: a Predictor for ``model_dir`` or the shipped model."""
        return cls(model_dir)

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["class_names"])

    def predict(self, images: Sequence[ImageInput], heatmap: bool = False) -> list[Prediction]:
        """Predict a batch. Raises ImageDecodeError (naming the item) if any input is unusable."""
        arrays = []
        for i, src in enumerate(images):
            try:
                arrays.append(load_image(src))
            except ImageDecodeError as exc:
                raise ImageDecodeError(f"item {i}: {exc}") from exc
        if not arrays:
            return []
        prepped = [preprocess_with_geometry(a, self.config) for a in arrays]
        x = self._tf.constant(to_model_input(np.stack([p for p, _ in prepped])))
        logits, feats = (t.numpy() for t in self._forward(x))
        probs = softmax(logits, self.temperature)
        p_tumor = 1.0 - probs[:, self._no_tumor]
        suspected = p_tumor >= self.threshold
        target = self._heatmap_targets(probs, suspected)
        maps = None
        if heatmap:
            _, _, conv, grads = self._forward_cam(x, self._tf.constant(target, self._tf.int32))
            maps = cam_from_activations(conv.numpy(), grads.numpy())
        feature_scores = self.guard.feature_scores(feats, logits)

        results = []
        for i, (image, (pixels, geometry)) in enumerate(zip(arrays, prepped, strict=True)):
            reasons = self.guard.image_reasons(image, pixels)
            knn, energy = feature_scores[i]
            if knn > 1.0:
                reasons.append(f"features unlike training MRIs (distance {knn:.2f}x threshold)")
            if energy > 1.0:
                reasons.append(f"no class fits (energy {energy:.2f}x threshold)")
            score = float(max(knn, energy))
            heat = png = None
            if maps is not None:
                heat = heatmap_to_original(upsample(maps[i], self.config.size), geometry)
                png = overlay_png(image, heat)
            results.append(
                Prediction(
                    probabilities={c: float(probs[i, k]) for k, c in enumerate(self.class_names)},
                    label=self.class_names[int(probs[i].argmax())],
                    p_tumor=float(p_tumor[i]),
                    tumor_suspected=bool(suspected[i]),
                    ood=bool(reasons),
                    ood_score=score,
                    ood_reasons=tuple(reasons),
                    model_version=self.version,
                    answer=self.class_names[target[i]] if suspected[i] else NO_TUMOR,
                    heatmap=heat,
                    heatmap_class=self.class_names[target[i]] if heat is not None else None,
                    overlay_png=png,
                )
            )
        return results

    def logits_and_features(
        self, pixels: np.ndarray, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits and pooled features for already preprocessed uint8 (N, S, S) images."""
        logits, feats = [], []
        for start in range(0, len(pixels), batch_size):
            lo, fe = self._forward(
                self._tf.constant(to_model_input(pixels[start : start + batch_size]))
            )
            logits.append(lo.numpy())
            feats.append(fe.numpy())
        return np.concatenate(logits).astype(np.float64), np.concatenate(feats).astype(np.float64)

    def _heatmap_targets(self, probs: np.ndarray, suspected: np.ndarray) -> np.ndarray:
        tumour_probs = probs.copy()
        tumour_probs[:, self._no_tumor] = -1.0
        return np.where(suspected, tumour_probs.argmax(axis=1), probs.argmax(axis=1)).astype(
            np.int32
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.predict", description="Predict brain-MRI images."
    )
    parser.add_argument(
        "--model", type=Path, default=None, help=f"model folder (default {DEFAULT_MODEL_DIR})"
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args(argv)

    # stdout carries JSON lines only: keep a private handle on it and send everything else
    # that might print (TensorFlow, Keras, absl) to stderr at the file-descriptor level.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    predictor = Predictor(args.model)
    failed = False
    for path in args.files:
        try:
            image = load_image(path)
        except ImageDecodeError as exc:
            out.write(json.dumps({"file": str(path), "error": str(exc)}) + "\n")
            failed = True
            continue
        p = predictor.predict([image])[0]
        out.write(
            json.dumps(
                {
                    "file": str(path),
                    "label": p.label,
                    "answer": p.answer,
                    "probabilities": p.probabilities,
                    "p_tumor": p.p_tumor,
                    "tumor_suspected": p.tumor_suspected,
                    "ood": p.ood,
                    "model_version": p.model_version,
                }
            )
            + "\n"
        )
    out.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
