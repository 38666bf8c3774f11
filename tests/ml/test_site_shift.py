"""The simulated low-field site of the retraining checks (ml.site_shift)."""

import csv

import numpy as np

from ml.site_shift import LOW_FIELD_SIDE, low_field, site_patients


def test_the_shift_is_seeded_by_name_and_keeps_shape_but_not_detail():
    rng = np.random.default_rng(0)
    pixels = (rng.random((256, 256)) * 255).astype(np.uint8)
    once, again = low_field(pixels, "a.png"), low_field(pixels, "a.png")
    assert once.shape == pixels.shape and once.dtype == np.uint8
    assert np.array_equal(once, again)
    assert not np.array_equal(once, low_field(pixels, "b.png"))  # its own noise per file
    # fine detail (pixel-to-pixel noise of the input) is gone: 80 px cannot hold it
    assert LOW_FIELD_SIDE == 80
    assert (
        np.abs(np.diff(once.astype(float), axis=1)).mean()
        < np.abs(np.diff(pixels.astype(float), axis=1)).mean()
    )


def test_the_site_uploads_the_parents_validation_patients_and_holds_out_its_training_ones(
    tmp_path,
):
    rows = [
        ("lgg-flair/glioma/TCGA_DU_0001_1_10.png", "glioma", "val", "lgg-DU"),
        ("lgg-flair/no_tumor/TCGA_DU_0001_1_1.png", "no_tumor", "val", "lgg-DU"),
        ("lgg-flair/glioma/TCGA_HT_0002_1_10.png", "glioma", "train", "lgg-HT"),
        ("sartaj-brain-mri/Training/glioma_tumor/x.jpg", "glioma", "train", "sartaj-512"),
        ("lgg-flair/glioma/TCGA_HT_0003_1_10.png", "glioma", "test", "lgg-HT"),
    ]
    with open(tmp_path / "split.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "split", "reason", "source", "group"])
        for path, label, split, source in rows:
            writer.writerow([path, label, split, "", source, ""])
    parts = site_patients(tmp_path, tmp_path / "data")
    assert [(s.patient, s.label) for s in parts["upload"]] == [
        ("TCGA_DU_0001", "glioma"),
        ("TCGA_DU_0001", "no_tumor"),
    ]
    assert [s.patient for s in parts["held_out"]] == ["TCGA_HT_0002"]
    assert parts["held_out"][0].path == tmp_path / "data" / rows[2][0]
    assert parts["upload"][0].name == "TCGA_DU_0001_1_10.png"
