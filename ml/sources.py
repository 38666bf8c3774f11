"""Several image sources in one table: each row's source and group, group-safe splits.

Why: in the Sartaj Training folder the source predicts the class (each tumour class is mostly
512x512 images from one collection, no-tumour comes from others), so a model can learn
"which source" and a random validation split cannot see it. The LGG FLAIR set has tumour and
tumour-free slices of the same patients at two sites, so there the source says nothing.

Sources (``SOURCES``):

- ``sartaj-512``: the Sartaj 512x512 collection; ``sartaj-other``: Sartaj's other images;
- ``lgg-DU``, ``lgg-HT``: the LGG slices of each site (the TCGA code in the file name);
- ``export:<folder>``: a platform export passed with ``--extra`` (or as ``--data``).

Groups never straddle two parts of a split: an LGG patient (all its slices), a Sartaj
near-duplicate cluster (``ml.dataset.duplicate_clusters``), and for exports the same
clusters (exports' own train/val/test assignment, keyed by a hash of the image, is kept).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml import CLASS_NAMES, NO_TUMOR, TUMOR_UNKNOWN
from ml.dataset import NEAR_DUPLICATE_BITS, Split, Table, duplicate_clusters, scan, split_table
from ml.preprocess import PreprocessConfig

SARTAJ_512, SARTAJ_OTHER = "sartaj-512", "sartaj-other"
LGG_SITES = ("DU", "HT")
#: The base sources, in the order of leave-one-source-out folds.
SOURCES = (SARTAJ_512, SARTAJ_OTHER, "lgg-DU", "lgg-HT")
EXPORT_PREFIX = "export:"
_LGG_NAME = re.compile(r"(TCGA_([A-Z0-9]{2})_[A-Z0-9]{4})")


@dataclass
class MultiSource:
    """A concatenated ``Table`` plus per-row source and group, and the split."""

    table: Table
    source: np.ndarray  # str per row
    group: np.ndarray  # str per row: "lgg:<patient>", "sartaj:<cluster>", "export:<...>"
    split: Split

    def __len__(self) -> int:
        return len(self.table)

    @property
    def pool(self) -> np.ndarray:
        """Rows that may train or validate (not the test split, not excluded)."""
        return np.isin(self.split.assignment, ["train", "val"])

    def sources_present(self) -> list[str]:
        seen = set(self.source[self.pool].tolist())
        return [s for s in SOURCES if s in seen] + sorted(s for s in seen if s not in SOURCES)

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """part -> source -> label -> rows."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for part in ("train", "val", "test", "excluded"):
            sel = self.split.assignment == part
            out[part] = {
                s: dict(Counter(self.table.labels[sel & (self.source == s)].tolist()))
                for s in sorted(set(self.source[sel].tolist()))
            }
        return out


def source_of(root: Path, rel_path: str, width: int, height: int) -> str:
    """The source name of one file of the folder ``root``."""
    name = Path(rel_path).name
    if is_sartaj(root):
        return SARTAJ_512 if (width, height) == (512, 512) else SARTAJ_OTHER
    match = _LGG_NAME.search(name)
    if is_lgg(root) and match:
        return f"lgg-{match.group(2)}"
    return EXPORT_PREFIX + root.name


def is_sartaj(root: Path) -> bool:
    return (Path(root) / "Training").is_dir()


def is_lgg(root: Path) -> bool:
    return (Path(root) / "metadata.csv").is_file() and (Path(root) / "glioma").is_dir()


def group_of(root: Path, rel_path: str, cluster: int) -> str:
    match = _LGG_NAME.search(Path(rel_path).name)
    if is_lgg(root) and match:
        return f"lgg:{match.group(1)}"
    prefix = "sartaj" if is_sartaj(root) else EXPORT_PREFIX + Path(root).name
    return f"{prefix}:{cluster}"


def load(
    roots: list[Path],
    config: PreprocessConfig,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    use_cache: bool = True,
    seen: SeenImages | None = None,
) -> MultiSource:
    """Scan every folder, tag source and group, and split by group.

    The Sartaj ``Testing`` folder (and exports' ``test``) stay the test part; duplicates of
    test images, conflicting duplicates and byte copies are excluded as ``split_table`` does;
    then ``val_fraction`` of the groups of each source and class goes to validation, whole.
    With ``seen`` (a parent model's training images), every row that is one of them, or in a
    group or near-duplicate cluster with one, is kept out of validation and test: such a row
    may train the child, but never measure it.
    """
    roots = [Path(r).resolve() for r in roots]
    tables = [scan(r, config, use_cache=use_cache) for r in roots]
    table = Table.concat(tables)
    clusters = duplicate_clusters(table)
    source, group = [], []
    offset = 0
    for root, t in zip(roots, tables, strict=True):
        for i, rel in enumerate(t.paths):
            source.append(source_of(root, rel, int(t.width[i]), int(t.height[i])))
            group.append(group_of(root, rel, int(clusters[offset + i])))
        offset += len(t)
    source_arr, group_arr = np.array(source), np.array(group)
    # LGG rows group by patient only: the set was de-duplicated by its curators, and the
    # perceptual-hash clusters chain its near-blank top and bottom slices across patients.
    lgg = np.char.startswith(group_arr.astype(str), "lgg:")
    clusters = np.where(lgg, clusters.max(initial=0) + 1 + np.arange(len(clusters)), clusters)
    group_arr = _merge_groups(group_arr, clusters)
    split = split_table(table, val_fraction=0.0, seed=seed, clusters=clusters)
    assignment = split.assignment.copy()
    rng = np.random.default_rng(seed)
    train = assignment == "train"
    # A source that brings its own validation rows (an export's keyed split) keeps them.
    own_val = set(source_arr[assignment == "val"].tolist())
    for src in sorted(set(source_arr[train].tolist()) - own_val):
        for label in (*CLASS_NAMES, TUMOR_UNKNOWN):
            sel = train & (source_arr == src) & (table.labels == label)
            groups = sorted(set(group_arr[sel].tolist()))
            rng.shuffle(groups)
            target, taken = val_fraction * sel.sum(), 0
            for g in groups:
                if taken >= target:
                    break
                rows = train & (group_arr == g)
                if (assignment[rows] == "val").any():
                    continue
                assignment[rows] = "val"
                taken += int(rows.sum())
    if seen is not None:
        hit = seen.matches(table)
        tainted = np.isin(group_arr, group_arr[hit]) | np.isin(clusters, clusters[hit])
        for i in np.flatnonzero(tainted & (assignment == "val")):
            assignment[i] = "train"
        for i in np.flatnonzero(tainted & (assignment == "test")):
            assignment[i], split.reasons[i] = "excluded", "the parent model trained on it"
        seen.kept_out = int(tainted.sum())
    split.assignment = assignment
    return MultiSource(table, source_arr, group_arr, split)


@dataclass
class SeenImages:
    """The images a parent model trained on: SHA-256 and 64-bit pHash (from its split.csv)."""

    sha256: set[str]
    phash: np.ndarray  # uint64
    kept_out: int = 0  # rows of the child's data kept out of validation and test

    @classmethod
    def from_split_csv(cls, path: Path) -> SeenImages | None:
        """None when the parent's split.csv predates these columns (older models)."""
        import csv

        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("split") == "train"]
        if not rows or "sha256" not in rows[0]:
            return None
        return cls(
            {r["sha256"] for r in rows},
            np.array([int(r["phash"] or 0) for r in rows], dtype=np.uint64),
        )

    def matches(self, table: Table, max_bits: int = NEAR_DUPLICATE_BITS) -> np.ndarray:
        """Rows of ``table`` that are a seen image or within ``max_bits`` of one's pHash."""
        hit = np.array([h in self.sha256 for h in table.sha256], dtype=bool)
        if len(self.phash):
            for i in np.flatnonzero(~hit & table.ok):
                if np.bitwise_count(self.phash ^ table.phash[i]).min() <= max_bits:
                    hit[i] = True
        return hit


def _merge_groups(group: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Union of the named groups and the duplicate clusters (connected components)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for g, c in zip(group.tolist(), clusters.tolist(), strict=True):
        a, b = find(g), find(f"cluster:{c}")
        if a != b:  # a named group (patient, Sartaj cluster) stays the component's name
            named = sorted((x for x in (a, b) if not x.startswith("cluster:")), key=str)
            root = named[0] if named else min(a, b)
            parent[b if root == a else a] = root
    return np.array([find(g) for g in group.tolist()])


def balanced_weights(source: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-row sampling weight: every (source, tumour/normal) cell weighs the same in total.

    Within a source the tumour and no-tumour rows get equal total weight (where both exist),
    and every source gets the same total, so no source and no class dominates a batch; the
    weights average 1 over the rows.
    """
    tumour = labels != NO_TUMOR
    cells = Counter(zip(source.tolist(), tumour.tolist(), strict=True))
    per_source = Counter(s for s, _ in cells)
    w = np.array(
        [
            1.0 / (cells[(s, t)] * per_source[s])
            for s, t in zip(source.tolist(), tumour.tolist(), strict=True)
        ]
    )
    return w * (len(w) / w.sum())


def balanced_sample(
    source: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` row indices drawn with replacement under ``balanced_weights``."""
    w = balanced_weights(source, labels)
    return rng.choice(len(w), size=n, replace=True, p=w / w.sum())
