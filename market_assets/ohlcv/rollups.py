"""Refreshing M5..D1 after bars changed: continuous aggregates or rollup tables.

Both dialects recompute whole weeks aligned on the shared bucket origin (Saturday 00:00 UTC),
the coarsest bucket of the hierarchy (D1 rides on 7-day buckets), so every level is refreshed
over complete buckets and the two dialects give identical values.
"""

from __future__ import annotations

import datetime as dt

from psycopg import sql

from market_assets.core.calendars import session_bounds
from market_assets.core.partition_keys import BarPartition
from market_assets.core.universe import default_universe
from resources.postgres import PostgresResource
from resources.queries import query

CAGG_LEVELS = ("ohlcv_m5", "ohlcv_m15", "ohlcv_m30", "ohlcv_h1", "ohlcv_h4", "ohlcv_d1")
ORIGIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)


def week_floor(ts: dt.datetime) -> dt.datetime:
    return ORIGIN + WEEK * ((ts - ORIGIN) // WEEK)


def affected_window(parts: list[BarPartition]) -> tuple[list[str], dt.datetime, dt.datetime] | None:
    """Symbols and the origin-aligned week range covering the partitions' sessions."""
    universe = default_universe()
    symbols: set[str] = set()
    lo: dt.datetime | None = None
    hi: dt.datetime | None = None
    instruments = universe.known(p.symbol for p in parts)
    for part in parts:
        inst = instruments.get(part.symbol)
        if inst is None:
            continue
        bounds = session_bounds(inst.calendar, part.session_date)
        if bounds is None:
            continue
        start, end = (b.to_pydatetime() for b in bounds)
        symbols.add(part.symbol)
        lo = start if lo is None else min(lo, start)
        hi = end if hi is None else max(hi, end)
    if lo is None or hi is None:
        return None
    # Two buckets past the last week: TimescaleDB refuses a window that it cannot align to
    # whole buckets of the coarsest (7-day) level, and a spare week costs little.
    return sorted(symbols), week_floor(lo), week_floor(hi) + 2 * WEEK


def refresh_rollups(postgres: PostgresResource, parts: list[BarPartition]) -> dict[str, object]:
    window = affected_window(parts)
    if window is None:
        return {"refreshed": False}
    symbols, lo, hi = window
    dialect = postgres.capabilities().dialect
    if dialect == "timescale":
        with postgres.connection() as conn:
            conn.commit()
            conn.autocommit = True  # refresh_continuous_aggregate refuses transaction blocks
            try:
                for view in CAGG_LEVELS:
                    conn.execute(
                        sql.SQL("CALL refresh_continuous_aggregate({}, %s, %s)").format(
                            sql.Literal(view)
                        ),
                        (lo, hi),
                    )
            finally:
                conn.autocommit = False
    else:
        with postgres.transaction() as conn:
            conn.execute(query("rollups/lock_symbols"), {"symbols": list(symbols)})
            conn.execute("SELECT refresh_rollups(%s, %s, %s)", (symbols, lo, hi))
    return {"refreshed": True, "dialect": dialect, "symbols": len(symbols), "from": lo, "to": hi}
