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


class ForgetfulPredictor(FolderPredictor):
    """Version "v2" has forgotten the glioma class: it answers "no tumour" to everything,
    as a candidate trained on a site's cases alone can."""

    def predict(self, images, heatmap: bool = False):
        results = super().predict(images, heatmap)
        if self.version != "v2":
            return results
        return [
            replace(
                r,
                label="no_tumor",
                p_tumor=0.01,
                tumor_suspected=False,
                probabilities={
                    "glioma": 0.01,
                    "meningioma": 0.0,
                    "pituitary": 0.0,
                    "no_tumor": 0.99,
                },
            )
            for r in results
        ]


FORGETFUL = "tests.tumorapp.registry.fakes.ForgetfulPredictor"
