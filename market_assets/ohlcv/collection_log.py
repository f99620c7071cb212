"""What each collection did, and which rows were held back: data_collection_log, quarantine.

Both tables are written in the same transaction as the data they describe, so the log never
claims a write that was rolled back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from resources.queries import query


@dataclass
class CollectionEntry:
    asset: str
    partition_key: str
    symbol: str
    session_date: dt.date
    source: str
    status: str = "success"  # success | partial | failed
    rows_in: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_revised: int = 0
    rows_deleted: int = 0
    error: str | None = None
    run_id: str | None = None
    object_checksum: str | None = None  # content of the object written (raw) or loaded (db)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def write_collection_log(conn: psycopg.Connection, entries: Sequence[CollectionEntry]) -> None:
    if entries:
        with conn.cursor() as cur:
            cur.executemany(query("logs/insert_collection"), [asdict(e) for e in entries])


def _json_row(row: pd.Series) -> Jsonb:
    # Values as text where JSON has no type for them (timestamps, NaN): quarantine keeps what
    # arrived, readable, not a repaired version.
    clean = {}
    for key, value in row.items():
        if key in ("rule", "reason"):
            continue
        if isinstance(value, float) and value != value:
            clean[str(key)] = "NaN"
        elif isinstance(value, (pd.Timestamp, dt.date, dt.datetime)):
            clean[str(key)] = value.isoformat()
        elif value is None or value is pd.NA or value is pd.NaT:
            clean[str(key)] = None
        else:
            try:
                json.dumps(value)
                clean[str(key)] = value
            except TypeError:
                clean[str(key)] = str(value)
    return Jsonb(clean)


def write_quarantine(
    conn: psycopg.Connection,
    rejected: pd.DataFrame,
    *,
    asset: str,
    partition_key: str | None,
    symbol: str | None,
    session_date: dt.date | None,
    source_ref: str,
    run_id: str | None,
) -> int:
    """Store rejected rows (with `rule` and `reason` columns) with where they came from."""
    if rejected.empty:
        return 0
    params = [
        {
            "run_id": run_id,
            "asset": asset,
            "partition_key": partition_key,
            "symbol": symbol,
            "session_date": session_date,
            "source_ref": source_ref,
            "rule": row["rule"],
            "reason": row["reason"],
            "row_data": _json_row(row),
        }
        for _, row in rejected.iterrows()
    ]
    with conn.cursor() as cur:
        cur.executemany(query("logs/insert_quarantine"), params)
    return len(params)
