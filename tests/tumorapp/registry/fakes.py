"""A stand-in predictor that loads whichever model folder it is given (its version comes
from the folder's manifest), so tests can see which registry version predicted a scan."""

from __future__ import annotations

from dataclasses import replace

from ml import artefact
from tests.tumorapp.inference.fakes import FakePredictor


class FolderPredictor(FakePredictor):
    loaded_dirs: list[str] = []

    @classmethod
    def load(cls, model_dir=None) -> FolderPredictor:
        cls.loaded_dirs.append(str(model_dir))
        predictor = cls()
        if model_dir is not None:
            predictor.version = artefact.read_manifest(model_dir)["version"]
        return predictor


PATH = "tests.tumorapp.registry.fakes.FolderPredictor"


class RetrainedPredictor(FolderPredictor):
    """Version "v2" moves the class boundary: borderline images change class, so a
    comparison has disagreements to show."""

    def predict(self, images, heatmap: bool = False):
        results = super().predict(images, heatmap)
        if self.version != "v2":
            return results
        return [
            replace(r, label="no_tumor" if r.label == "glioma" else "glioma")
            if 0.45 <= r.p_tumor < 0.55
            else r
            for r in results
        ]


RETRAINED = "tests.tumorapp.registry.fakes.RetrainedPredictor"
