import json

import numpy as np
from PIL import Image

from ml import CLASS_NAMES, artefact
from ml.train import main as train_main

FOLDERS = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")


def _synthetic_folder(root):
    """Brain-like ellipses whose texture frequency depends on the class, 8 train + 2 test each."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:80, 0:72]
    for split, n in (("Training", 8), ("Testing", 2)):
        for k, cls in enumerate(FOLDERS):
            for i in range(n):
                cy, cx = 40 + rng.integers(-4, 5), 36 + rng.integers(-4, 5)
                inside = ((yy - cy) / 32) ** 2 + ((xx - cx) / 28) ** 2 < 1
                tex = (
                    110
                    + 60 * np.sin(xx / (2 + 2 * k) + rng.uniform(0, 6))
                    + rng.normal(0, 8, inside.shape)
                )
                img = np.clip(np.where(inside, tex, 0), 0, 255).astype(np.uint8)
                path = root / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)


def test_tiny_training_run_writes_a_loadable_model_folder(tmp_path):
    # Given a tiny image folder
    _synthetic_folder(tmp_path / "data")
    out = tmp_path / "model"
    # When training runs for one epoch at a tiny resolution
    args = ["--data", str(tmp_path / "data"), "--out", str(out), "--epochs", "1", "--size", "32"]
    args += ["--width", "4", "--batch-size", "8", "--val-fraction", "0.25", "--no-cache"]
    code = train_main([*args, "--version", "smoke-test"])
    # Then the folder holds everything the platform loads
    assert code == 0
    for name in (
        artefact.MANIFEST,
        artefact.MODEL_FILE,
        artefact.OOD_FILE,
        artefact.FINGERPRINT_FILE,
        artefact.SPLIT_FILE,
    ):
        assert (out / name).is_file(), name
    manifest = artefact.read_manifest(out)
    assert manifest["version"] == "smoke-test"
    assert manifest["class_names"] == list(CLASS_NAMES)
    assert 0.0 <= manifest["threshold"] <= 1.0 and manifest["temperature"] > 0
    assert manifest["preprocess"]["size"] == 32
    fingerprint = json.loads((out / artefact.FINGERPRINT_FILE).read_text())
    assert (
        fingerprint["features"]["width"]["counts"] and sum(fingerprint["class_counts"].values()) > 0
    )

    from ml.predict import Predictor

    predictor = Predictor(out)
    [r] = predictor.predict([tmp_path / "data" / "Testing" / "no_tumor" / "0.png"], heatmap=True)
    assert r.model_version == "smoke-test" and r.heatmap.shape == (80, 72)


def test_source_randomised_training_with_label_smoothing_records_its_recipe(tmp_path):
    # Given a tiny image folder
    _synthetic_folder(tmp_path / "data")
    out = tmp_path / "model"
    # When training runs with source-randomised copies and label smoothing
    args = ["--data", str(tmp_path / "data"), "--out", str(out), "--epochs", "1", "--size", "32"]
    args += ["--width", "4", "--batch-size", "8", "--val-fraction", "0.25", "--no-cache"]
    args += ["--source-aug", "2", "--label-smoothing", "0.1", "--intensity", "equalize"]
    assert train_main([*args, "--version", "smoke-source-aug"]) == 0
    # Then the model folder loads and its manifest names the recipe
    training = artefact.read_manifest(out)["training"]
    assert training["source_aug"] == 2 and training["label_smoothing"] == 0.1

    from ml.predict import Predictor

    [r] = Predictor(out).predict([tmp_path / "data" / "Testing" / "no_tumor" / "0.png"])
    assert abs(sum(r.probabilities.values()) - 1.0) < 1e-5
