"""Brain-MRI classification: data, preprocessing, training, evaluation, explanation, prediction.

Plain Python, no Django. Importing this package (or ``ml.images`` / ``ml.preprocess``) never
imports TensorFlow; only the modules that train, evaluate or predict load it, and lazily.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Output classes, in the order of the model's logits.
CLASS_NAMES: tuple[str, ...] = ("glioma", "meningioma", "pituitary", "no_tumor")
NO_TUMOR = "no_tumor"

#: The model folder shipped with the repository; ``Predictor()`` loads it when no path is given.
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "brain-mri-cnn-v3"

#: The public data set, checked out next to the repository (read-only).
DEFAULT_DATA_DIR = (REPO_ROOT / ".." / "shared" / "data" / "sartaj-brain-mri").resolve()

#: Scratch space for caches (git-ignored).
CACHE_DIR = REPO_ROOT / "var" / "ml"
