"""The contract every bar source fulfils: instruments x session dates in, bar frames out.

Sources are keyed by session date (not by UTC day) because partitions, completeness checks and
D1 bars are all per session; a source that fetches by UTC range converts with
`market_assets.core.calendars.session_windows`. Every frame a source returns is in the bar schema
(`market_assets.core.bars`), so the assets downstream never need to know which source ran.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import ClassVar

import pandas as pd

from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import Instrument


class SourceError(RuntimeError):
    """A source could not deliver bars.

    `retryable` separates transient failures (timeouts, HTTP 5xx, rate limits), which a
    Dagster RetryPolicy may retry, from permanent ones (unknown symbol, bad credentials,
    unsupported timeframe) that would fail again. `status` is the vendor's HTTP status when
    an answer caused the failure (None for transport errors and bad data).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        retryable: bool = False,
        status: int | None = None,
    ) -> None:
        self.source = source
        self.retryable = retryable
        self.status = status
        super().__init__(f"{source}: {message}" if source else message)


class BarSource(ABC):
    """A provider of bars for instruments x session dates, in one batch."""

    name: ClassVar[str] = "source"

    @abstractmethod
    def fetch_many(
        self,
        instruments: Iterable[Instrument],
        session_dates: Sequence[dt.date],
        timeframe: Timeframe | str | None = None,
    ) -> pd.DataFrame:
        """Every instrument x every session date, one frame sorted by symbol, timeframe, ts.

        Batching is the contract because every source fetches ranges (one HTTP call for a date
        range, a vectorised generator, one scan of the landing files), and a backfill asks
        for thousands of partitions at once. `timeframe` defaults to each instrument's base
        timeframe; non-session dates contribute no rows.
        """

    def fetch(
        self,
        instrument: Instrument,
        session_date: dt.date,
        timeframe: Timeframe | str | None = None,
    ) -> pd.DataFrame:
        """Bars of one session in the bar schema (empty frame for a non-session date)."""
        return self.fetch_many([instrument], [session_date], timeframe)


def sort_bars(df: pd.DataFrame) -> pd.DataFrame:
    """Bars in the canonical order (symbol, timeframe, ts) with a fresh RangeIndex."""
    if df.empty:
        return df.reset_index(drop=True)
    return df.sort_values(["symbol", "timeframe", "ts"], kind="stable", ignore_index=True)
