"""Exploratory data analysis report: one self-contained HTML file with embedded PNGs.

python -m ml.eda [--data DIR] [--out docs/eda.html]
"""

from __future__ import annotations

import argparse
import base64
import html
import io
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from ml import CLASS_NAMES, DEFAULT_DATA_DIR, REPO_ROOT
from ml.dataset import (
    NEAR_DUPLICATE_BITS,
    Table,
    duplicate_clusters,
    hamming_pairs,
    scan,
    split_table,
)
from ml.preprocess import PreprocessConfig

SPLITS = ("train", "test")
SPLIT_NAMES = {"train": "Training", "test": "Testing", "val": "Validation"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=70, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _thumb(pixels: np.ndarray, size: int = 64) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR).save(
        buf, format="PNG", optimize=True
    )
    return (
        f'<img class="t" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
    )


def resolution_group(w: int, h: int) -> str:
    if w == h == 512:
        return "512x512"
    if w != h:
        return "non-square"
    return "square <512" if w < 512 else "square >512"


def class_balance(t: Table) -> str:
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(len(CLASS_NAMES))
    for k, split in enumerate(SPLITS):
        counts = [int(np.sum((t.source_split == split) & (t.labels == c))) for c in CLASS_NAMES]
        bars = ax.bar(x + (k - 0.5) * 0.4, counts, 0.4, label=SPLIT_NAMES[split])
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(x, CLASS_NAMES)
    ax.set_ylabel("images")
    ax.legend()
    ax.set_title("Class balance per split (author's folders)")
    return _png(fig)


def resolutions(t: Table) -> str:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for split in SPLITS:
        sel = t.source_split == split
        a.scatter(t.width[sel], t.height[sel], s=6, alpha=0.4, label=SPLIT_NAMES[split])
    a.set_xlabel("width (px)")
    a.set_ylabel("height (px)")
    a.legend()
    distinct = len(set(zip(t.width.tolist(), t.height.tolist(), strict=True)))
    a.set_title(f"Resolution ({distinct} distinct)", fontsize=9)
    x = np.arange(len(CLASS_NAMES))
    is512 = (t.width == 512) & (t.height == 512)
    for k, split in enumerate(SPLITS):
        share = [
            float(is512[(t.source_split == split) & (t.labels == c)].mean()) for c in CLASS_NAMES
        ]
        bars = b.bar(x + (k - 0.5) * 0.4, share, 0.4, label=SPLIT_NAMES[split])
        b.bar_label(bars, fmt="%.2f", fontsize=7)
    b.set_xticks(x, CLASS_NAMES)
    b.set_ylabel("share of 512x512 images")
    b.legend(fontsize=8)
    b.set_title("Share of 512x512 images per class: a source shortcut", fontsize=9)
    return _png(fig)


def intensity(t: Table) -> str:
    groups = np.array([resolution_group(w, h) for w, h in zip(t.width, t.height, strict=True)])
    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    for row, (values, name) in enumerate(((t.mean, "mean intensity"), (t.std, "contrast (std)"))):
        axes[row, 0].boxplot([values[t.labels == c] for c in CLASS_NAMES], tick_labels=CLASS_NAMES)
        axes[row, 0].set_title(f"{name} per class")
        names = ["512x512", "square <512", "square >512", "non-square"]
        axes[row, 1].boxplot([values[groups == n] for n in names], tick_labels=names)
        axes[row, 1].set_title(f"{name} per resolution group")
    fig.tight_layout()
    return _png(fig)


def distance_histogram(t: Table) -> str:
    d = np.array([p[2] for p in hamming_pairs(t.phash[t.ok], 16)])
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(17), np.bincount(d, minlength=17)[:17])
    ax.set_yscale("log")
    ax.axvline(
        NEAR_DUPLICATE_BITS + 0.5,
        color="red",
        ls="--",
        label=f"cluster threshold ({NEAR_DUPLICATE_BITS} bits)",
    )
    ax.set_xlabel("pHash Hamming distance")
    ax.set_ylabel("image pairs")
    ax.legend()
    ax.set_title("Pairwise perceptual-hash distances (all images)")
    return _png(fig)


def duplicates_section(t: Table, clusters: np.ndarray, limit: int = 14) -> tuple[str, dict]:
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(clusters):
        members[int(c)].append(i)
    multi = [m for m in members.values() if len(m) > 1]
    sha_groups = [v for v in Counter(t.sha256).values() if v > 1]
    cross = [m for m in multi if len({t.source_split[i] for i in m}) > 1]
    conflict = [m for m in multi if len({t.labels[i] for i in m}) > 1]
    stats = {
        "exact duplicate groups": len(sha_groups),
        "redundant exact copies": sum(v - 1 for v in sha_groups),
        "near-duplicate clusters (size > 1)": len(multi),
        "images in such clusters": sum(len(m) for m in multi),
        "clusters spanning Training and Testing": len(cross),
        "clusters with conflicting labels": len(conflict),
        "largest cluster": max((len(m) for m in multi), default=1),
    }
    shown = (conflict[: limit // 2] + [m for m in cross if m not in conflict])[:limit]
    rows = []
    for m in shown:
        cells = "".join(
            f"<figure>{_thumb(t.pixels[i])}<figcaption>{SPLIT_NAMES[t.source_split[i]]}<br>{html.escape(t.labels[i])}<br>{html.escape(Path(t.paths[i]).name)}</figcaption></figure>"
            for i in m[:8]
        )
        more = f"<span>+{len(m) - 8} more</span>" if len(m) > 8 else ""
        rows.append(f'<div class="row">{cells}{more}</div>')
    return "\n".join(rows), stats


def sample_grid(t: Table, per_class: int = 10, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    out = []
    for c in CLASS_NAMES:
        for split in SPLITS:
            idx = np.flatnonzero((t.labels == c) & (t.source_split == split) & t.ok)
            pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
            cells = "".join(_thumb(t.pixels[i]) for i in pick)
            out.append(f'<div class="row"><b>{c}<br>{SPLIT_NAMES[split]}</b>{cells}</div>')
    return "\n".join(out)


def build_report(data_dir: Path) -> str:
    t = scan(data_dir, PreprocessConfig())
    clusters = duplicate_clusters(t)
    split = split_table(t, clusters=clusters)
    dup_html, dup_stats = duplicates_section(t, clusters)
    failures = [(p, e) for p, e in zip(t.paths, t.errors, strict=True) if e]
    fail_html = (
        "<ul>"
        + "".join(f"<li>{html.escape(p)}: {html.escape(e)}</li>" for p, e in failures)
        + "</ul>"
        if failures
        else "<p>Every file decoded.</p>"
    )
    test_dup = split.test_duplicates_training
    dedup_counts = {
        c: int(np.sum((split.assignment == "test") & ~test_dup & (t.labels == c)))
        for c in CLASS_NAMES
    }
    counts = split.counts(t.labels)
    dup_table = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in dup_stats.items()
    )
    n_test = int(np.sum(split.assignment == "test"))
    common = Counter(zip(t.width.tolist(), t.height.tolist(), strict=True)).most_common(5)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EDA: brain MRI data set</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
.row{{display:flex;gap:4px;align-items:flex-start;margin:4px 0;flex-wrap:wrap}}
.row b{{width:90px;font-size:12px}}figure{{margin:0;font-size:9px;width:70px;overflow:hidden}}
img.t{{width:64px;height:64px}}
</style></head><body>
<h1>Brain MRI data set: exploratory analysis</h1>
<p>Generated by <code>python -m ml.eda</code> from <code>{html.escape(str(data_dir))}</code>.
Thumbnails show the images after the shared preprocessing (greyscale, brain crop, square pad,
percentile normalisation).</p>

<h2>Integrity</h2>
<p>{len(t)} files scanned, {len(failures)} failed to decode.</p>{fail_html}

<h2>Class balance</h2>{class_balance(t)}
<p>no_tumor is under-represented in Training (class weights compensate during training).</p>

<h2>Resolution</h2>{resolutions(t)}
<p>Most common: {", ".join(f"{w}x{h} ({n})" for (w, h), n in common)}.</p>

<h2>Intensity and contrast</h2>{intensity(t)}
<p>Raw 8-bit grey values before normalisation. Differences between resolution groups are the
scanner / export variation the preprocessing (percentile normalisation) and augmentation target.</p>

<h2>Duplicates</h2>
<table>{dup_table}</table>
<p>Clusters join files with equal bytes (SHA-256) or 64-bit perceptual hashes at most
{NEAR_DUPLICATE_BITS} bits apart (single linkage). At 6 bits, neighbouring slices of one scan
join too and chaining builds a 100+ image cluster spanning classes, so 4 was kept.</p>
{distance_histogram(t)}
<p>Testing images that duplicate a Training image: {int(test_dup.sum())} of {n_test}.
Testing minus those: {dedup_counts}. Split used for training (no cluster straddles parts):
train {counts["train"]}, validation {counts["val"]}, excluded {split.exclusion_summary()}.</p>
<h3>Examples of duplicate clusters (conflicting labels first, then Training/Testing crossings)</h3>
{dup_html}

<h2>Samples per class</h2>
{sample_grid(t)}
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml.eda", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "eda.html")
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build_report(args.data))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
