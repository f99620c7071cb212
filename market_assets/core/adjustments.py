"""Adjusted prices, derived on read from raw bars and the vendors' adjustment events.

One meaning of `adj_factor` across sources (the J-Quants one): the factor of a corporate action
on its ex-date session, 1.0 on every other session. A 2-for-1 split has 0.5 on its ex-date; a
dividend of 2 % has about 0.98. The adjusted price of a bar of session d is

    raw(d) * prod(factor(t) for every event session t > d)

and the adjusted volume divides by the same product, so an adjusted series is continuous
across splits. Why events and not a cumulative factor stored per bar: a cumulative factor is
"as of the fetch" and changes every earlier row at every new event, so keeping it would
rewrite history (and count every bar as revised) each time a company pays a dividend. An event
is a fact of one session: it never changes once delivered, and raw bars stay raw.

Sources that deliver a cumulative factor (Yahoo's adjclose / close) convert it to events at
fetch time (`events_from_cumulative`). Events are kept in the `adjustment_events` table,
outside the bar tables' retention, because adjusting an old range needs every later event.

W1 and MN1 bars can span an ex-date, where no single multiplier is right for the whole bar,
so adjusted W1/MN1 bars are re-aggregated from adjusted D1 bars (`reaggregate`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from market_assets.core.bars import PRICE_COLUMNS

# Yahoo's adjclose travels as float32 (about 7 significant digits) and is rounded by Yahoo
# itself; two neighbouring sessions' cumulative factors then differ by ~1e-5 with no event in
# between. Real events are far larger (the smallest quarterly dividends adjust by ~5e-4), so a
# relative change below this is read as "no event", and the factor stays exactly 1.0.
EVENT_TOLERANCE = 5e-5

EVENT_COLUMNS = ["symbol", "session_date", "factor"]


class AdjustmentError(ValueError):
    """Adjustment data that cannot be right (two factors for one session, a factor <= 0)."""


def events_from_cumulative(cumulative: np.ndarray) -> np.ndarray:
    """Per-session event factors from cumulative ones (in session order).

    event(i) = cum(i-1) / cum(i): the step of the cumulative factor at session i. The first
    session has no predecessor in the window and gets 1.0, so callers fetch one or more
    sessions before the first one they keep. A session whose cumulative factor is unknown
    (NaN, or not > 0) gets 1.0, and the next known session steps from the last known one, so
    a gap neither invents nor loses an event.
    """
    cum = np.asarray(cumulative, dtype=np.float64)
    out = np.ones(len(cum))
    known = np.isfinite(cum) & (cum > 0)
    if known.sum() < 2:
        return out
    # Each known session steps from the last known one before it, across unknown sessions.
    idx = np.flatnonzero(known)
    values = cum[idx]
    step = values[:-1] / values[1:]
    step = np.where(np.abs(step - 1.0) < EVENT_TOLERANCE, 1.0, step)
    out[idx[1:]] = step
    return out


def session_events(bars: pd.DataFrame) -> pd.DataFrame:
    """The events carried by a bar frame: one row per (symbol, session_date) whose bars have a
    factor other than 1.0. Two different factors in one session are a data error."""
    if bars.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    factors = bars[["symbol", "session_date", "adj_factor"]]
    factors = factors[factors["adj_factor"] != 1.0]
    if factors.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    if not (np.isfinite(factors["adj_factor"]) & (factors["adj_factor"] > 0)).all():
        raise AdjustmentError("adjustment factors must be finite and > 0")
    grouped = factors.groupby(["symbol", "session_date"], sort=True)["adj_factor"]
    spread = grouped.nunique()
    if (spread > 1).any():
        symbol, day = spread[spread > 1].index[0]
        raise AdjustmentError(f"{symbol} {day}: bars of one session carry different factors")
    events = grouped.first().reset_index()
    return events.rename(columns={"adj_factor": "factor"})[EVENT_COLUMNS]


def multipliers(
    sessions: Iterable[dt.date] | np.ndarray, events: pd.DataFrame | None
) -> np.ndarray:
    """prod(factor(t) for event sessions t > d) for each session d (one symbol's events)."""
    days = np.asarray(pd.to_datetime(pd.Series(list(sessions))).to_numpy(), dtype="datetime64[D]")
    if events is None or events.empty:
        return np.ones(len(days))
    ev = events.sort_values("session_date")
    ev_days = np.asarray(pd.to_datetime(ev["session_date"]).to_numpy(), dtype="datetime64[D]")
    factors = ev["factor"].to_numpy(dtype=np.float64)
    # suffix[i] = product of factors[i:]; the events after d start at searchsorted(d, right).
    suffix = np.append(np.cumprod(factors[::-1])[::-1], 1.0)
    return suffix[np.searchsorted(ev_days, days, side="right")]


def adjust(frame: pd.DataFrame, sessions: np.ndarray, events: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of one symbol's bars with prices multiplied and volume divided by each bar's
    multiplier; `sessions` gives each row's session date."""
    out = frame.copy()
    m = multipliers(sessions, events)
    for column in PRICE_COLUMNS:
        out[column] = out[column].to_numpy(dtype=np.float64) * m
    if "volume" in out.columns:
        out["volume"] = out["volume"].to_numpy(dtype=np.float64) / m
    out.attrs = {**frame.attrs, "adjusted": True}
    return out


def reaggregate(daily: pd.DataFrame, labels: pd.DatetimeIndex) -> pd.DataFrame:
    """Group adjusted D1 bars (indexed by ts) into the coarser bars opening at `labels`:
    first open, max high, min low, last close, summed volume."""
    if daily.empty or len(labels) == 0:
        return daily.iloc[:0]
    order = np.searchsorted(labels.asi8, daily.index.asi8, side="right") - 1
    keep = order >= 0
    d = daily[keep]
    group = labels[order[keep]]
    out = d.groupby(group, sort=True).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    out.index.name = daily.index.name
    return out[[c for c in daily.columns if c in out.columns]]
