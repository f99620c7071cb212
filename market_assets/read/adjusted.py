"""Adjusted bars on the read path: raw bars from the store chain, events from the database.

The raw read goes through the same chain (Redis -> database -> S3) as any read, so caching and
hit statistics are shared; only the events come from the database, and an adjusted read fails
loudly when the database is unreachable rather than answering unadjusted prices.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from market_assets.core.adjustments import adjust, reaggregate
from market_assets.core.calendars import session_dates_of
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import default_universe
from market_assets.ohlcv.adjustment_store import events_after
from market_assets.read.reader import BarReader


def bar_sessions(calendar: str, index: pd.DatetimeIndex) -> np.ndarray:
    """The session of each bar (by its opening time); a bar outside every session, which the
    row rules would have quarantined, falls back to its UTC date."""
    days = session_dates_of(calendar, index)
    missing = np.isnat(days)
    if missing.any():
        days[missing] = index[missing].tz_convert("UTC").to_numpy().astype("datetime64[D]")
    return days


def read_adjusted(
    reader: BarReader,
    symbol: str,
    tf: Timeframe,
    start: dt.datetime | None,
    end: dt.datetime | None,
    last_n: int | None,
) -> pd.DataFrame:
    raw = reader.get(symbol, tf, start, end, last_n)
    if raw.empty:
        return raw
    layer = raw.attrs.get("layer")
    inst = default_universe().resolve(symbol)
    calendar = inst.calendar
    # Weeks and months are rebuilt from adjusted D1 (one may span an ex-date); a W1 or MN1
    # base has no D1 to rebuild from, so its bars are adjusted as the session they are filed
    # under (an event inside the period then applies to the whole bar).
    if tf in (Timeframe.W1, Timeframe.MN1) and tf is not inst.base_timeframe:
        labels = pd.DatetimeIndex(raw.index)
        daily = reader.get(symbol, Timeframe.D1, labels[0].to_pydatetime(), end, None)
        out = reaggregate(_adjusted(reader, symbol, calendar, daily), labels)
    else:
        out = _adjusted(reader, symbol, calendar, raw)
    out.attrs = {**raw.attrs, "layer": layer, "adjusted": True}
    return out


def _adjusted(reader: BarReader, symbol: str, calendar: str, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    if reader.postgres is None:
        raise LookupError("adjusted reads need the database: the adjustment events live there")
    sessions = bar_sessions(calendar, pd.DatetimeIndex(frame.index))
    first = pd.Timestamp(sessions.min()).date()
    with reader.postgres.connection() as conn:
        events = events_after(conn, symbol, first)
        conn.rollback()
    return adjust(frame, sessions, events)
