"""A fast stand-in for ml.predict.Predictor with the same interface, for unit tests.

Deterministic: P(tumour) is the image's mean brightness, so a test picks its answer by the
image it uploads. Counts its loads and calls so tests can check "loaded once".
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ml.images import load_image


@dataclass(frozen=True)
class FakePrediction:
    probabilities: dict[str, float]
    label: str
    p_tumor: float
    tumor_suspected: bool
    ood: bool
    ood_score: float
    ood_reasons: tuple[str, ...]
    model_version: str
    answer: str
    overlay_png: bytes | None = field(default=None, repr=False)


class FakePredictor:
    version = "fake-1"
    threshold = 0.3
    loads = 0
    calls = 0

    @classmethod
    def load(cls, model_dir=None) -> FakePredictor:
        cls.loads += 1
        return cls()

    def predict(self, images, heatmap: bool = False) -> list[FakePrediction]:
        type(self).calls += 1
        results = []
        for src in images:
            pixels = np.asarray(load_image(src), dtype=np.float64)
            p_tumor = round(float(pixels.mean()) / 255.0, 6)
            overlay = None
            if heatmap:
                out = io.BytesIO()
                Image.new("RGB", (16, 16), (int(p_tumor * 255), 0, 0)).save(out, format="PNG")
                overlay = out.getvalue()
            results.append(
                FakePrediction(
                    probabilities={
                        "glioma": p_tumor,
                        "meningioma": 0.0,
                        "pituitary": 0.0,
                        "no_tumor": round(1 - p_tumor, 6),
                    },
                    label="glioma" if p_tumor >= 0.5 else "no_tumor",
                    p_tumor=p_tumor,
                    tumor_suspected=p_tumor >= self.threshold,
                    ood=pixels.std() < 1.0,
                    ood_score=0.5,
                    ood_reasons=("flat image",) if pixels.std() < 1.0 else (),
                    model_version=self.version,
                    answer="glioma" if p_tumor >= self.threshold else "no_tumor",
                    overlay_png=overlay,
                )
            )
        return results


class MissingModelPredictor:
    """A worker deployed without its model folder."""

    @classmethod
    def load(cls, model_dir=None):
        raise FileNotFoundError("[Errno 2] No such file or directory: 'models/x/manifest.json'")


class CrashingPredictor(FakePredictor):
    """A poison input, as a worker sees it: predicting kills the worker process outright."""

    def predict(self, images, heatmap: bool = False):
        import os

        os._exit(13)
