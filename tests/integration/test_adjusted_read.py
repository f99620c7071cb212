"""Adjusted reads on real stores: events recorded beside the bars, applied on read."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from market_assets.core.timeframes import Timeframe
from market_assets.ohlcv.adjustment_store import events_after, record_events
from market_assets.read.adjusted import read_adjusted
from market_assets.read.reader import BarReader
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from tests.integration.runs import materialize_range

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12), dt.date(2024, 3, 13)]
EX_DATE = DAYS[1]


@pytest.fixture
def reader(
    s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource
) -> BarReader:
    result = materialize_range(s3_store, postgres, redis_store, ["EURUSD"], DAYS[0], DAYS[-1])
    assert result.success
    split = pd.DataFrame(
        {"symbol": ["EURUSD"], "session_date": [EX_DATE], "adj_factor": [0.5], "source": ["t"]}
    )
    with postgres.transaction() as conn:
        assert record_events(conn, split, [("EURUSD", d) for d in DAYS]) == 1
    return BarReader(postgres=postgres, redis=redis_store, s3=s3_store)


def test_bars_before_the_ex_date_are_scaled_and_later_ones_are_not(reader: BarReader) -> None:
    start = dt.datetime(2024, 3, 10, 21, tzinfo=dt.UTC)  # the 03-11 FX session opens
    raw = reader.get("EURUSD", "D1", start=start)
    adjusted = read_adjusted(reader, "EURUSD", Timeframe.D1, start, None, None)
    assert len(raw) == len(adjusted) == 3
    assert adjusted["close"].iloc[0] == raw["close"].iloc[0] * 0.5
    assert adjusted["volume"].iloc[0] == raw["volume"].iloc[0] / 0.5
    assert adjusted["close"].iloc[1:].tolist() == raw["close"].iloc[1:].tolist()
    assert adjusted.attrs["adjusted"] is True and adjusted.attrs["layer"] in ("redis", "postgres")


def test_minute_bars_follow_their_session(reader: BarReader) -> None:
    start = dt.datetime(2024, 3, 11, 20, 30, tzinfo=dt.UTC)  # spans the 03-12 session's open
    raw = reader.get("EURUSD", "M1", start=start, end=start + dt.timedelta(hours=1))
    adjusted = read_adjusted(
        reader, "EURUSD", Timeframe.M1, start, start + dt.timedelta(hours=1), None
    )
    before = raw.index < pd.Timestamp("2024-03-11 21:00", tz="UTC")
    assert before.sum() == 30
    assert (adjusted["open"][before] == raw["open"][before] * 0.5).all()
    assert (adjusted["open"][~before] == raw["open"][~before]).all()


def test_weekly_bar_spanning_the_ex_date_is_rebuilt_from_adjusted_days(
    reader: BarReader,
) -> None:
    start = dt.datetime(2024, 3, 10, 21, tzinfo=dt.UTC)
    days = read_adjusted(reader, "EURUSD", Timeframe.D1, start, None, None)
    week = read_adjusted(reader, "EURUSD", Timeframe.W1, start, None, None)
    assert len(week) == 1
    bar = week.iloc[0]
    assert bar["open"] == days["open"].iloc[0]
    assert bar["high"] == days["high"].max() and bar["low"] == days["low"].min()
    assert bar["close"] == days["close"].iloc[-1]
    assert bar["volume"] == pytest.approx(days["volume"].sum())


def test_refetched_partition_without_the_event_removes_it(
    reader: BarReader, postgres: PostgresResource
) -> None:
    none = pd.DataFrame(
        {"symbol": ["EURUSD"], "session_date": [EX_DATE], "adj_factor": [1.0], "source": ["t"]}
    )
    with postgres.transaction() as conn:
        assert record_events(conn, none, [("EURUSD", EX_DATE)]) == 0
    with postgres.connection() as conn:
        assert events_after(conn, "EURUSD", DAYS[0]).empty
