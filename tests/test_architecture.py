"""docs/architecture.md draws the import layers; the "layers" contract in pyproject.toml is
what lint-imports enforces. The picture must say what the contract says, row for row."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _contract_layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c["layers"] for c in config["contracts"] if c["id"] == "layers"]
    return [
        {name.strip().removeprefix("tumorapp.") for name in re.split(r"[:|]", layer)}
        for layer in layers
    ]


def _drawn_layers() -> list[set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("<!-- layers:begin")[1].split("<!-- layers:end -->")[0]
    rows = [line for line in block.splitlines() if "│" in line]
    return [{name.strip() for name in row.split("│")[1].split("·")} for row in rows]


def test_the_picture_shows_the_layers_of_the_contract_in_order():
    assert _drawn_layers() == _contract_layers()


def test_every_app_is_in_a_layer():
    """A new app under tumorapp/ must be given its place (and so its allowed imports)."""
    placed = set().union(*_contract_layers())
    apps = {p.parent.name for p in (ROOT / "tumorapp").glob("*/apps.py")}
    assert apps - placed == set()
    assert "reviews" in placed
