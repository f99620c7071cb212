"""The ts window that encloses a partition's stored bars, so the primary key can find them.

`ohlcv_bars` has one index, its primary key (symbol, timeframe, ts): a second one on
(symbol, session_date) cost about a third of the bulk-load speed and was dropped (migration
0007). A partition (symbol, session_date) is found instead as a ts range of the key plus the
session_date filter. That is exact because every stored bar lies inside its session's
[open, close): the row rules quarantine bars outside their partition's session before anything
is written. The window is widened by MARGIN on each side so that bars stored under a calendar
whose hours were revised later (an exchange lengthening its session, a newer
exchange-calendars) are still found, deleted and reconciled; symbols without a calendar and
dates that are no longer sessions (a holiday added after the fact) get a calendar-free window,
[date - 1 day, date + 2 days) in UTC, which encloses any exchange's local day and an FX session
(17:00 New York the evening before to 17:00 New York).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

from market_assets.core.calendars import session_bounds
from market_assets.core.universe import default_universe

MARGIN = dt.timedelta(hours=6)
_FALLBACK_BEFORE = dt.timedelta(days=1)
_FALLBACK_AFTER = dt.timedelta(days=2)


def _calendar_of(symbol: str) -> str | None:
    inst = default_universe().known([symbol]).get(symbol)
    return inst.calendar if inst else None


@lru_cache(maxsize=65_536)
def ts_window(symbol: str, session_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[lo, hi) in UTC that contains every bar of the partition (symbol, session_date)."""
    calendar = _calendar_of(symbol)
    bounds = session_bounds(calendar, session_date) if calendar is not None else None
    if bounds is not None:
        return bounds[0].to_pydatetime() - MARGIN, bounds[1].to_pydatetime() + MARGIN
    midnight = dt.datetime.combine(session_date, dt.time(), tzinfo=dt.UTC)
    return midnight - _FALLBACK_BEFORE, midnight + _FALLBACK_AFTER


def window_arrays(pairs: Iterable[tuple[str, dt.date]]) -> dict[str, list[dt.datetime]]:
    """`lo`/`hi` arrays, aligned with the (symbol, session_date) pairs, for the SQL params."""
    windows = [ts_window(symbol, day) for symbol, day in pairs]
    return {"lo": [w[0] for w in windows], "hi": [w[1] for w in windows]}
