"""Adjustment events in the database: written beside the bars, read by adjusted reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import psycopg

from market_assets.core.adjustments import EVENT_COLUMNS, session_events
from resources.queries import query


def record_events(
    conn: psycopg.Connection, bars: pd.DataFrame, partitions: Sequence[tuple[str, dt.date]]
) -> int:
    """Replace the events of the given (symbol, session) partitions with those in `bars`.

    Runs in the caller's transaction, so the events change together with what the caller
    writes beside them. Returns the number of events written.
    """
    if partitions:
        conn.execute(
            query("adjustments/delete_sessions"),
            {"symbols": [s for s, _ in partitions], "days": [d for _, d in partitions]},
        )
    events = session_events(bars)
    if events.empty:
        return 0
    sources = (
        bars[["symbol", "session_date", "source"]]
        .drop_duplicates(["symbol", "session_date"])
        .set_index(["symbol", "session_date"])["source"]
    )
    keys = list(zip(events["symbol"], events["session_date"], strict=True))
    conn.execute(
        query("adjustments/insert_events"),
        {
            "symbols": [s for s, _ in keys],
            "days": [d for _, d in keys],
            "factors": [float(f) for f in events["factor"]],
            "sources": [str(sources.get(k, "unknown")) for k in keys],
        },
    )
    return len(events)


def events_after(conn: psycopg.Connection, symbol: str, after: dt.date) -> pd.DataFrame:
    """One symbol's events on sessions after `after`, oldest first."""
    rows = conn.execute(query("adjustments/events_after"), {"symbol": symbol, "after": after})
    frame = pd.DataFrame(rows.fetchall(), columns=["session_date", "factor"])
    frame.insert(0, "symbol", symbol)
    return frame[EVENT_COLUMNS]
