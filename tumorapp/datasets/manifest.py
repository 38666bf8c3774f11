"""What goes into an export besides the images: pseudonyms, split, manifest rows, the card.

Pure functions over the rows already read; nothing here writes to the database. Every id
that leaves the site is a keyed hash (settings.DEID_SECRET): stable across exports, so the
data team can join them, and leading back to no one without the key.
"""

from __future__ import annotations

import hashlib
import io
import json

import imagehash
import numpy as np
from django.conf import settings
from PIL import Image

from reviews.labels import MODEL_CLASSES, TUMOR_UNKNOWN, UNREADABLE
from tumorapp.scans.deid import keyed_hash

#: Share of split groups in each part; a group (patient or near-duplicate cluster) is whole.
SPLIT_SHARES = (("train", 0.70), ("val", 0.15), ("test", 0.15))
#: Perceptual hashes this close are the same slice re-encoded or resized (as in ml.dataset).
NEAR_DUPLICATE_BITS = 4

CSV_FIELDS = (
    "path",
    "split",
    "scan_id",
    "group",
    "image_sha256",
    "final_label",
    "resolution",
    "ai_label",
    *(f"p_{name}" for name in MODEL_CLASSES),
    "ai_p_tumor",
    "model_version",
    "corrected",
    "correction_reasons",
    "readers",
    "ai_shown_first",
    "poor_image_quality",
    "source_format",
    "uploaded_at",
    "predicted_at",
    "reviewed_at",
)


def _secret() -> bytes:
    return settings.DEID_SECRET.encode()


def pseudonym(purpose: str, value: str, length: int = 20) -> str:
    return keyed_hash(_secret(), purpose, value).hex()[:length]


def split_of(group_key: str) -> str:
    """A uniform draw from the keyed hash of the group: the same group, the same split."""
    u = int.from_bytes(keyed_hash(_secret(), "split", group_key)[:8], "big") / 2**64
    edge = 0.0
    for name, share in SPLIT_SHARES:
        edge += share
        if u < edge:
            return name
    return SPLIT_SHARES[-1][0]


def perceptual_hash(png: bytes) -> int:
    """64-bit DCT hash of the greyscale image, as a signed int (a BigIntegerField)."""
    with Image.open(io.BytesIO(png)) as im:
        value = int(str(imagehash.phash(im.convert("L"))), 16)
    return value - 2**64 if value >= 2**63 else value


class ClusterIndex:
    """Near-duplicate lookup over every scan already given a group (preallocated, so adding
    ten thousand scans does not copy the array ten thousand times)."""

    def __init__(self, known: list[tuple[int, str]], capacity: int) -> None:
        size = len(known) + capacity
        self._hashes = np.zeros(size, dtype=np.uint64)
        self._keys: list[str] = []
        for phash, key in known:
            self.add(phash, key)

    def add(self, phash: int, key: str) -> None:
        self._hashes[len(self._keys)] = np.uint64(phash % 2**64)
        self._keys.append(key)

    def find(self, phash: int) -> str | None:
        n = len(self._keys)
        if not n:
            return None
        distance = np.bitwise_count(self._hashes[:n] ^ np.uint64(phash % 2**64))
        near = np.flatnonzero(distance <= NEAR_DUPLICATE_BITS)
        return self._keys[int(near[0])] if len(near) else None


def version_id(pairs: list[tuple[str, str]]) -> str:
    """Hash of the sorted (image sha256, label) list: the dataset's identity."""
    h = hashlib.sha256()
    for sha, label in sorted(pairs):
        h.update(f"{sha}\t{label}\n".encode())
    return h.hexdigest()


def _iso(value) -> str:
    return value.isoformat() if value else ""


def manifest_row(*, case, scan, path: str, split: str, group: str, image_sha256: str) -> dict:
    """One image's row: labels, how they were reached, the AI's view, pseudonymous readers.

    Nothing here is a direct identifier: no filename, no user name, no DICOM attribute
    beyond the source format; the scan, reader and group ids are keyed hashes.
    """
    prediction = case.prediction
    reviews = list(case.reviews.all())
    first = next((r for r in reviews if r.kind == "first"), None)
    reasons = sorted({r.reason for r in reviews if r.reason})
    probabilities = {k: round(float(v), 6) for k, v in prediction.probabilities.items()}
    return {
        "path": path,
        "split": split,
        "scan_id": pseudonym("export-scan", str(scan.public_id)),
        "group": pseudonym("export-group", group, 16),
        "image_sha256": image_sha256,
        "final_label": case.final_label,
        "resolution": case.resolution,
        "ai_label": case.ai_label,
        "ai_probabilities": probabilities,
        "ai_p_tumor": round(float(prediction.p_tumor), 6),
        "model_version": prediction.model_version,
        "corrected": case.final_label != case.ai_label,
        "correction_reasons": reasons,
        "readers": [
            {"reader": pseudonym("export-reader", str(r.reader.public_id), 12), "role": r.kind}
            for r in reviews
        ],
        # A blind first read stores the answer given before the AI was revealed.
        "ai_shown_first": bool(first and not first.initial_label),
        "poor_image_quality": any(r.poor_image_quality for r in reviews),
        "source_format": scan.source_format,
        "uploaded_at": _iso(scan.uploaded_at),
        "predicted_at": _iso(prediction.created_at),
        "reviewed_at": _iso(case.decided_at),
    }


def csv_values(row: dict) -> list:
    flat = {
        **row,
        **{f"p_{k}": v for k, v in row["ai_probabilities"].items()},
        "correction_reasons": ";".join(row["correction_reasons"]),
        "readers": ";".join(f"{r['reader']}:{r['role']}" for r in row["readers"]),
    }
    return [flat.get(field, "") for field in CSV_FIELDS]


def jsonl_line(row: dict) -> str:
    return json.dumps(row, sort_keys=True) + "\n"


def dataset_card(*, export, rows_summary: dict) -> str:
    """The dataset card (Markdown): what is in it, how it was chosen, how it differs."""
    choice = [
        f"- reviewed from: {export.reviewed_from or 'the first case'}",
        f"- reviewed to: {export.reviewed_to or 'today'}",
        f"- label sources: {', '.join(export.resolutions) or 'all'}",
        f"- classes: {', '.join(export.labels) or 'all'}",
        f"- correction status: {export.get_correction_display().lower()}",
    ]
    hygiene = rows_summary.get("hygiene", {})
    left_out = [
        (
            "answered unreadable / not a brain MRI",
            hygiene.get("unreadable", 0),
            export.include_unreadable,
            f"filed under `excluded/{UNREADABLE}/`, outside every split: never a training label",
        ),
        (
            "marked poor image quality by a reader",
            hygiene.get("poor_quality", 0),
            export.include_poor_quality,
            "in their split and class, `poor_image_quality` true in the manifest",
        ),
    ]
    lines = [
        f"# Dataset {export.version_id[:12]}",
        "",
        f"Version id: `{export.version_id}` (SHA-256 of the sorted image sha256 and label list).",
        f"Exported: {_iso(export.finished_at)}. Images: {rows_summary['total']}.",
        "",
        "## Choice of cases",
        *choice,
        "",
        "## Contents",
        "| split | " + " | ".join(rows_summary["labels"]) + " | total |",
        "|---" * (len(rows_summary["labels"]) + 2) + "|",
    ]
    for split, by_label in rows_summary["counts"].items():
        cells = [str(by_label.get(label, 0)) for label in rows_summary["labels"]]
        lines.append(f"| {split} | " + " | ".join(cells) + f" | {sum(by_label.values())} |")
    lines += [
        "",
        f"`{TUMOR_UNKNOWN}`: a tumour whose type the readers could not name from the images "
        "(a tumour, no subtype); `ml` trains only its tumour output on these images.",
        "",
        "Label sources: "
        + ", ".join(f"{k} {v}" for k, v in sorted(rows_summary["resolutions"].items())),
        f"Corrections of the AI: {rows_summary['corrected']}.",
        "Model versions that predicted these cases: "
        + ", ".join(sorted(rows_summary["model_versions"])),
        "",
        "## Data hygiene",
        *[
            f"- {what}: {n} — "
            + (f"included ({where})" if included else "left out (not in this export)")
            for what, n, included, where in left_out
        ],
        "",
        "## Lineage",
    ]
    if export.parent_id:
        c = export.changes
        lines.append(
            f"Parent: `{export.parent.version_id}`. Added {c.get('added', 0)}, "
            f"removed {c.get('removed', 0)}, relabelled {c.get('relabelled', 0)}."
        )
    else:
        lines.append("No parent: the first export of this site.")
    lines += [
        "",
        "## Splits",
        "Each image's split comes from a keyed hash of its group: the patient key of a DICOM "
        "study, else its near-duplicate cluster (perceptual hash within "
        f"{NEAR_DUPLICATE_BITS} bits). A group never straddles splits, and an image keeps "
        "its split in every later export. The test split is held out: `python -m ml.train` "
        "never trains on it.",
        "",
        "## Privacy",
        "No direct identifiers: images are the site's re-encoded PNGs (no metadata), file "
        "names are pseudonymous scan ids, readers and groups are keyed hashes. Original "
        "file names and DICOM attributes are not exported.",
        "",
    ]
    return "\n".join(lines)
