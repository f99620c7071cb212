"""The batch row rules judge every row exactly as the per-partition rules do."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from market_assets.core.row_rules import apply_row_rules, apply_row_rules_batch
from market_assets.core.universe import default_universe
from resources.sources.generator import GeneratorSource

UNIVERSE = default_universe()
DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12)]
SYMBOLS = ["USDJPY", "7203"]


def _broken_bars() -> pd.DataFrame:
    bars = GeneratorSource().fetch_many([UNIVERSE.resolve(s) for s in SYMBOLS], DAYS)
    bars = bars.reset_index(drop=True)
    rows = bars.groupby(["symbol", "session_date"]).indices
    first = {k: int(v[0]) for k, v in rows.items()}
    a, b = first[("USDJPY", DAYS[0])], first[("7203", DAYS[1])]
    bars.loc[a + 1, "close"] = np.nan
    bars.loc[a + 2, "high"] = bars.loc[a + 2, "low"] - 1
    bars.loc[a + 3, "volume"] = -5.0
    bars.loc[b + 1, "open"] = -1.0
    bars.loc[b + 4, "ts"] = bars.loc[b + 5, "ts"]  # a duplicate timestamp
    bars.loc[b + 6, "ts"] = pd.Timestamp("2024-03-12 12:00", tz="UTC")  # Tokyo is closed
    return bars


def _judged(rejected: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    return {
        (str(r.symbol), str(r.session_date), str(r.ts), f"{r.rule}: {r.reason}")
        for r in rejected.itertuples()
    }


def test_batch_and_per_partition_rules_agree_row_for_row() -> None:
    bars = _broken_bars()
    batch = apply_row_rules_batch(bars, {s: UNIVERSE.resolve(s) for s in SYMBOLS})
    per_part_rejected, per_part_passed = set(), 0
    for (symbol, day), rows in bars.groupby(["symbol", "session_date"], sort=False):
        one = apply_row_rules(rows.reset_index(drop=True), UNIVERSE.resolve(symbol), day)
        per_part_rejected |= _judged(one.rejected)
        per_part_passed += len(one.passed)
    assert _judged(batch.rejected) == per_part_rejected
    assert len(batch.passed) == per_part_passed
    assert {r.split(":")[0] for *_, r in per_part_rejected} == {
        "non_finite",
        "high_below_low",
        "negative_volume",
        "non_positive_price",
        "duplicate_timestamp",
        "outside_partition",
    }


def test_unknown_symbols_are_quarantined_in_a_batch() -> None:
    bars = _broken_bars()
    batch = apply_row_rules_batch(bars, {"USDJPY": UNIVERSE.resolve("USDJPY")})
    assert set(batch.rejected.loc[batch.rejected["symbol"] == "7203", "rule"]) == {"unknown_symbol"}
    assert (batch.passed["symbol"] == "USDJPY").all()
