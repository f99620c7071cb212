"""Market and sector code tables: validated, then upserted, never pruned.

A code that disappears from the file is kept: companies refer to it through foreign keys,
and their history must stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from resources.queries import query

CODE_TABLES = ("markets", "sector17", "sector33")
_CODE_RE = {
    "markets": re.compile(r"[0-9]{4}"),
    "sector17": re.compile(r"[0-9]{1,2}"),
    "sector33": re.compile(r"[0-9]{4}"),
}


class CodeTableError(ValueError):
    """A code table file is malformed (a bug in the shipped file, not bad source data)."""


@dataclass(frozen=True)
class CodeRow:
    code: str
    name_ja: str
    name_en: str


@dataclass
class CodeTableResult:
    table: str
    rows: int
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    not_in_source: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)


def validate_code_rows(table: str, rows: Sequence[Mapping[str, object]]) -> list[CodeRow]:
    if table not in CODE_TABLES:
        raise CodeTableError(f"unknown code table {table!r}; expected one of {CODE_TABLES}")
    out: list[CodeRow] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        code, ja, en = (
            row.get(k) if isinstance(row, Mapping) else None for k in ("code", "name_ja", "name_en")
        )
        if not (isinstance(code, str) and _CODE_RE[table].fullmatch(code)):
            raise CodeTableError(f"{table}[{i}]: bad code {code!r}")
        if not (isinstance(ja, str) and ja.strip() and isinstance(en, str) and en.strip()):
            raise CodeTableError(f"{table}[{i}] ({code}): name_ja and name_en are required")
        if code in seen:
            raise CodeTableError(f"{table}: code {code} appears twice")
        seen.add(code)
        out.append(CodeRow(code, ja.strip(), en.strip()))
    if not out:
        raise CodeTableError(f"{table}: no rows")
    return out


def upsert_code_table(
    conn: psycopg.Connection, table: str, rows: Sequence[Mapping[str, object]]
) -> CodeTableResult:
    """Insert new codes and rename changed ones; report what changed (for cache keys)."""
    valid = validate_code_rows(table, rows)
    params = {
        "code": [r.code for r in valid],
        "name_ja": [r.name_ja for r in valid],
        "name_en": [r.name_en for r in valid],
    }
    changed = conn.execute(query(f"masters/upsert_{table}"), params).fetchall()
    result = CodeTableResult(table=table, rows=len(valid))
    for code, inserted in changed:
        (result.inserted if inserted else result.updated).append(code)
    present = {r[0] for r in conn.execute(query(f"masters/select_{table}")).fetchall()}
    result.not_in_source = sorted(present - {r.code for r in valid})
    return result
