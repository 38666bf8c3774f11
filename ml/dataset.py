"""Load an image-folder data set with integrity checks, find duplicates, split without leaks.

Layout: ``<root>/<split>/<label>/<image>`` (the Sartaj set uses ``Training``/``Testing`` and
``glioma_tumor`` etc.; platform exports use ``train``/``val``/``test`` and the class names).

Every file is decoded once; failures are kept as rows with their error, never dropped
silently. Each row gets a SHA-256 (exact duplicates) and a 64-bit perceptual hash (resized or
re-encoded copies), plus the raw statistics the EDA and the drift fingerprint use. The decoded,
preprocessed pixels are cached as uint8 under ``var/ml`` so training starts in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml import CACHE_DIR, CLASS_NAMES, TUMOR_UNKNOWN
from ml.images import ImageDecodeError, load_image
from ml.preprocess import PREPROCESS_VERSION, PreprocessConfig, preprocess, to_grey

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm"}

LABEL_ALIASES = {
    "glioma": "glioma",
    "glioma_tumor": "glioma",
    "meningioma": "meningioma",
    "meningioma_tumor": "meningioma",
    "pituitary": "pituitary",
    "pituitary_tumor": "pituitary",
    "no_tumor": "no_tumor",
    "notumor": "no_tumor",
    # A reader's "tumour, type unknown" (platform exports): trains the tumour output only.
    "tumor_unknown": "tumor_unknown",
}

SPLIT_ALIASES = {
    "training": "train",
    "train": "train",
    "validation": "val",
    "val": "val",
    "testing": "test",
    "test": "test",
}

#: Two images whose 64-bit perceptual hashes differ in at most this many bits are one cluster.
#: Pairs up to 4 bits were inspected and are the same slice (re-encoded, resized, re-cropped);
#: at 6 bits neighbouring slices of one scan join too and single-linkage chaining then merges
#: unrelated images of different classes into one cluster of 100+ (see the EDA).
NEAR_DUPLICATE_BITS = 4

_SCAN_VERSION = 1
#: Label id of a "tumour, type unknown" row (see ``Table.label_ids``).
TUMOR_UNKNOWN_ID = len(CLASS_NAMES)


@dataclass
class Table:
    """One row per file; numpy columns so selections stay cheap."""

    root: str
    paths: list[str]  # relative to root
    source_split: np.ndarray  # "train" / "val" / "test" as found on disk
    labels: np.ndarray  # class name per row
    errors: list[str]  # "" when the file decoded
    sha256: list[str]
    phash: np.ndarray  # uint64
    width: np.ndarray
    height: np.ndarray
    mean: np.ndarray  # raw grey mean intensity
    std: np.ndarray  # raw grey standard deviation ("contrast")
    pixels: np.ndarray  # (N, S, S) uint8, preprocessed; zeros where decoding failed
    config: PreprocessConfig = field(default_factory=PreprocessConfig)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def ok(self) -> np.ndarray:
        return np.array([not e for e in self.errors], dtype=bool)

    def label_ids(self) -> np.ndarray:
        """Class index per row; ``TUMOR_UNKNOWN_ID`` (one past the classes) for type unknown."""
        return np.array(
            [
                TUMOR_UNKNOWN_ID if lbl == TUMOR_UNKNOWN else CLASS_NAMES.index(lbl)
                for lbl in self.labels
            ],
            dtype=np.int64,
        )

    def subset(self, mask: np.ndarray) -> Table:
        idx = np.flatnonzero(mask)
        return Table(
            root=self.root,
            paths=[self.paths[i] for i in idx],
            source_split=self.source_split[idx],
            labels=self.labels[idx],
            errors=[self.errors[i] for i in idx],
            sha256=[self.sha256[i] for i in idx],
            phash=self.phash[idx],
            width=self.width[idx],
            height=self.height[idx],
            mean=self.mean[idx],
            std=self.std[idx],
            pixels=self.pixels[idx],
            config=self.config,
        )

    @staticmethod
    def concat(tables: list[Table]) -> Table:
        first = tables[0]
        return Table(
            root=";".join(t.root for t in tables),
            paths=[
                str(Path(t.root) / p) if len(tables) > 1 else p for t in tables for p in t.paths
            ],
            source_split=np.concatenate([t.source_split for t in tables]),
            labels=np.concatenate([t.labels for t in tables]),
            errors=[e for t in tables for e in t.errors],
            sha256=[h for t in tables for h in t.sha256],
            phash=np.concatenate([t.phash for t in tables]),
            width=np.concatenate([t.width for t in tables]),
            height=np.concatenate([t.height for t in tables]),
            mean=np.concatenate([t.mean for t in tables]),
            std=np.concatenate([t.std for t in tables]),
            pixels=np.concatenate([t.pixels for t in tables]),
            config=first.config,
        )


def list_files(root: Path) -> list[tuple[str, str, str]]:
    """(relative path, split, label) for every image file under ``root/<split>/<label>/``.

    A folder whose sub-folders are class names with no split level (``root/<label>/``, as
    the LGG FLAIR set) is read as one "train" split: the caller splits it by group.
    """
    rows = []
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    flat = bool(subdirs) and all(p.name.lower() in LABEL_ALIASES for p in subdirs)
    for split_dir in [root] if flat else subdirs:
        split = "train" if flat else SPLIT_ALIASES.get(split_dir.name.lower())
        if split is None:
            continue
        for label_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            label = LABEL_ALIASES.get(label_dir.name.lower())
            if label is None:
                raise ValueError(
                    f"unknown class folder {label_dir} (expected one of {sorted(LABEL_ALIASES)})"
                )
            for f in sorted(label_dir.iterdir()):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                    rows.append((str(f.relative_to(root)), split, label))
    return rows


def _scan_one(args: tuple[str, PreprocessConfig]) -> dict:
    import imagehash
    from PIL import Image

    path, config = args
    data = Path(path).read_bytes()
    row = {"sha256": hashlib.sha256(data).hexdigest(), "error": ""}
    try:
        image = load_image(data)
    except ImageDecodeError as exc:
        row["error"] = str(exc)
        return row
    grey = to_grey(image)
    grey8 = (
        np.clip(grey, 0, 255).astype(np.uint8)
        if grey.max() <= 255
        else (grey / grey.max() * 255).astype(np.uint8)
    )
    row.update(
        phash=int(str(imagehash.phash(Image.fromarray(grey8))), 16),
        width=grey.shape[1],
        height=grey.shape[0],
        mean=float(grey.mean()),
        std=float(grey.std()),
        pixels=preprocess(image, config),
    )
    return row


def _cache_key(root: Path, files: list[tuple[str, str, str]], config: PreprocessConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([_SCAN_VERSION, PREPROCESS_VERSION, str(root), config.to_dict()]).encode())
    for rel, split, label in files:
        st = (root / rel).stat()
        h.update(f"{rel}|{split}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def scan(
    root: Path, config: PreprocessConfig, *, workers: int = 2, use_cache: bool = True
) -> Table:
    """Decode and describe every image under ``root``; cached by file list and config."""
    root = Path(root).resolve()
    files = list_files(root)
    if not files:
        raise FileNotFoundError(f"no images found under {root}/<split>/<label>/")
    cache = CACHE_DIR / f"scan-{_cache_key(root, files, config)}.npz"
    if use_cache and cache.exists():
        return _load_table(cache, config)
    jobs = [(str(root / rel), config) for rel, _, _ in files]
    if workers > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_scan_one, jobs, chunksize=32))
    else:
        rows = [_scan_one(j) for j in jobs]
    s = config.size
    table = Table(
        root=str(root),
        paths=[f[0] for f in files],
        source_split=np.array([f[1] for f in files]),
        labels=np.array([f[2] for f in files]),
        errors=[r["error"] for r in rows],
        sha256=[r["sha256"] for r in rows],
        phash=np.array([r.get("phash", 0) for r in rows], dtype=np.uint64),
        width=np.array([r.get("width", 0) for r in rows], dtype=np.int32),
        height=np.array([r.get("height", 0) for r in rows], dtype=np.int32),
        mean=np.array([r.get("mean", np.nan) for r in rows], dtype=np.float32),
        std=np.array([r.get("std", np.nan) for r in rows], dtype=np.float32),
        pixels=np.stack([r.get("pixels", np.zeros((s, s), np.uint8)) for r in rows]),
        config=config,
    )
    if use_cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            meta=json.dumps(
                {
                    "root": table.root,
                    "paths": table.paths,
                    "errors": table.errors,
                    "sha256": table.sha256,
                }
            ),
            source_split=table.source_split,
            labels=table.labels,
            phash=table.phash,
            width=table.width,
            height=table.height,
            mean=table.mean,
            std=table.std,
            pixels=table.pixels,
        )
        os.replace(tmp, cache)
    return table


def _load_table(path: Path, config: PreprocessConfig) -> Table:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        return Table(
            root=meta["root"],
            paths=meta["paths"],
            errors=meta["errors"],
            sha256=meta["sha256"],
            source_split=z["source_split"],
            labels=z["labels"],
            phash=z["phash"],
            width=z["width"],
            height=z["height"],
            mean=z["mean"],
            std=z["std"],
            pixels=z["pixels"],
            config=config,
        )


def hamming_pairs(phash: np.ndarray, max_bits: int) -> list[tuple[int, int, int]]:
    """All (i, j, distance) with i < j and Hamming distance <= max_bits."""
    pairs = []
    for i in range(len(phash) - 1):
        d = np.bitwise_count(phash[i] ^ phash[i + 1 :])
        for k in np.flatnonzero(d <= max_bits):
            pairs.append((i, i + 1 + int(k), int(d[k])))
    return pairs


def duplicate_clusters(table: Table, max_bits: int = NEAR_DUPLICATE_BITS) -> np.ndarray:
    """Cluster id per row: rows joined by equal bytes or near-equal perceptual hash.

    Union-find over both relations; undecodable rows only join by exact bytes.
    """
    parent = list(range(len(table)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first_with_hash: dict[str, int] = {}
    for i, h in enumerate(table.sha256):
        if h in first_with_hash:
            union(first_with_hash[h], i)
        else:
            first_with_hash[h] = i
    ok = np.flatnonzero(table.ok)
    for a, b, _ in hamming_pairs(table.phash[ok], max_bits):
        union(int(ok[a]), int(ok[b]))
    return np.array([find(i) for i in range(len(table))], dtype=np.int64)


@dataclass
class Split:
    """Where each row goes: "train", "val", "test" or "excluded" (with a reason)."""

    assignment: np.ndarray
    reasons: list[str]
    clusters: np.ndarray
    test_duplicates_training: (
        np.ndarray
    )  # bool: test rows whose cluster holds a training-folder row
    #: bool: train/val rows from a minority source of their class (see ``off_source_rows``)
    off_source: np.ndarray | None = None

    def counts(self, labels: np.ndarray) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for part in ("train", "val", "test", "excluded"):
            sel = self.assignment == part
            out[part] = {c: int(np.sum(sel & (labels == c))) for c in (*CLASS_NAMES, TUMOR_UNKNOWN)}
        return out

    def exclusion_summary(self) -> dict[str, int]:
        return dict(Counter(r for r in self.reasons if r))


def off_source_rows(table: Table, dominant_share: float = 0.5) -> np.ndarray:
    """Rows of a tumour class whose resolution differs from that class's dominant one.

    Resolution stands in for "source" (no other provenance exists): in the Sartaj Training
    folder 83-100 % of each tumour class is 512x512 from one collection, while the Testing
    folder's tumours mostly come from elsewhere. A class counts as having a dominant source
    when its most common size covers at least ``dominant_share`` of its training-folder rows;
    no_tumor has none (it is a mixture), so it yields no rows here.
    """
    out = np.zeros(len(table), dtype=bool)
    pool = table.ok & (table.source_split != "test")
    for label in CLASS_NAMES:
        if label == "no_tumor":
            continue
        sel = pool & (table.labels == label)
        if not sel.any():
            continue
        sizes = Counter(zip(table.width[sel].tolist(), table.height[sel].tolist(), strict=True))
        (w, h), n = sizes.most_common(1)[0]
        if n >= dominant_share * sel.sum():
            out |= sel & ~((table.width == w) & (table.height == h))
    return out


def split_table(
    table: Table,
    *,
    val_fraction: float = 0.15,
    seed: int = 0,
    clusters: np.ndarray | None = None,
    off_source_val: float = 0.0,
) -> Split:
    """Assign rows to train/val/test so that no duplicate cluster straddles two parts.

    1. Undecodable rows are excluded (with their error as reason).
    2. The on-disk test split stays the test set, whole. Training-folder members of a cluster
       that reaches into the test split are excluded from train/val: the test image is kept.
    3. Clusters whose training rows disagree on the label are excluded (label noise).
    4. Exact byte copies inside train/val keep one representative.
    5. The remaining clusters go whole to train or val, stratified by label, seeded.
    6. With ``off_source_val`` > 0, that share of the training clusters made of off-source
       rows (``off_source_rows``: tumours from a minority source of their class) moves to val
       too, drawn with its own generator so step 5's assignment is the same as without it.
       Validation then holds tumours from other sources than the dominant one, a small
       stand-in for other hospitals' scanners ("leave-source-out" validation).
    """
    n = len(table)
    clusters = duplicate_clusters(table) if clusters is None else clusters
    assignment = np.full(n, "", dtype=object)
    reasons = [""] * n
    ok = table.ok
    is_test = table.source_split == "test"
    for i in np.flatnonzero(~ok):
        assignment[i], reasons[i] = "excluded", f"decode failed: {table.errors[i]}"

    members: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(ok):
        members[int(clusters[i])].append(int(i))

    test_dup = np.zeros(n, dtype=bool)
    pool_clusters: dict[str, list[int]] = defaultdict(list)
    for cid, rows in members.items():
        test_rows = [i for i in rows if is_test[i]]
        other = [i for i in rows if not is_test[i]]
        for i in test_rows:
            assignment[i] = "test"
            test_dup[i] = any(table.source_split[j] == "train" for j in other)
        if test_rows:
            for i in other:
                assignment[i], reasons[i] = "excluded", "duplicate of a test image"
            continue
        labels = {table.labels[i] for i in other}
        if len(labels) > 1:
            for i in other:
                assignment[i], reasons[i] = "excluded", "duplicates with conflicting labels"
            continue
        seen: set[str] = set()
        for i in other:
            if table.sha256[i] in seen:
                assignment[i], reasons[i] = "excluded", "exact duplicate within training"
            seen.add(table.sha256[i])
        forced_val = [i for i in other if table.source_split[i] == "val"]
        if forced_val:  # an export's own validation split is honoured, with its whole cluster
            for i in other:
                if not reasons[i]:
                    assignment[i] = "val"
            continue
        pool_clusters[labels.pop()].append(cid)

    rng = np.random.default_rng(seed)
    for label in sorted(pool_clusters):
        cids = sorted(pool_clusters[label])
        rng.shuffle(cids)
        sizes = {c: sum(1 for i in members[c] if not reasons[i]) for c in cids}
        target = val_fraction * sum(sizes.values())
        taken = 0
        for c in cids:
            part = "val" if taken < target else "train"
            if part == "val":
                taken += sizes[c]
            for i in members[c]:
                if not reasons[i]:
                    assignment[i] = part
    off = off_source_rows(table) & np.isin(assignment, ["train", "val"])
    if off_source_val > 0:
        moved = np.random.default_rng([seed, 1]).permutation(
            sorted({int(clusters[i]) for i in np.flatnonzero(off & (assignment == "train"))})
        )
        for c in moved[: int(round(off_source_val * len(moved)))]:
            for i in members[int(c)]:
                if assignment[i] == "train":
                    assignment[i] = "val"
    return Split(np.array(assignment, dtype=str), reasons, clusters, test_dup, off)
