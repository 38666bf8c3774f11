"""What the model looked like when it shipped: its training-data fingerprint and the model
card's tumour figures, read from the model folders (JSON only; no TensorFlow)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from ml import DEFAULT_MODEL_DIR, artefact


@dataclass(frozen=True)
class ModelReference:
    version: str
    fingerprint: dict | None
    card: dict | None


def model_reference(version: str) -> ModelReference:
    """The reference of a model version, or an empty one when no folder ships it."""
    if not version:
        return ModelReference(version, None, None)
    return _load(str(settings.QUALITY_MODELS_DIR), str(settings.QUALITY_CARD_METRICS), version)


def shipped_version() -> str:
    """The version of the model the worker loads by default ("" when none is shipped)."""
    try:
        return str(artefact.read_manifest(DEFAULT_MODEL_DIR)["version"])
    except (OSError, ValueError, KeyError):
        return ""


@lru_cache(maxsize=32)
def _load(models_dir: str, card_metrics: str, version: str) -> ModelReference:
    for manifest_path in sorted(Path(models_dir).glob(f"*/{artefact.MANIFEST}")):
        try:
            manifest = artefact.read_manifest(manifest_path.parent)
        except (OSError, ValueError):
            continue
        if str(manifest.get("version")) == version:
            folder = manifest_path.parent
            return ModelReference(
                version,
                _read_json(folder / artefact.FINGERPRINT_FILE),
                _card(folder, Path(card_metrics), manifest),
            )
    return ModelReference(version, None, None)


def _card(folder: Path, card_metrics: Path, manifest: dict) -> dict | None:
    """Tumour figures at the threshold: the test set's (as the model card prints them) when
    evaluated, else the validation set's from the manifest."""
    for path in (folder / "metrics.json", card_metrics):
        metrics = _read_json(path)
        if metrics and str(metrics.get("model_version", manifest["version"])) == str(
            manifest["version"]
        ):
            tumour = metrics.get("testing_full", {}).get("tumour_at_threshold")
            if tumour:
                return {**tumour, "source": f"model card (test set, {path.name})"}
    tumour = manifest.get("validation", {}).get("tumour")
    return {**tumour, "source": "manifest (validation set)"} if tumour else None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
