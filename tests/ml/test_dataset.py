from pathlib import Path

import numpy as np
from PIL import Image

from ml.dataset import Table, duplicate_clusters, scan, split_table
from ml.preprocess import PreprocessConfig

CLASSES = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")


def _pattern(seed: int, size: int = 96) -> np.ndarray:
    """A distinct blocky image per seed (perceptual hashes far apart)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.NEAREST))


def _write(path: Path, arr: np.ndarray, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)


def _folder(root: Path) -> None:
    """Training/Testing folders with exact and resized copies crossing the split."""
    seed = 0
    for split, n in (("Training", 8), ("Testing", 2)):
        for cls in CLASSES:
            for k in range(n):
                seed += 1
                _write(root / split / cls / f"{k}.png", _pattern(seed))
    # an exact copy of a Testing image inside Training
    (root / "Training" / "glioma_tumor" / "copy.png").write_bytes(
        (root / "Testing" / "glioma_tumor" / "0.png").read_bytes()
    )
    # a resized, re-encoded copy of a Training image inside Training (a near duplicate)
    big = Image.fromarray(_pattern(1)).resize((150, 150), Image.Resampling.BILINEAR)
    _write(root / "Training" / "glioma_tumor" / "resized.jpg", np.asarray(big), "JPEG")
    # a file that does not decode
    (root / "Training" / "no_tumor" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")


def test_duplicate_clusters_never_straddle_splits(tmp_path):
    # Given a folder with duplicates across and within the author's split
    _folder(tmp_path)
    table = scan(tmp_path, PreprocessConfig(size=32), workers=1, use_cache=False)
    clusters = duplicate_clusters(table)
    paths = {p: i for i, p in enumerate(table.paths)}
    # Then exact and resized copies are clustered with their originals
    assert (
        clusters[paths["Training/glioma_tumor/copy.png"]]
        == clusters[paths["Testing/glioma_tumor/0.png"]]
    )
    assert (
        clusters[paths["Training/glioma_tumor/resized.jpg"]]
        == clusters[paths["Training/glioma_tumor/0.png"]]
    )
    assert len(set(clusters)) > 30  # distinct images stay apart
    # When split with several seeds, no cluster ever spans two parts
    for seed in range(5):
        split = split_table(table, val_fraction=0.3, seed=seed, clusters=clusters)
        used = split.assignment != "excluded"
        for c in set(clusters[used]):
            assert len(set(split.assignment[used & (clusters == c)])) == 1
        # and the official Testing folder stays the test set, whole
        assert all(split.assignment[table.source_split == "test"] == "test")
        assert split.assignment[paths["Training/glioma_tumor/copy.png"]] == "excluded"
        assert split.test_duplicates_training[paths["Testing/glioma_tumor/0.png"]]
        assert split.test_duplicates_training.sum() == 1
        assert (split.assignment == "val").any()


def test_decode_failures_are_reported_not_skipped(tmp_path):
    _folder(tmp_path)
    table = scan(tmp_path, PreprocessConfig(size=32), workers=1, use_cache=False)
    i = table.paths.index("Training/no_tumor/broken.png")
    assert "cannot decode" in table.errors[i]
    split = split_table(table)
    assert split.assignment[i] == "excluded" and split.reasons[i].startswith("decode failed")


def test_extra_export_joins_training_with_its_own_validation(tmp_path):
    # Given the author's layout plus a platform export (<split>/<label>/*.png)
    _folder(tmp_path / "sartaj")
    for k, (split, label) in enumerate(
        [("train", "glioma"), ("val", "no_tumor"), ("test", "pituitary")]
    ):
        _write(tmp_path / "export" / split / label / f"case{k}.png", _pattern(500 + k))
    config = PreprocessConfig(size=32)
    tables = [
        scan(tmp_path / name, config, workers=1, use_cache=False) for name in ("sartaj", "export")
    ]
    table = Table.concat(tables)
    # When split
    split = split_table(table, val_fraction=0.3, seed=0)
    where = {Path(p).name: a for p, a in zip(table.paths, split.assignment, strict=True)}
    # Then the export's own validation and test choices are kept, its training case is used
    assert where["case1.png"] == "val"
    assert where["case2.png"] == "test"
    assert where["case0.png"] in ("train", "val")
    assert len(table) == len(tables[0]) + 3


def test_off_source_tumours_move_to_validation_without_reshuffling_the_rest(tmp_path):
    # Given glioma images mostly 96 px from one "source" and six 120 px ones from another,
    # and no-tumour images of mixed sizes (no dominant source)
    seed = 1000
    for k in range(12):
        seed += 1
        _write(tmp_path / "Training" / "glioma_tumor" / f"main{k}.png", _pattern(seed))
    for k in range(6):
        seed += 1
        _write(tmp_path / "Training" / "glioma_tumor" / f"other{k}.png", _pattern(seed, 120))
    for k in range(6):
        seed += 1
        _write(tmp_path / "Training" / "no_tumor" / f"n{k}.png", _pattern(seed, 80 + 10 * k))
    table = scan(tmp_path, PreprocessConfig(size=32), workers=1, use_cache=False)
    # When split without and with leave-source-out validation
    plain = split_table(table, val_fraction=0.2, seed=3)
    shifted = split_table(table, val_fraction=0.2, seed=3, off_source_val=0.5)
    # Then exactly the minority-resolution tumours are off-source
    names = [Path(p).name for p in table.paths]
    assert {n for n, o in zip(names, shifted.off_source, strict=True) if o} == {
        f"other{k}.png" for k in range(6)
    }
    # and half of those still in training move to validation, nothing else changes
    moved = np.flatnonzero(plain.assignment != shifted.assignment)
    in_train = int(np.sum(plain.off_source & (plain.assignment == "train")))
    assert len(moved) == round(0.5 * in_train) and in_train > 0
    assert all(plain.assignment[i] == "train" and shifted.assignment[i] == "val" for i in moved)
    assert all(shifted.off_source[moved])
