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
    args += ["--arch", "cnn"]
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
    args += ["--arch", "cnn"]
    assert train_main([*args, "--version", "smoke-source-aug"]) == 0
    # Then the model folder loads and its manifest names the recipe
    training = artefact.read_manifest(out)["training"]
    assert training["source_aug"] == 2 and training["label_smoothing"] == 0.1

    from ml.predict import Predictor

    [r] = Predictor(out).predict([tmp_path / "data" / "Testing" / "no_tumor" / "0.png"])
    assert abs(sum(r.probabilities.values()) - 1.0) < 1e-5


def _export_folder(root, with_unknown=True):
    """A platform export (train/val/test ImageFolder), with "tumour, type unknown" reads."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:64, 0:64]
    classes = ["glioma", "no_tumor"] + (["tumor_unknown"] if with_unknown else [])
    for split, n in (("train", 6), ("val", 2), ("test", 1)):
        for k, cls in enumerate(classes):
            for i in range(n):
                cy, cx, ry, rx = (
                    rng.uniform(24, 40),
                    rng.uniform(24, 40),
                    rng.uniform(14, 28),
                    rng.uniform(12, 26),
                )
                inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
                blobs = rng.uniform(0, 255, (4, 4))  # coarse random structure: no two alike
                coarse = np.kron(blobs, np.ones((16, 16)))
                tex = 0.5 * coarse + 50 * np.sin(xx / (2 + 3 * k)) + rng.normal(0, 8, inside.shape)
                path = root / split / cls / f"{split}-{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(np.where(inside, tex, 0), 0, 255).astype(np.uint8)).save(
                    path
                )


def test_pretrained_recipe_trains_and_fine_tunes_on_an_export_with_type_unknown_reads(tmp_path):
    # Given the synthetic base folder and an export whose readers answered "type unknown"
    _synthetic_folder(tmp_path / "data")
    _export_folder(tmp_path / "export")
    base, child = tmp_path / "base", tmp_path / "child"
    common = ["--epochs", "1", "--size", "64", "--batch-size", "8", "--no-cache", "--no-lgg"]
    # When the pretrained network trains on the base folder
    assert (
        train_main(
            ["--data", str(tmp_path / "data"), "--out", str(base), *common, "--version", "b"]
        )
        == 0
    )
    manifest = artefact.read_manifest(base)
    assert manifest["arch"] == "efficientnet-lite0-factorised"
    # and is then fine-tuned from that folder on the export alone
    args = ["--data", str(tmp_path / "export"), "--init-from", str(base), "--out", str(child)]
    assert train_main([*args, *common, "--version", "c"]) == 0
    # Then the child kept the parent's architecture and trained on the type-unknown rows
    child_manifest = artefact.read_manifest(child)
    assert child_manifest["arch"] == manifest["arch"]
    assert child_manifest["training"]["init_from"] == str(base)
    counts = child_manifest["training"]["split_counts"]["train"]
    assert sum(c.get("tumor_unknown", 0) for c in counts.values()) == 6
    from ml.predict import Predictor

    [r] = Predictor(child).predict(
        [tmp_path / "export" / "test" / "glioma" / "test-0.png"], heatmap=True
    )
    assert abs(sum(r.probabilities.values()) - 1.0) < 1e-5
    assert abs(r.p_tumor - (1 - r.probabilities["no_tumor"])) < 1e-9
    assert r.heatmap.shape == (64, 64)
