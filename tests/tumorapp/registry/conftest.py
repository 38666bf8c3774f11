import json

import pytest

from ml import artefact
from tests.tumorapp.datasets.conftest import media_dir  # noqa: F401 - shared fixture
from tests.tumorapp.registry.fakes import PATH


def write_model_folder(root, version: str, accuracy: float = 0.9, training: dict | None = None):
    """A model folder as ml.train writes it, minus the network (the tests' predictor is a
    stand-in): manifest and training-data fingerprint."""
    folder = root / version
    folder.mkdir(parents=True)
    manifest = {
        "format_version": artefact.FORMAT_VERSION,
        "version": version,
        "threshold": 0.3,
        "temperature": 1.0,
        "target_sensitivity": 0.97,
        "training": {"data": ["/data/base"], **(training or {})},
        "validation": {
            "n": 10,
            "accuracy": accuracy,
            "tumour": {"sensitivity": 0.95, "specificity": 0.6},
        },
    }
    artefact.write_json(folder / artefact.MANIFEST, manifest)
    (folder / artefact.FINGERPRINT_FILE).write_text(json.dumps({"class_counts": {"glioma": 3}}))
    return folder


@pytest.fixture
def model_folder(tmp_path):
    return lambda version, **kw: write_model_folder(tmp_path / "models", version, **kw)


@pytest.fixture
def folder_predictor(settings):
    """Predict with the stand-in that loads the registry's active folder."""
    from tumorapp.inference import predictor

    settings.INFERENCE_PREDICTOR = PATH
    predictor._loaded.clear()
    yield
    predictor._loaded.clear()
