"""The master shipped with the project: a hand-written sample and the public code tables.

The sample (a few dozen companies in J-Quants' listed/info layout) lets the dev stack and the
tests run without an API account; it is illustrative, not vendor data. The code tables
(market segments, 17 and 33 sectors, Japanese and English names) are public TSE
classifications that J-Quants uses but does not serve as an endpoint, so every source kind
reads them from here.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from resources.masters.jquants_master import normalise_record

CODE_TABLES = ("markets", "sector17", "sector33")


class MasterFileError(ValueError):
    """A master file is missing or not in the expected layout."""


def _data_file(name: str) -> Path:
    return Path(str(resources.files("market_assets.masters") / "data" / name))


SAMPLE_PATH = _data_file("listed_info_sample.json")
CODE_TABLES_PATH = _data_file("code_tables.json")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MasterFileError(f"cannot read master file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise MasterFileError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def read_listed_info(path: str | Path | None = None) -> list[Any]:
    """Records of a listed/info file: `{"info": [...]}` (v1), `{"data": [...]}` (v2) or a list.

    Records come back in the v1 field spelling and are not judged here (the sync quarantines
    what it cannot use), so a test can feed deliberately bad files through the same path.
    """
    p = Path(path) if path is not None else SAMPLE_PATH
    doc = _load(p)
    if isinstance(doc, dict):
        doc = doc.get("info", doc.get("data"))
    if not isinstance(doc, list):
        raise MasterFileError(f"{p}: expected a list of records under 'info' or 'data'")
    return [normalise_record(r) for r in doc]


def read_code_tables(path: str | Path | None = None) -> dict[str, list[dict[str, str]]]:
    """{"markets" | "sector17" | "sector33": [{"code", "name_ja", "name_en"}, ...]}."""
    p = Path(path) if path is not None else CODE_TABLES_PATH
    doc = _load(p)
    if not isinstance(doc, dict):
        raise MasterFileError(f"{p}: expected an object with {list(CODE_TABLES)}")
    tables: dict[str, list[dict[str, str]]] = {}
    for table in CODE_TABLES:
        rows = doc.get(table)
        if not isinstance(rows, list) or not rows:
            raise MasterFileError(f"{p}: {table!r} must be a non-empty list")
        tables[table] = rows
    return tables
