"""`read_bars` builds its frame from per-column bytea buffers: the frame must be exactly what
a plain row query gives (values, order, UTC nanosecond index), windows and limits included."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from market_assets.core.universe import default_universe
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.bar_store import replace_partitions
from resources.postgres import PostgresResource
from resources.sources.generator import GeneratorSource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12)]


@pytest.fixture
def stored(postgres: PostgresResource) -> pd.DataFrame:
    bars = GeneratorSource().fetch_many([default_universe().resolve("USDJPY")], DAYS)
    replace_partitions(postgres, bars, [("USDJPY", "M1", d) for d in DAYS])
    frame = bars.set_index("ts").sort_index()[["open", "high", "low", "close", "volume"]]
    frame.index = frame.index.astype("datetime64[ns, UTC]")
    return frame


def test_latest_n_is_the_stored_tail_exactly(
    postgres: PostgresResource, stored: pd.DataFrame
) -> None:
    with postgres.connection() as conn:
        got = read_bars(conn, "USDJPY", "M1", last_n=1000)
        conn.rollback()
    pd.testing.assert_frame_equal(got, stored.iloc[-1000:], check_freq=False)
    assert str(got.index.dtype) == "datetime64[ns, UTC]" and got.index.name == "ts"


def test_window_and_empty_answers(postgres: PostgresResource, stored: pd.DataFrame) -> None:
    start = stored.index[100].to_pydatetime()
    end = stored.index[160].to_pydatetime()
    with postgres.connection() as conn:
        window = read_bars(conn, "USDJPY", "M1", start=start, end=end)
        nothing = read_bars(conn, "EURUSD", "M1", last_n=10)
        conn.rollback()
    pd.testing.assert_frame_equal(window, stored.iloc[100:160], check_freq=False)
    assert nothing.empty
    assert list(nothing.columns) == list(stored.columns)
    assert str(nothing.index.dtype) == "datetime64[ns, UTC]"
    assert (nothing.dtypes == "float64").all()
