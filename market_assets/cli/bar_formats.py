"""Bars as text for other programs: CSV and JSON with the same fields, one bar per row/object.

Fields: `ts` (the bar's opening time, ISO 8601 in UTC with a `Z`), `session_date` (the trading
session in the symbol's calendar, so a spreadsheet can group FX bars that open before midnight
UTC into the right day; empty/null when the symbol has no calendar or the bar lies outside a
session), `open`, `high`, `low`, `close`, `volume`. Prices are printed with Python's shortest
round-trip representation, so nothing is lost between the store and the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd

FIELDS = ("ts", "session_date", "open", "high", "low", "close", "volume")
PRICE_FIELDS = FIELDS[2:]
FORMATS = ("table", "csv", "json")


def session_dates(frame: pd.DataFrame, calendar: str | None) -> list[str | None]:
    """ISO session date of each bar (None outside sessions or without a calendar)."""
    if calendar is None or frame.empty:
        return [None] * len(frame)
    from market_assets.core.calendars import session_dates_of

    days = session_dates_of(calendar, pd.DatetimeIndex(frame.index))
    return [None if np.isnat(d) else str(d) for d in days]


def bar_records(frame: pd.DataFrame, calendar: str | None) -> list[dict[str, Any]]:
    """One dict per bar with FIELDS as keys; NaN becomes None."""
    index = pd.DatetimeIndex(frame.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    stamps = [ts.strftime("%Y-%m-%dT%H:%M:%SZ") for ts in index.tz_convert("UTC")]
    days = session_dates(frame, calendar)
    columns = {name: frame[name].tolist() for name in PRICE_FIELDS}
    records = []
    for i, stamp in enumerate(stamps):
        record: dict[str, Any] = {"ts": stamp, "session_date": days[i]}
        for name in PRICE_FIELDS:
            value = float(columns[name][i])
            record[name] = None if math.isnan(value) else value
        records.append(record)
    return records


def to_csv(frame: pd.DataFrame, calendar: str | None) -> str:
    """A header line, then one bar per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for record in bar_records(frame, calendar):
        writer.writerow(["" if record[f] is None else record[f] for f in FIELDS])
    return out.getvalue()


def to_json(frame: pd.DataFrame, calendar: str | None) -> str:
    """A JSON list of objects with FIELDS as keys."""
    return json.dumps(bar_records(frame, calendar), indent=1) + "\n"
