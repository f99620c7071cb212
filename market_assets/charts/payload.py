"""The JSON a chart draws: bars read through the read path, plus the quality strip.

Bars come from `BarReader.get` (raw) or `read_adjusted` (the read path's adjusted view), never
from a query of our own, so a chart shows what `get_ohlcv` answers, from the store that
answered (`frame.attrs["layer"]`), with the reader's statistics (`read_stats()`'s figures)
and the stores it skipped. The quality strip comes from market_assets/charts/quality.py; a
database that cannot answer it leaves the candles drawn and says so (`quality_error`).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Any

import numpy as np
import pandas as pd

from market_assets.charts.quality import session_quality
from market_assets.charts.request import ChartRequest
from market_assets.core.calendars import session_dates_of, sessions_in_range
from market_assets.core.universe import default_universe
from market_assets.read.adjusted import read_adjusted
from market_assets.read.reader import BarReader
from resources.errors import StoreUnavailableError

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def calendar_of(symbol: str) -> str | None:
    try:
        return default_universe().resolve(symbol).calendar
    except LookupError:
        return None  # outside the universe: bars without sessions


def read_frame(reader: BarReader, request: ChartRequest) -> pd.DataFrame:
    """The bars of the request, through the read path (raw or adjusted)."""
    if request.adjusted:
        return read_adjusted(
            reader, request.symbol, request.timeframe, request.start, request.end, request.last
        )
    return reader.get(request.symbol, request.timeframe, request.start, request.end, request.last)


def bar_columns(frame: pd.DataFrame, calendar: str | None) -> dict[str, list[Any]]:
    """Column arrays (ts as ISO UTC, session_date, prices) — compact for the page to draw."""
    index = pd.DatetimeIndex(frame.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    columns: dict[str, list[Any]] = {
        "ts": list(index.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")),
        "session_date": _sessions(index, calendar),
    }
    for name in PRICE_COLUMNS:
        columns[name] = [None if math.isnan(v) else v for v in frame[name].astype(float).tolist()]
    return columns


def _sessions(index: pd.DatetimeIndex, calendar: str | None) -> list[str | None]:
    if calendar is None or len(index) == 0:
        return [None] * len(index)
    days = session_dates_of(calendar, index)
    return [None if np.isnat(d) else str(d) for d in days]


def requested_sessions(
    request: ChartRequest, calendar: str | None, bar_sessions: list[str | None]
) -> list[dt.date]:
    """The sessions the chart covers: the window's (when given) and those of its bars."""
    days = {dt.date.fromisoformat(d) for d in bar_sessions if d}
    if calendar is not None and request.start is not None:
        stop = request.end or dt.datetime.now(dt.UTC)
        days.update(sessions_in_range(calendar, request.start.date(), stop.date()))
    return sorted(days)


def build_payload(
    frame: pd.DataFrame,
    request: ChartRequest,
    *,
    reader: BarReader | None = None,
    quality: list[dict[str, object]] | None = None,
    quality_error: str | None = None,
    calendar: str | None = None,
) -> dict[str, Any]:
    columns = bar_columns(frame, calendar)
    return {
        "request": request.as_dict(),
        "count": len(frame),
        "layer": frame.attrs.get("layer", "none"),
        "adjusted": request.adjusted,
        "skipped": [{"store": s, "reason": r} for s, r in (reader.skipped if reader else [])],
        "read_stats": reader.stats.as_dict() if reader else {},
        "bars": columns,
        "quality": quality or [],
        "quality_error": quality_error,
    }


def chart_payload(reader: BarReader, request: ChartRequest) -> dict[str, Any]:
    """Read the request's bars and quality; the payload the page and `bars --plot` draw."""
    frame = read_frame(reader, request)
    calendar = calendar_of(request.symbol)
    return with_quality(reader, frame, request, calendar)


def with_quality(
    reader: BarReader, frame: pd.DataFrame, request: ChartRequest, calendar: str | None
) -> dict[str, Any]:
    """`build_payload` with the quality strip of the sessions the frame covers."""
    payload = build_payload(frame, request, reader=reader, calendar=calendar)
    sessions = requested_sessions(request, calendar, payload["bars"]["session_date"])
    if reader.postgres is None:
        payload["quality_error"] = "no database configured: quality unknown"
        return payload
    try:
        flagged = session_quality(reader.postgres, request.symbol, sessions)
        payload["quality"] = [q.as_dict() for q in flagged]
    except StoreUnavailableError as exc:
        payload["quality_error"] = f"quality unknown: {' '.join(str(exc).split())}"
    return payload


class ChartSource:
    """One reader shared by the server's threads; `BarReader` keeps per-read state, so reads
    are serialised (a chart is one read: the lock costs nothing an operator could see)."""

    def __init__(self, reader: BarReader) -> None:
        self.reader = reader
        self._lock = threading.Lock()

    def payload(self, request: ChartRequest) -> dict[str, Any]:
        with self._lock:
            return chart_payload(self.reader, request)

    def close(self) -> None:
        self.reader.close()
