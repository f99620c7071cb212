"""Replacing partitions of bars in PostgreSQL/TimescaleDB, one transaction per batch.

A batch's rows are staged (COPY, or unnest where COPY is unavailable), then in the same
transaction the rows the source no longer has are deleted and the rest upserted. Readers see
either the old rows of a partition or the new ones, never a mix, and a failure half way
changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from market_assets.bars import BAR_COLUMNS
from resources.postgres import PostgresResource
from resources.queries import query

STAGE_TYPES: dict[str, str] = {
    "symbol": "text",
    "timeframe": "text",
    "ts": "timestamptz",
    "session_date": "date",
    "open": "float8",
    "high": "float8",
    "low": "float8",
    "close": "float8",
    "volume": "float8",
    "adj_factor": "float8",
    "source": "text",
}
assert tuple(STAGE_TYPES) == BAR_COLUMNS


@dataclass
class ReplaceStats:
    rows: int = 0
    inserted: Counter[tuple[str, dt.date]] = field(default_factory=Counter)
    revised: Counter[tuple[str, dt.date]] = field(default_factory=Counter)
    deleted: Counter[tuple[str, dt.date]] = field(default_factory=Counter)


def replace_partitions(
    postgres: PostgresResource,
    bars: pd.DataFrame,
    partitions: list[tuple[str, str, dt.date]],
) -> ReplaceStats:
    """Make the database hold exactly `bars` for each (symbol, timeframe, session_date)."""
    stats = ReplaceStats(rows=len(bars))
    if not partitions:
        return stats
    with postgres.transaction() as conn:
        if not bars.empty:
            lo, hi = bars["ts"].min(), bars["ts"].max()
            conn.execute(
                "SELECT ensure_bar_partitions(%s, %s)",
                (lo.to_pydatetime(), (hi + pd.Timedelta(minutes=1)).to_pydatetime()),
            )
        postgres.load_staging(conn, "stage_bars", bars, STAGE_TYPES)
        params = {
            "symbols": [p[0] for p in partitions],
            "timeframes": [p[1] for p in partitions],
            "dates": [p[2] for p in partitions],
        }
        for symbol, day, n in conn.execute(query("bars/delete_missing"), params).fetchall():
            stats.deleted[(symbol, day)] += n
        for symbol, day, ins, rev in conn.execute(query("bars/upsert_from_stage")).fetchall():
            stats.inserted[(symbol, day)] += ins
            stats.revised[(symbol, day)] += rev
    return stats
