from pathlib import Path

import numpy as np
import pytest

from ml import CLASS_NAMES, DEFAULT_MODEL_DIR

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sartaj-brain-mri"
FOLDERS = {
    "glioma": "glioma_tumor",
    "meningioma": "meningioma_tumor",
    "pituitary": "pituitary_tumor",
    "no_tumor": "no_tumor",
}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "Testing").is_dir():
        pytest.skip(f"the shared data set is not checked out at {DATA_DIR.resolve()}")
    return DATA_DIR


@pytest.fixture(scope="session")
def testing_images(data_dir) -> list[tuple[Path, str]]:
    """Three real Testing images per class: (path, label)."""
    out = []
    for label in CLASS_NAMES:
        files = sorted((data_dir / "Testing" / FOLDERS[label]).iterdir())
        out += [(f, label) for f in files[:3]]
    return out


@pytest.fixture(scope="session")
def predictor():
    from ml.predict import Predictor

    return Predictor(DEFAULT_MODEL_DIR)


@pytest.fixture
def brain_like() -> np.ndarray:
    """A synthetic grey 'slice': a bright textured ellipse on a black background, 300x240."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:240]
    inside = ((yy - 150) / 120) ** 2 + ((xx - 120) / 90) ** 2 < 1
    img = np.where(inside, 120 + 40 * np.sin(xx / 7) + rng.normal(0, 5, (300, 240)), 0)
    return np.clip(img, 0, 255).astype(np.uint8)
