import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_web_facing_modules_do_not_import_tensorflow():
    code = (
        "import sys, ml, ml.images, ml.preprocess, ml.artefact, ml.fingerprint, ml.ood, "
        "ml.calibration, ml.gradcam, ml.predict\n"
        "from ml.predict import Prediction\n"
        "from ml.images import decode_image_bytes\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(bad[:5])\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (
        f"TensorFlow/Keras imported: {result.stdout} {result.stderr[-500:]}"
    )
