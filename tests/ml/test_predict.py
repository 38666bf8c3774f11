import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml import CLASS_NAMES, DEFAULT_MODEL_DIR, artefact
from ml.images import ImageDecodeError, load_image

REPO = Path(__file__).resolve().parents[2]


def test_shipped_model_predicts_real_testing_images(predictor, testing_images):
    results = predictor.predict([path for path, _ in testing_images])
    assert len(results) == len(testing_images)
    for r in results:
        assert set(r.probabilities) == set(CLASS_NAMES)
        assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert r.label == max(r.probabilities, key=r.probabilities.get)
        assert r.p_tumor == pytest.approx(1.0 - r.probabilities["no_tumor"])
        assert r.tumor_suspected == (r.p_tumor >= predictor.threshold)
        # The answer follows the flag: the likeliest tumour class when flagged, else no tumour.
        tumours = {c: p for c, p in r.probabilities.items() if c != "no_tumor"}
        expected = max(tumours, key=tumours.get) if r.tumor_suspected else "no_tumor"
        assert r.answer == expected
        assert r.to_dict()["answer"] == r.answer
        assert r.model_version == predictor.version
    assert sum(r.ood for r in results) <= 2


def test_shipped_model_classifies_its_own_training_images(predictor, data_dir):
    # Right weights and the same preprocessing as in training: near-perfect on seen images.
    # (Testing accuracy is measured by ml.evaluate; it is far lower, see the model card.)
    rows = list(csv.DictReader((DEFAULT_MODEL_DIR / "split.csv").open()))
    picked = []
    for label in CLASS_NAMES:
        picked += [r for r in rows if r["split"] == "train" and r["label"] == label][:4]
    results = predictor.predict([artefact.split_path(r["path"], data_dir) for r in picked])
    correct = sum(res.label == r["label"] for res, r in zip(results, picked, strict=True))
    assert correct >= 14, f"{correct} of {len(picked)} training images right"


def test_predictor_exposes_its_parameters(predictor):
    assert predictor.class_names == CLASS_NAMES
    assert 0.0 < predictor.threshold < 1.0
    assert (
        predictor.version
        == json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())["version"]
    )


def test_every_input_kind_gives_the_same_answer(predictor, testing_images):
    path = testing_images[0][0]
    arr = load_image(path)
    grey = np.asarray(Image.open(path).convert("L"))
    sources = [
        path,
        str(path),
        path.read_bytes(),
        Image.open(path),
        arr,
        grey,
        grey.astype(np.uint16) * 257,
    ]
    results = predictor.predict(sources)
    for r in results[1:]:
        assert r.p_tumor == pytest.approx(results[0].p_tumor, abs=0.02)


def test_gradcam_heatmap_and_overlay(predictor, testing_images):
    path = testing_images[0][0]
    [r] = predictor.predict([path], heatmap=True)
    h, w = load_image(path).shape[:2]
    assert r.heatmap.shape == (h, w) and r.heatmap.dtype == np.float32
    assert r.heatmap.min() >= 0.0 and r.heatmap.max() <= 1.0 and r.heatmap.max() > 0.5
    overlay = Image.open(io.BytesIO(r.overlay_png))
    assert overlay.format == "PNG" and overlay.size == (w, h) and overlay.mode == "RGB"
    assert r.heatmap_class in CLASS_NAMES
    [plain] = predictor.predict([path])
    assert plain.heatmap is None and plain.overlay_png is None


def test_ood_flags_noise_and_colour_photo(predictor, testing_images):
    import skimage.data

    noise = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)
    photo = skimage.data.astronaut()
    blank = np.full((256, 256), 40, np.uint8)
    noise_r, photo_r, blank_r, mri_r = predictor.predict(
        [noise, photo, blank, testing_images[0][0]]
    )
    assert noise_r.ood and noise_r.ood_reasons
    assert photo_r.ood and any("colour" in r for r in photo_r.ood_reasons)
    assert blank_r.ood
    assert not mri_r.ood


def test_bad_input_raises_value_error_naming_the_item(predictor, testing_images):
    with pytest.raises(ImageDecodeError, match="item 1"):
        predictor.predict([testing_images[0][0], b"not an image"])
    assert issubclass(ImageDecodeError, ValueError)


def test_cli_prints_json_lines_and_fails_on_unreadable_file(tmp_path, testing_images):
    bad = tmp_path / "notes.png"
    bad.write_text("<html>not an image</html>")
    good = [str(p) for p, _ in testing_images[:2]]
    result = subprocess.run(
        [sys.executable, "-m", "ml.predict", good[0], str(bad), good[1]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # stdout is JSON only
    assert [line["file"] for line in lines] == [good[0], str(bad), good[1]]
    assert "error" in lines[1]
    for line in (lines[0], lines[2]):
        assert set(line) == {
            "file",
            "label",
            "answer",
            "probabilities",
            "p_tumor",
            "tumor_suspected",
            "ood",
            "model_version",
        }
        assert set(line["probabilities"]) == set(CLASS_NAMES)


def test_cli_exits_zero_when_all_files_work(testing_images):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml.predict",
            "--model",
            str(DEFAULT_MODEL_DIR),
            str(testing_images[-1][0]),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["label"] in CLASS_NAMES


def test_every_shipped_model_folder_still_loads_and_predicts(testing_images):
    # Other apps register every folder under models/ (v2 stays referenced), so each must load
    # with today's preprocessing code and give a valid prediction.
    from ml.predict import Predictor

    folders = sorted(p.parent for p in (REPO / "models").glob("*/manifest.json"))
    assert folders
    for folder in folders:
        predictor = Predictor(folder)
        [result] = predictor.predict([testing_images[0][0]])
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert result.model_version == predictor.version
