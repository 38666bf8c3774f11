"""A simulated new site: the LGG FLAIR slices as a low-field scanner would give them.

Why: the shipped model already trained on every public image we hold that is not a Testing
image (the Sartaj collections and both LGG sites), and Sartaj Testing must stay the base
Testing split (a site export near-duplicating it is excluded from training). To measure a
site the model has *not* adapted to, without leaking the base Testing split, we take the
parent's LGG slices and change the scanner's look, the one thing a new site brings:
``low_field`` down-samples each slice to 80x80 and back (the resolution of a low-field or
fast protocol) and adds Rician noise (sigma 6 % of full scale, the noise of a magnitude
image at low signal), seeded by the file name so the same file always gives the same
pixels. The shipped v5 measures ROC AUC 0.999 on these slices as they are and 0.88
after the shift (232 slices; 31 % flagged as unusual images), so there is room for a site's
corrections to help.

Which patients (``site_patients``, from the parent's split.csv; an LGG patient is never in
two parts of it):

- ``upload``: the patients of the parent's *validation* split. The parent never trained on
  them, so the child's validation and test may hold their slices (a child keeps every image
  within 4 pHash bits of a parent's training image out of both, and the shift keeps the
  pHash close to the original's).
- ``held_out``: the patients of the parent's *training* split, never uploaded, scored before
  and after. Both models have seen their untransformed slices (the parent trained on them,
  the child replays them with the base data), so what a held-out patient measures is the
  scanner's look learnt from the site's reads, not the patient.

What it is not: a real second scanner. Pure numpy + Pillow, no TensorFlow.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LOW_FIELD_SIDE = 80
RICIAN_SIGMA = 0.06
_PATIENT = re.compile(r"(TCGA_[A-Z0-9]{2}_[A-Z0-9]{4})")


@dataclass(frozen=True)
class SiteSlice:
    path: Path  # the original PNG
    label: str  # glioma or no_tumor
    patient: str

    @property
    def name(self) -> str:
        """The name the site's file carries (the original's, as a PNG)."""
        return Path(self.path).stem + ".png"


def low_field(pixels: np.ndarray, name: str) -> np.ndarray:
    """``pixels`` (2-D uint8) as a low-field scanner would give them (see the module doc)."""
    seed = int(hashlib.sha256(f"low-field:{name}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    h, w = pixels.shape
    small = Image.fromarray(pixels).resize((LOW_FIELD_SIDE, LOW_FIELD_SIDE), Image.BILINEAR)
    x = np.asarray(small.resize((w, h), Image.BILINEAR), dtype=np.float64) / 255.0
    x = np.sqrt(
        (x + rng.normal(0, RICIAN_SIGMA, x.shape)) ** 2 + rng.normal(0, RICIAN_SIGMA, x.shape) ** 2
    )
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def low_field_png(slice_: SiteSlice) -> bytes:
    import io

    with Image.open(slice_.path) as im:
        pixels = np.asarray(im.convert("L"))
    out = io.BytesIO()
    Image.fromarray(low_field(pixels, slice_.name)).save(out, format="PNG")
    return out.getvalue()


def site_patients(model_dir: Path, data_root: Path) -> dict[str, list[SiteSlice]]:
    """The LGG slices of the model at ``model_dir`` (its split.csv), by part: ``upload``
    (its validation patients) and ``held_out`` (its training patients)."""
    parts: dict[str, list[SiteSlice]] = {"upload": [], "held_out": []}
    which = {"val": "upload", "train": "held_out"}
    with open(Path(model_dir) / "split.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            match = _PATIENT.search(row["path"])
            if row["split"] not in which or not row["source"].startswith("lgg-") or not match:
                continue
            parts[which[row["split"]]].append(
                SiteSlice(Path(data_root) / row["path"], row["label"], match.group(1))
            )
    return parts
