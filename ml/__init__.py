"""Brain-MRI classification: data, preprocessing, training, evaluation, explanation, prediction.

Plain Python, no Django. Importing this package (or ``ml.images`` / ``ml.preprocess``) never
imports TensorFlow; only the modules that train, evaluate or predict load it, and lazily.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Output classes, in the order of the model's logits.
CLASS_NAMES: tuple[str, ...] = ("glioma", "meningioma", "pituitary", "no_tumor")
NO_TUMOR = "no_tumor"
#: A reader's "tumour, type unknown": a tumour label with no subtype (trains P(tumour) only).
TUMOR_UNKNOWN = "tumor_unknown"

#: The model folder shipped with the repository; ``Predictor()`` loads it when no path is given.
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "brain-mri-effnet-v5"

#: The public data set, checked out next to the repository (read-only).
DEFAULT_DATA_DIR = (REPO_ROOT / ".." / "shared" / "data" / "sartaj-brain-mri").resolve()

#: Tumour-and-normal FLAIR slices of the same glioma patients (two sites), read-only.
DEFAULT_LGG_DIR = (REPO_ROOT / ".." / "shared" / "data" / "lgg-flair").resolve()

#: Scratch space for caches (git-ignored).
CACHE_DIR = REPO_ROOT / "var" / "ml"
