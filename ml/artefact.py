"""Layout of a model folder (no TensorFlow: the web process may read manifests).

<model dir>/
  manifest.json     version, class names, preprocessing, threshold, temperature, metrics
  model.keras       the Keras 3 network (logits)
  ood.npz           OOD guard parameters (see ml.ood)
  fingerprint.json  training-data fingerprint for drift monitoring (see ml.fingerprint)
  split.csv         every input file with its split (train/val/test/excluded) and reason
"""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"
MODEL_FILE = "model.keras"
OOD_FILE = "ood.npz"
FINGERPRINT_FILE = "fingerprint.json"
SPLIT_FILE = "split.csv"
FORMAT_VERSION = 1
#: ``manifest["arch"]`` of the pretrained tumour network (ml.transfer); absent for the CNN.
TRANSFER_ARCH = "efficientnet-lite0-factorised"


def read_manifest(model_dir: Path | str) -> dict:
    """Parsed manifest of a model folder; raises FileNotFoundError when it is not one."""
    path = Path(model_dir) / MANIFEST
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {manifest.get('format_version')!r}")
    return manifest


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def split_path(path: str, data_dir: Path | str) -> Path:
    """A ``split.csv`` path on this machine: relative to the data folder (single-source
    models) or to the folder that holds the data folders (several sources)."""
    data_dir = Path(data_dir)
    direct = data_dir / path
    return direct if direct.exists() else data_dir.parent / path
