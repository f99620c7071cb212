"""Replacing partitions of bars in PostgreSQL/TimescaleDB, one transaction per batch.

In one transaction: the partitions of the batch that hold no rows yet (a backfill, a new
session) get their rows appended straight to the table (binary COPY, or unnest where COPY is
unavailable) - nothing can conflict and nothing is left to delete, so every row counts as
inserted. The other partitions go the careful way: their rows are staged, rows the source no
longer has are deleted and the rest upserted (`INSERT ... ON CONFLICT DO UPDATE`), which tells
inserted from revised rows. Readers see either the old rows of a partition or the new ones,
never a mix, and a failure half way changes nothing.

Why the fast path matters: on the benchmark machine ON CONFLICT, the `before` join and the
RETURNING counts cost about as much again as the plain insert, and the staging table is one
more full write of the rows. Why it is safe: the probe and the append run in the same
transaction; if another transaction fills one of those partitions in between, the append
hits the primary key, and the batch is redone the careful way from a savepoint.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import psycopg

from market_assets.core.bars import BAR_COLUMNS
from market_assets.core.partition_window import window_arrays
from market_assets.ohlcv.adjustment_store import record_events
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

Partition = tuple[str, str, dt.date]


@dataclass
class ReplaceStats:
    rows: int = 0
    inserted: Counter[tuple[str, dt.date]] = field(default_factory=Counter)
    revised: Counter[tuple[str, dt.date]] = field(default_factory=Counter)
    deleted: Counter[tuple[str, dt.date]] = field(default_factory=Counter)
    # Partitions that took the append-only path (they held no rows before).
    appended_partitions: int = 0
    # Adjustment events written for the partitions (market_assets.core.adjustments).
    adjustment_events: int = 0


def _arrays(partitions: list[Partition]) -> dict[str, list[object]]:
    return {
        "symbols": [p[0] for p in partitions],
        "timeframes": [p[1] for p in partitions],
        "dates": [p[2] for p in partitions],
        **window_arrays((p[0], p[2]) for p in partitions),
    }


def _stored(conn: psycopg.Connection, partitions: list[Partition]) -> set[Partition]:
    rows = conn.execute(query("bars/stored_partitions"), _arrays(partitions)).fetchall()
    return {(str(s), str(t), d) for s, t, d in rows}


def _partition_mask(bars: pd.DataFrame, partitions: set[Partition]) -> pd.Series:
    """True for rows whose (symbol, timeframe, session_date) is one of `partitions`."""
    if not partitions:
        return pd.Series(False, index=bars.index)
    keys = pd.MultiIndex.from_arrays(
        [bars["symbol"].astype(str), bars["timeframe"].astype(str), bars["session_date"]]
    )
    return pd.Series(keys.isin(list(partitions)), index=bars.index)


def _append(
    postgres: PostgresResource, conn: psycopg.Connection, rows: pd.DataFrame, stats: ReplaceStats
) -> None:
    postgres.copy_frame(conn, "ohlcv_bars", rows, STAGE_TYPES)
    counts = rows.groupby(["symbol", "session_date"], sort=False, observed=True).size()
    for (symbol, day), n in counts.items():
        stats.inserted[(str(symbol), day)] += int(n)


def _upsert(
    postgres: PostgresResource,
    conn: psycopg.Connection,
    rows: pd.DataFrame,
    partitions: list[Partition],
    stats: ReplaceStats,
) -> None:
    postgres.load_staging(conn, "stage_bars", rows, STAGE_TYPES)
    deleted = conn.execute(query("bars/delete_missing"), _arrays(partitions)).fetchall()
    for symbol, day, n in deleted:
        stats.deleted[(symbol, day)] += n
    for symbol, day, ins, rev in conn.execute(query("bars/upsert_from_stage")).fetchall():
        stats.inserted[(symbol, day)] += ins
        stats.revised[(symbol, day)] += rev


def replace_partitions(
    postgres: PostgresResource,
    bars: pd.DataFrame | Callable[[], pd.DataFrame],
    partitions: list[Partition],
    before_commit: Callable[[psycopg.Connection, ReplaceStats], None] | None = None,
) -> ReplaceStats:
    """Make the database hold exactly `bars` for each (symbol, timeframe, session_date).

    `before_commit` runs last inside the transaction, under the partitions' locks: what it
    writes (the collection log of the load) commits with the rows or not at all.

    Rows outside `partitions` are upserted (never appended blindly), so a caller that passes
    too few partitions gets the careful path, not a duplicate-key error. The partitions are
    locked first (advisory, until commit); `bars` may be the function that reads them, called
    under those locks, so that a writer which read its rows (from S3) before another writer
    stored and loaded newer ones cannot overwrite them afterwards.
    """
    if not partitions:
        return ReplaceStats(rows=0 if callable(bars) else len(bars))
    with postgres.transaction() as conn:
        conn.execute(query("bars/lock_partitions"), _arrays(partitions))
        bars = bars() if callable(bars) else bars
        stats = ReplaceStats(rows=len(bars))
        if not bars.empty:
            lo, hi = bars["ts"].min(), bars["ts"].max()
            conn.execute(  # the partitions of the loaded timeframes only (0011)
                "SELECT ensure_bar_partitions(%s, %s, %s)",
                (
                    lo.to_pydatetime(),
                    (hi + pd.Timedelta(minutes=1)).to_pydatetime(),
                    sorted(bars["timeframe"].astype(str).unique()),
                ),
            )
        stored = _stored(conn, partitions)
        empty = [p for p in partitions if p not in stored]
        fresh = _partition_mask(bars, set(empty)) if empty and not bars.empty else None
        if fresh is not None and fresh.any():
            try:
                with conn.transaction():  # a savepoint: a concurrent writer undoes only this
                    _append(postgres, conn, bars[fresh], stats)
            except psycopg.errors.UniqueViolation:
                stats.inserted.clear()
                fresh = None
        if fresh is None:
            _upsert(postgres, conn, bars, partitions, stats)
        else:
            stats.appended_partitions = len(empty)
            careful = [p for p in partitions if p in stored]
            rest = bars[~fresh]
            if careful or not rest.empty:
                _upsert(postgres, conn, rest, careful, stats)
        # The partitions' adjustment events are part of what is replaced: same transaction,
        # same locks, so a concurrent load can never leave its events beside another's bars.
        stats.adjustment_events = record_events(conn, bars, [(s, d) for s, _, d in partitions])
        if before_commit is not None:
            before_commit(conn, stats)
    return stats
