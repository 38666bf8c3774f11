"""Where browser tests save their screenshots.

A plain test run writes them under var/screenshots/ (ignored by git), so running the suite
leaves the working tree clean. `UPDATE_SCREENSHOTS=1 make test` (or pytest) writes them into
docs/screenshots/, the pictures the README and docs show; commit them from such a run.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else REPO / "var" / "screenshots"
)
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
