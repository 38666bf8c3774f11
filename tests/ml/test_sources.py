"""Several sources with groups (ml.sources): tagging, group-safe splits, balanced sampling."""

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from ml.preprocess import PreprocessConfig
from ml.sources import SARTAJ_512, SARTAJ_OTHER, balanced_sample, balanced_weights, load


def _slice(rng, size, bright):
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    inside = ((yy - size[1] / 2) / (size[1] * 0.4)) ** 2 + (
        (xx - size[0] / 2) / (size[0] * 0.35)
    ) ** 2 < 1
    tex = (
        bright
        + 40 * np.sin(xx / rng.uniform(2, 9) + rng.uniform(0, 6))
        + rng.normal(0, 10, inside.shape)
    )
    return np.clip(np.where(inside, tex, 0), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(3)
    sartaj = root / "sartaj"
    for split, n in (("Training", 6), ("Testing", 2)):
        for cls in ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"):
            for i in range(n):
                size = (512, 512) if cls != "no_tumor" and i % 3 else (300, 260 + i)
                p = sartaj / split / cls / f"{cls}-{i}.jpg"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_slice(rng, size, 90 + 20 * i)).save(p, quality=95)
    lgg = root / "lgg"
    (lgg / "glioma").mkdir(parents=True)
    (lgg / "no_tumor").mkdir(parents=True)
    (lgg / "metadata.csv").write_text("file,patient\n")
    for site in ("DU", "HT"):
        for patient in range(4):
            pid = f"TCGA_{site}_{patient:02d}A{site[0]}"
            for s in range(5):
                label = "glioma" if s in (2, 3) else "no_tumor"
                Image.fromarray(_slice(rng, (96, 96), 60 + 25 * s + 7 * patient)).save(
                    lgg / label / f"{pid}_19990101_{s}.png"
                )
    return sartaj, lgg


def test_every_row_has_its_source_and_group(folders):
    sartaj, lgg = folders
    ms = load([sartaj, lgg], PreprocessConfig(size=32), val_fraction=0.3, seed=1, use_cache=False)
    t = ms.table
    lgg_rows = np.array(["TCGA_" in p for p in t.paths])
    assert set(ms.source[lgg_rows]) == {"lgg-DU", "lgg-HT"}
    assert all(g.startswith("lgg:TCGA_") for g in ms.group[lgg_rows])
    big = (t.width == 512) & (t.height == 512)
    assert set(ms.source[~lgg_rows & big]) == {SARTAJ_512}
    assert set(ms.source[~lgg_rows & ~big]) == {SARTAJ_OTHER}
    # the Testing folder is the test part, whole, and nothing else is
    assert set(ms.split.assignment[t.source_split == "test"]) == {"test"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_patient_or_cluster_is_in_two_parts(folders, seed):
    sartaj, lgg = folders
    ms = load(
        [sartaj, lgg], PreprocessConfig(size=32), val_fraction=0.3, seed=seed, use_cache=False
    )
    parts_of_group: dict[str, set] = {}
    for g, part in zip(ms.group, ms.split.assignment, strict=True):
        parts_of_group.setdefault(g, set()).add(part)
    assert all(len(p - {"excluded"}) == 1 for p in parts_of_group.values() if p - {"excluded"})
    patients = {g for g in ms.group if g.startswith("lgg:")}
    assert len(patients) == 8
    # and both parts are used: validation holds whole patients
    val_patients = {
        g
        for g, part in zip(ms.group, ms.split.assignment, strict=True)
        if part == "val" and g.startswith("lgg:")
    }
    assert val_patients and val_patients != patients
    for cid in set(ms.split.clusters.tolist()):
        parts = set(ms.split.assignment[ms.split.clusters == cid]) - {"excluded"}
        assert len(parts) <= 1


def test_sampling_is_balanced_by_source_and_by_class():
    source = np.array(["a"] * 90 + ["a"] * 10 + ["b"] * 5 + ["b"] * 45)
    labels = np.array(["glioma"] * 90 + ["no_tumor"] * 10 + ["pituitary"] * 5 + ["no_tumor"] * 45)
    w = balanced_weights(source, labels)
    cell = Counter()
    for s, lbl, wi in zip(source, labels, w, strict=True):
        cell[(s, lbl != "no_tumor")] += wi
    assert np.allclose(list(cell.values()), cell[("a", True)])  # four equal cells
    draws = balanced_sample(source, labels, 40_000, np.random.default_rng(0))
    shares = Counter((source[i], labels[i] != "no_tumor") for i in draws)
    assert all(abs(v / 40_000 - 0.25) < 0.01 for v in shares.values())


def test_a_parent_models_training_images_never_validate_or_test_the_child(folders):
    from ml.sources import SeenImages

    sartaj, lgg = folders
    config = PreprocessConfig(size=32)
    before = load([sartaj, lgg], config, val_fraction=0.3, seed=1, use_cache=False)
    # The parent trained on one validation patient's slice and on one Testing image
    val_lgg = np.flatnonzero(
        (before.split.assignment == "val") & np.char.startswith(before.group, "lgg:")
    )
    test_row = int(np.flatnonzero(before.split.assignment == "test")[0])
    seen_rows = [int(val_lgg[0]), test_row]
    seen = SeenImages({before.table.sha256[i] for i in seen_rows}, before.table.phash[seen_rows])
    after = load([sartaj, lgg], config, val_fraction=0.3, seed=1, use_cache=False, seen=seen)
    patient = before.group[val_lgg[0]]
    assert set(after.split.assignment[after.group == patient]) == {"train"}
    assert after.split.assignment[test_row] == "excluded"
    assert after.split.reasons[test_row] == "the parent model trained on it"
    assert seen.kept_out >= 2


def test_seen_images_match_near_duplicates_by_perceptual_hash(folders):
    from ml.sources import SeenImages

    sartaj, lgg = folders
    ms = load([sartaj, lgg], PreprocessConfig(size=32), use_cache=False)
    row = 3
    near = np.uint64(int(ms.table.phash[row]) ^ 0b101)  # 2 bits apart: a re-encoded copy
    hit = SeenImages(set(), np.array([near], dtype=np.uint64)).matches(ms.table)
    assert hit[row]
    assert not SeenImages(set(), np.array([near ^ np.uint64(0xFFFF)], dtype=np.uint64)).matches(
        ms.table
    )[row]
