"""The import contracts cover the whole house.

`lint-imports` (in the README's test command) checks the contracts in pyproject.toml; this test
checks that the layers contract names every top-level package of `market_assets`, so a new
package cannot sit outside the rules, and that no contract carries `ignore_imports` (the list
of tolerated exceptions that the layout issue shrank to empty).
"""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import market_assets

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _contracts() -> list[dict]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def test_layers_name_every_top_level_package() -> None:
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    top_level = {f"market_assets.{m.name}" for m in pkgutil.iter_modules(market_assets.__path__)}
    assert top_level - named == set(), "packages outside the layers contract"
    assert "resources" in named
    assert named - top_level - {"resources"} == set(), "layers name packages that do not exist"


def test_no_contract_tolerates_exceptions() -> None:
    assert [c["name"] for c in _contracts() if c.get("ignore_imports")] == []
