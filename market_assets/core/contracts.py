"""The data contract of stored bars (pandera), checked once per batch, not per partition.

Row rules (market_assets.core.row_rules) decide what is quarantined on the way in; this contract
checks what was stored: types and nullability of every column and the OHLC invariants, so a
change of writer or a hand-dropped file that slipped past the rules is caught.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from market_assets.core import names
from market_assets.core.universe import BASE_TIMEFRAMES

BAR_CONTRACT = pa.DataFrameSchema(
    {
        "symbol": pa.Column(
            str,
            pa.Check.str_matches(r"^[A-Z0-9][A-Z0-9._-]{0,31}$"),
            description="Instrument code as in the universe file (7203, USDJPY, N225).",
        ),
        "timeframe": pa.Column(
            str,
            pa.Check.isin([str(tf) for tf in BASE_TIMEFRAMES]),
            description="Base timeframe the source delivers: any of M1, M5, M15, M30, H1, H4,"
            " D1, W1, MN1.",
        ),
        "ts": pa.Column(
            pd.DatetimeTZDtype("ns", "UTC"), description="Opening time of the bar, in UTC."
        ),
        "session_date": pa.Column(
            object,
            description="Trading session of the bar in the symbol's exchange calendar (the"
            " partition's date; what D1, W1 and MN1 group by).",
        ),
        "open": pa.Column(
            float,
            [pa.Check.gt(0), pa.Check(np.isfinite)],
            description="First traded price, raw as delivered (adjust on read).",
        ),
        "high": pa.Column(
            float,
            [pa.Check.gt(0), pa.Check(np.isfinite)],
            description="Highest price, raw as delivered.",
        ),
        "low": pa.Column(
            float,
            [pa.Check.gt(0), pa.Check(np.isfinite)],
            description="Lowest price, raw as delivered.",
        ),
        "close": pa.Column(
            float,
            [pa.Check.gt(0), pa.Check(np.isfinite)],
            description="Last price, raw as delivered.",
        ),
        "volume": pa.Column(
            float,
            [pa.Check.ge(0), pa.Check(np.isfinite)],
            description="Traded volume (float64: exact for integers, admits fractional volume).",
        ),
        "adj_factor": pa.Column(
            float,
            pa.Check.gt(0),
            description="Factor of a corporate action on its ex-date session, 1.0 elsewhere.",
        ),
        "source": pa.Column(str, description="Bar source: generator, landing, jquants, yfinance."),
    },
    checks=[
        pa.Check(
            lambda df: df["low"] <= df[["open", "close"]].min(axis=1),
            name="low_below_body",
            description="low <= min(open, close)",
        ),
        pa.Check(
            lambda df: df["high"] >= df[["open", "close"]].max(axis=1),
            name="high_above_body",
            description="high >= max(open, close)",
        ),
        pa.Check(
            lambda df: ~df.duplicated(["symbol", "timeframe", "ts"], keep=False),
            name=names.UNIQUE_SYMBOL_TIMEFRAME_TS,
            description="unique (symbol, timeframe, ts)",
        ),
    ],
    strict=True,
    coerce=False,
)


def contract_failures(frame: pd.DataFrame, limit: int = 10) -> tuple[int, list[str], list[int]]:
    """How many rows break the contract, one line per broken check (first rows shown), and the
    positions of the broken rows (so callers can name the partitions they belong to)."""
    try:
        BAR_CONTRACT.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        labels = cases["index"].dropna().unique()
        positions = [int(i) for i in frame.index.get_indexer(labels) if i >= 0]
        lines = []
        for check, group in cases.groupby("check", sort=True):
            rows = frame.index.get_indexer(group["index"].dropna().unique()[:3])
            where = ", ".join(f"row {int(r)} ts={frame['ts'].iloc[int(r)]}" for r in rows if r >= 0)
            lines.append(f"{check}: {group['index'].nunique()} rows ({where})")
        return max(len(positions), 1), lines[:limit], sorted(positions)
    return 0, [], []
