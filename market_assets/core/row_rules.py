"""Row-level rules for incoming bars: what passes, and what is quarantined with a reason.

Nothing is repaired silently: a row that breaks a rule leaves the batch with the rule's name
and a human reason, and the rest of its partition proceeds. Rules are vectorised (one boolean
mask each) so that a backfill of millions of rows costs milliseconds per rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from market_assets.core.bars import PRICE_COLUMNS
from market_assets.core.calendars import bar_session_dates
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import Instrument


@dataclass(frozen=True)
class RuleOutcome:
    passed: pd.DataFrame
    rejected: pd.DataFrame  # the rejected rows plus `rule` and `reason` columns

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)


def _finite(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
    return np.isfinite(values)


def apply_row_rules(
    frame: pd.DataFrame, instrument: Instrument, session_date: dt.date
) -> RuleOutcome:
    """Split one partition's rows into those that pass every rule and those that do not.

    The first failing rule (in the order below) names a rejected row.
    """
    n = len(frame)
    rule, reason = _evaluate(
        frame,
        symbol_ok=frame["symbol"].to_numpy() == instrument.symbol,
        symbol_reason=f"row symbol differs from partition symbol {instrument.symbol}",
        calendars=np.full(n, instrument.calendar, dtype=object),
        expected=np.full(n, np.datetime64(session_date, "D")),
        duplicate_keys=[],
    )
    return _split(frame, rule, reason)


def apply_row_rules_batch(
    frame: pd.DataFrame, instruments: Mapping[str, Instrument]
) -> RuleOutcome:
    """The same rules over many partitions at once: each row is judged against the partition
    its own (symbol, session_date) names, as when a source's answer is cut into partitions
    first. One pass of vectorised masks instead of one per partition: a 1,000-partition batch
    spends milliseconds here instead of seconds of per-frame overhead."""
    symbols = frame["symbol"].astype(object).to_numpy()
    known = np.array([s in instruments for s in symbols], dtype=bool)
    calendars = np.array(
        [instruments[s].calendar if ok else "" for s, ok in zip(symbols, known, strict=True)],
        dtype=object,
    )
    labels = pd.to_datetime(pd.Series(frame["session_date"]), errors="coerce").to_numpy()
    rule, reason = _evaluate(
        frame,
        symbol_ok=known,
        symbol_reason="symbol is not in the universe",
        calendars=calendars,
        expected=np.asarray(labels, dtype="datetime64[D]"),
        duplicate_keys=["symbol", "session_date"],
    )
    return _split(frame, rule, reason)


def _evaluate(
    frame: pd.DataFrame,
    *,
    symbol_ok: np.ndarray,
    symbol_reason: str,
    calendars: np.ndarray,
    expected: np.ndarray,
    duplicate_keys: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """(rule, reason) per row: empty strings where every rule passes."""
    n = len(frame)
    rule = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, name: str, why: str | np.ndarray) -> None:
        fresh = mask & (rule == "")
        rule[fresh] = name
        reason[fresh] = why if isinstance(why, str) else why[fresh]

    flag(~symbol_ok, "unknown_symbol", symbol_reason)
    ts = pd.DatetimeIndex(frame["ts"])
    nat = np.asarray(ts.isna())
    flag(nat, "bad_timestamp", "timestamp missing or unparseable")
    finite = np.ones(n, dtype=bool)
    for column in (*PRICE_COLUMNS, "volume"):
        ok = _finite(frame, column)
        flag(~ok, "non_finite", f"{column} is missing, NaN or infinite")
        finite &= ok
    prices = {
        c: pd.to_numeric(frame[c], errors="coerce").to_numpy("float64") for c in PRICE_COLUMNS
    }
    with np.errstate(invalid="ignore"):
        flag(
            finite & (np.minimum.reduce(list(prices.values())) <= 0),
            "non_positive_price",
            "a price is zero or negative",
        )
        flag(finite & (prices["high"] < prices["low"]), "high_below_low", "high < low")
        body_low = np.minimum(prices["open"], prices["close"])
        body_high = np.maximum(prices["open"], prices["close"])
        flag(
            finite & ((body_low < prices["low"]) | (body_high > prices["high"])),
            "open_close_outside_range",
            "open or close outside [low, high]",
        )
        volume = pd.to_numeric(frame["volume"], errors="coerce").to_numpy("float64")
        flag(finite & (volume < 0), "negative_volume", "volume is negative")

    if not nat.all():
        sessions = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        valid_ts = ~nat
        timeframes = frame["timeframe"].astype(object).to_numpy() if "timeframe" in frame else None
        for calendar in {c for c in calendars if c}:
            rows = valid_ts & (calendars == calendar)
            for tf in {str(t) for t in timeframes[rows]} if timeframes is not None else {"M1"}:
                part = rows if timeframes is None else rows & (timeframes == tf)
                if not part.any():
                    continue
                if tf not in Timeframe._value2member_map_:
                    continue  # not a timeframe: no session expects the bar
                # Each base's labels (core/calendars.py): M1 a traded minute, M5..H4 a bucket
                # holding one of the session's minutes, D1..MN1 the open of its session.
                sessions[part] = bar_session_dates(calendar, tf, ts[part])
        outside = valid_ts & symbol_ok & (sessions != expected)
        if outside.any():
            why = np.full(n, "", dtype=object)
            where = np.flatnonzero(outside)
            why[where] = [
                f"bar is not inside the {calendars[i]} session of {_day(expected[i])}"
                for i in where
            ]
            flag(outside, "outside_partition", why)

    # Duplicates: every row sharing a timestamp (within its partition) is held back, since
    # keeping one would be a silent choice between vendor rows.
    keyed = frame[duplicate_keys].copy() if duplicate_keys else pd.DataFrame(index=frame.index)
    keyed["ts"] = ts
    dup = keyed.duplicated(keep=False).to_numpy() & ~nat
    flag(dup, "duplicate_timestamp", "more than one bar with this timestamp")
    return rule, reason


def _day(value: np.datetime64) -> str:
    return "an unlabelled day" if np.isnat(value) else str(value.astype("datetime64[D]"))


def _split(frame: pd.DataFrame, rule: np.ndarray, reason: np.ndarray) -> RuleOutcome:
    bad = rule != ""
    if not bad.any():
        rejected = frame.iloc[:0].copy()
        rejected["rule"] = pd.Series(dtype=object)
        rejected["reason"] = pd.Series(dtype=object)
        return RuleOutcome(passed=frame.reset_index(drop=True), rejected=rejected)
    rejected = frame.loc[bad].copy()
    rejected["rule"] = rule[bad]
    rejected["reason"] = reason[bad]
    return RuleOutcome(
        passed=frame.loc[~bad].reset_index(drop=True), rejected=rejected.reset_index(drop=True)
    )
