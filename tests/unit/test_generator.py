"""The generator source and the bar schema it produces (bars.py is tested here too)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from market_assets.core.bars import (
    BAR_ARROW_SCHEMA,
    BAR_COLUMNS,
    BAR_PANDAS_DTYPES,
    BarSchemaError,
    concat_bars,
    empty_bars,
    frame_checksum,
    from_arrow,
    normalize_bars,
    to_arrow,
)
from market_assets.core.calendars import (
    expected_bar_labels,
    expected_minute_bars,
    period_first_session,
    session_dates_of,
    sessions_in_range,
)
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import Instrument, default_universe, equity_instrument
from resources.sources import BarSource, GeneratorSource, SourceError

D = dt.date
UNIVERSE = default_universe()
WEEK = [D(2024, 3, 4) + dt.timedelta(days=i) for i in range(10)]  # spans US DST start


@pytest.fixture(scope="module")
def gen() -> GeneratorSource:
    return GeneratorSource(seed=0)


@pytest.fixture(scope="module")
def sample(gen: GeneratorSource) -> pd.DataFrame:
    return gen.fetch_many(list(UNIVERSE), WEEK)


def _inst(symbol: str) -> Instrument:
    return UNIVERSE.get(symbol)


# --- schema -----------------------------------------------------------------------------------


def test_schema_and_dtypes(sample: pd.DataFrame) -> None:
    assert tuple(sample.columns) == BAR_COLUMNS
    assert dict(sample.dtypes) == BAR_PANDAS_DTYPES
    assert isinstance(sample["session_date"].iloc[0], dt.date)
    table = to_arrow(sample)
    assert table.schema == BAR_ARROW_SCHEMA
    assert table.num_rows == len(sample)
    assert (sample["adj_factor"] == 1.0).all()
    assert (sample["source"] == "generator").all()
    assert set(sample["timeframe"]) == {"M1"}


def test_sorted_by_key(sample: pd.DataFrame) -> None:
    keys = sample[["symbol", "timeframe", "ts"]]
    assert not keys.duplicated().any()
    assert sample.equals(sample.sort_values(["symbol", "timeframe", "ts"], ignore_index=True))
    assert sample.index.equals(pd.RangeIndex(len(sample)))


def test_empty_bars_schema() -> None:
    empty = empty_bars()
    assert tuple(empty.columns) == BAR_COLUMNS and len(empty) == 0
    assert dict(empty.dtypes) == BAR_PANDAS_DTYPES
    assert to_arrow(empty).schema == BAR_ARROW_SCHEMA
    assert dict(concat_bars([]).dtypes) == BAR_PANDAS_DTYPES


def test_generator_is_a_bar_source(gen: GeneratorSource) -> None:
    assert isinstance(gen, BarSource)
    assert gen.name == "generator"


# --- determinism ------------------------------------------------------------------------------


def test_same_inputs_same_bars(gen: GeneratorSource, sample: pd.DataFrame) -> None:
    again = GeneratorSource(seed=0).fetch_many(list(UNIVERSE), WEEK)
    pd.testing.assert_frame_equal(sample, again)
    assert frame_checksum(sample) == frame_checksum(again)


def test_batch_equals_single_fetches(gen: GeneratorSource, sample: pd.DataFrame) -> None:
    singles = [gen.fetch(inst, day) for inst in UNIVERSE for day in WEEK]
    combined = concat_bars(singles)
    combined = combined.sort_values(["symbol", "timeframe", "ts"], ignore_index=True)
    pd.testing.assert_frame_equal(sample, combined)


def test_order_and_batch_composition_do_not_matter(
    gen: GeneratorSource, sample: pd.DataFrame
) -> None:
    reordered = gen.fetch_many(list(reversed(list(UNIVERSE))), list(reversed(WEEK)) + WEEK[:2])
    pd.testing.assert_frame_equal(sample, reordered)
    # a day generated inside a long batch equals the day generated alone
    long_batch = gen.fetch_many(
        [_inst("7203")], [D(2023, 6, 1) + dt.timedelta(days=i) for i in range(400)]
    )
    alone = gen.fetch(_inst("7203"), D(2024, 3, 5))
    part = long_batch[long_batch["session_date"] == D(2024, 3, 5)].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, alone)


def test_seed_changes_bars(sample: pd.DataFrame) -> None:
    other = GeneratorSource(seed=1).fetch(_inst("USDJPY"), D(2024, 3, 5))
    mine = sample[(sample["symbol"] == "USDJPY") & (sample["session_date"] == D(2024, 3, 5))]
    assert len(other) == len(mine)
    assert not np.array_equal(other["close"].to_numpy(), mine["close"].to_numpy())


def test_seed_must_be_int() -> None:
    with pytest.raises(TypeError):
        GeneratorSource(seed="0")  # type: ignore[arg-type]


# --- realism and validity ---------------------------------------------------------------------


def test_ohlc_valid(sample: pd.DataFrame) -> None:
    o, h, low, c = (sample[k].to_numpy() for k in ("open", "high", "low", "close"))
    assert (low > 0).all()
    assert (low <= np.minimum(o, c)).all()
    assert (h >= np.maximum(o, c)).all()
    v = sample["volume"].to_numpy()
    assert (v >= 0).all() and (v == np.floor(v)).all()
    assert np.isfinite(sample[["open", "high", "low", "close", "volume"]].to_numpy()).all()


@pytest.mark.parametrize(
    ("symbol", "tick", "decimals"),
    [
        ("USDJPY", 0.001, 3),
        ("EURUSD", 0.00001, 5),
        ("7203", 1.0, 0),
        ("AAPL", 0.01, 2),
        ("N225", 0.01, 2),
        ("SPX", 0.01, 2),
    ],
)
def test_prices_on_tick(sample: pd.DataFrame, symbol: str, tick: float, decimals: int) -> None:
    assert _inst(symbol).tick_size == tick
    prices = sample.loc[sample["symbol"] == symbol, ["open", "high", "low", "close"]].to_numpy()
    ticks = np.rint(prices * 10**decimals)
    # each price is the double nearest to its decimal value k / 10**d
    assert np.array_equal(prices, ticks / 10**decimals)
    assert np.array_equal(prices, np.round(prices, decimals))


def test_price_levels_are_plausible(sample: pd.DataFrame) -> None:
    for symbol, group in sample.groupby("symbol"):
        start = _inst(str(symbol)).start_price
        assert 0.3 * start < group["close"].median() < 3 * start, symbol


def test_daily_volatility_by_kind(gen: GeneratorSource) -> None:
    days = [D(2023, 1, 2) + dt.timedelta(days=i) for i in range(400)]
    for symbol, low, high in (("EURUSD", 0.003, 0.012), ("7203", 0.010, 0.030)):
        inst = _inst(symbol)
        levels = np.log([gen.daily_level(inst, d) for d in days])
        vol = np.diff(levels).std()
        assert low < vol < high, (symbol, vol)


def test_consecutive_sessions_join(gen: GeneratorSource) -> None:
    # FX: Tuesday opens where Monday closed (same level L(Tue))
    inst = _inst("EURUSD")
    mon, tue = gen.fetch(inst, D(2024, 3, 11)), gen.fetch(inst, D(2024, 3, 12))
    assert mon["close"].iloc[-1] == tue["open"].iloc[0]
    # within a session, each bar opens at the previous close
    assert (mon["open"].to_numpy()[1:] == mon["close"].to_numpy()[:-1]).all()


def test_u_shaped_volume(gen: GeneratorSource) -> None:
    days = sessions_in_range("XNYS", D(2024, 4, 1), D(2024, 4, 30))
    bars = gen.fetch_many([_inst("AAPL")], days)
    minute = bars.groupby("session_date").cumcount()
    by_minute = bars.groupby(minute)["volume"].mean()
    open_, mid, close = (
        by_minute.iloc[:15].mean(),
        by_minute.iloc[150:240].mean(),
        by_minute.iloc[-15:].mean(),
    )
    assert open_ > 2 * mid and close > 1.5 * mid


# --- sessions ---------------------------------------------------------------------------------


def test_bars_only_inside_sessions(sample: pd.DataFrame) -> None:
    for symbol, group in sample.groupby("symbol"):
        cal = _inst(str(symbol)).calendar
        for day, bars in group.groupby("session_date"):
            expected = expected_minute_bars(cal, day)
            assert pd.DatetimeIndex(bars["ts"]).equals(expected.rename(None)), (symbol, day)
        sessions = set(sessions_in_range(cal, WEEK[0], WEEK[-1]))
        assert set(group["session_date"]) == sessions


def test_session_date_matches_calendar(sample: pd.DataFrame) -> None:
    for symbol, group in sample.groupby("symbol"):
        cal = _inst(str(symbol)).calendar
        got = session_dates_of(cal, group["ts"], strict=True)
        assert list(got.astype(object)) == list(group["session_date"])


def test_xtks_lunch_break_has_no_bars(gen: GeneratorSource) -> None:
    bars = gen.fetch(_inst("7203"), D(2024, 3, 5))
    local = pd.DatetimeIndex(bars["ts"]).tz_convert("Asia/Tokyo")
    hhmm = local.hour * 100 + local.minute
    assert hhmm.min() == 900 and hhmm.max() == 1459
    assert not ((hhmm >= 1130) & (hhmm < 1230)).any()
    assert len(bars) == 300


def test_xtks_close_1530_after_nov_2024(gen: GeneratorSource) -> None:
    assert len(gen.fetch(_inst("7203"), D(2024, 11, 5))) == 330


@pytest.mark.parametrize("day", [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3)])
def test_tokyo_holiday_gives_no_bars(gen: GeneratorSource, day: dt.date) -> None:
    bars = gen.fetch(_inst("7203"), day)
    assert bars.empty and dict(bars.dtypes) == BAR_PANDAS_DTYPES
    assert gen.fetch(_inst("N225"), day).empty


def test_fx_weekend_empty_and_dst(gen: GeneratorSource) -> None:
    inst = _inst("USDJPY")
    assert gen.fetch_many([inst], [D(2024, 3, 9), D(2024, 3, 10)]).empty
    monday = gen.fetch(inst, D(2024, 3, 11))
    assert len(monday) == 1440
    assert monday["ts"].iloc[0] == pd.Timestamp("2024-03-10 21:00", tz="UTC")
    assert monday["ts"].iloc[-1] == pd.Timestamp("2024-03-11 20:59", tz="UTC")
    friday = gen.fetch(inst, D(2024, 3, 8))
    assert friday["ts"].iloc[0] == pd.Timestamp("2024-03-07 22:00", tz="UTC")
    assert (monday["session_date"] == D(2024, 3, 11)).all()


def test_unlisted_equity(gen: GeneratorSource) -> None:
    bars = gen.fetch(equity_instrument("1301"), D(2024, 3, 5))
    assert len(bars) == 300 and (bars["symbol"] == "1301").all()


# --- D1 ---------------------------------------------------------------------------------------


def test_d1_is_rollup_of_m1(gen: GeneratorSource) -> None:
    inst = _inst("7203")
    m1 = gen.fetch(inst, D(2024, 3, 5))
    d1 = gen.fetch(inst, D(2024, 3, 5), Timeframe.D1)
    assert len(d1) == 1
    row = d1.iloc[0]
    assert row["timeframe"] == "D1"
    assert row["ts"] == pd.Timestamp("2024-03-05 00:00", tz="UTC")
    assert row["open"] == m1["open"].iloc[0] and row["close"] == m1["close"].iloc[-1]
    assert row["high"] == m1["high"].max() and row["low"] == m1["low"].min()
    assert row["volume"] == m1["volume"].sum()
    assert to_arrow(d1).schema == BAR_ARROW_SCHEMA


def test_d1_base_timeframe_is_default(gen: GeneratorSource) -> None:
    import dataclasses

    inst = dataclasses.replace(_inst("AAPL"), base_timeframe=Timeframe.D1)
    bars = gen.fetch_many([inst], WEEK)
    assert list(bars["session_date"]) == sessions_in_range("XNYS", WEEK[0], WEEK[-1])
    assert (bars["timeframe"] == "D1").all()


CRYPTO = Instrument(
    symbol="BTCUSD", kind="crypto", calendar="24/7", currency="USD", start_price=65000.0,
    tick_size=0.01,
)  # fmt: skip


@pytest.mark.parametrize("symbol", ["7203", "AAPL", "USDJPY", "BTCUSD"])
@pytest.mark.parametrize("timeframe", ["M5", "M15", "M30", "H1", "H4", "W1", "MN1"])
def test_every_base_gives_the_calendars_labels_and_the_rollup_of_its_m1_path(
    gen: GeneratorSource, symbol: str, timeframe: str
) -> None:
    inst = CRYPTO if symbol == "BTCUSD" else _inst(symbol)
    days = [D(2024, 2, 26) + dt.timedelta(days=i) for i in range(14)]  # a month end, US DST
    bars = gen.fetch_many([inst], days, timeframe)
    assert (bars["timeframe"] == timeframe).all() and dict(bars.dtypes) == BAR_PANDAS_DTYPES
    expected = [(t, d) for d in days for t in expected_bar_labels(inst.calendar, timeframe, d)]
    assert list(zip(bars["ts"], bars["session_date"], strict=True)) == expected
    # Values are the M1 path's (its D1 path's for W1/MN1) over the bar's sessions and bucket.
    fine = "D1" if timeframe in ("W1", "MN1") else "M1"
    wider = [D(2024, 2, 1) + dt.timedelta(days=i) for i in range(60)]
    path = gen.fetch_many([inst], wider, fine)
    for row in bars.itertuples():
        if fine == "M1":
            size = pd.Timedelta(minutes=Timeframe.parse(timeframe).minutes or 1)
            part = path[(path["ts"] >= row.ts) & (path["ts"] < row.ts + size)]
        else:
            owner = [
                period_first_session(inst.calendar, timeframe, d) for d in path["session_date"]
            ]
            part = path[np.array([o == row.session_date for o in owner])]
        assert row.open == part["open"].iloc[0] and row.close == part["close"].iloc[-1]
        assert row.high == part["high"].max() and row.low == part["low"].min()
        assert row.volume == part["volume"].sum()


def test_fx_h4_bar_across_the_roll_needs_the_next_session(gen: GeneratorSource) -> None:
    monday = gen.fetch_many([_inst("USDJPY")], [D(2024, 1, 8)], "H4")
    last = monday.iloc[-1]
    assert last["ts"] == pd.Timestamp("2024-01-08 20:00", tz="UTC")
    m1 = gen.fetch_many([_inst("USDJPY")], [D(2024, 1, 8), D(2024, 1, 9)], "M1")
    bucket = m1[(m1["ts"] >= last["ts"]) & (m1["ts"] < last["ts"] + pd.Timedelta(hours=4))]
    assert set(bucket["session_date"]) == {D(2024, 1, 8), D(2024, 1, 9)}
    assert last["volume"] == bucket["volume"].sum()


def test_calendar_range_error_is_source_error(gen: GeneratorSource) -> None:
    with pytest.raises(SourceError, match="outside"):
        gen.fetch(_inst("7203"), D(1980, 1, 4))


def test_conflicting_instruments_rejected(gen: GeneratorSource) -> None:
    import dataclasses

    a = _inst("7203")
    b = dataclasses.replace(a, start_price=10.0)
    with pytest.raises(SourceError, match="two different instruments"):
        gen.fetch_many([a, b], WEEK)


# --- to_arrow and checksum --------------------------------------------------------------------


def test_checksum_survives_parquet_round_trip(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pq.write_table(to_arrow(sample), path)
    back = pq.read_table(path).to_pandas()
    assert frame_checksum(back) == frame_checksum(sample)
    pd.testing.assert_frame_equal(from_arrow(pq.read_table(path)), sample)

    # Parquet 1.0 stores microseconds; minute bars still hash the same
    old = tmp_path / "bars_v1.parquet"
    pq.write_table(to_arrow(sample), old, version="1.0", coerce_timestamps="us")
    assert frame_checksum(pq.read_table(old).to_pandas()) == frame_checksum(sample)


def test_checksum_ignores_row_order_and_sees_changes(sample: pd.DataFrame) -> None:
    base = frame_checksum(sample)
    assert len(base) == 64
    shuffled = sample.sample(frac=1.0, random_state=1)
    assert frame_checksum(shuffled) == base
    changed = sample.copy()
    changed.loc[10, "close"] = np.nextafter(changed.loc[10, "close"], np.inf)
    assert frame_checksum(changed) != base
    assert frame_checksum(sample.iloc[:-1]) != base
    renamed = sample.copy()
    renamed["source"] = "landing"
    assert frame_checksum(renamed) != base


def test_checksum_of_postgres_like_frame(sample: pd.DataFrame) -> None:
    """What a database read gives back: object strings, us timestamps, extra id column."""
    db = pd.DataFrame(
        {
            "id": np.arange(len(sample)),
            **{c: sample[c].astype(object) for c in ("symbol", "timeframe", "source")},
            "ts": sample["ts"].dt.as_unit("us").dt.tz_convert("Asia/Tokyo"),
            "session_date": pd.to_datetime(sample["session_date"].astype(str)),
            **{c: sample[c] for c in ("open", "high", "low", "close", "volume", "adj_factor")},
        }
    )
    assert frame_checksum(db) == frame_checksum(sample)
    pd.testing.assert_frame_equal(normalize_bars(db), sample)


def test_checksum_duplicate_keys_are_order_free(sample: pd.DataFrame) -> None:
    dup = concat_bars([sample.iloc[:3], sample.iloc[:3].assign(volume=7.0)])
    assert frame_checksum(dup) == frame_checksum(dup.iloc[::-1])


def _one_bar(**overrides: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "symbol": ["7203"],
        "timeframe": ["M1"],
        "ts": [pd.Timestamp("2024-03-05 00:00", tz="UTC")],
        "session_date": [D(2024, 3, 5)],
        "open": [1.0],
        "high": [2.0],
        "low": [0.5],
        "close": [1.5],
        "volume": [10],
        "adj_factor": [1.0],
        "source": ["landing"],
    }
    row.update({k: [v] for k, v in overrides.items()})
    return pd.DataFrame(row)


def test_to_arrow_accepts_int_volume_and_converts_timezones() -> None:
    t = to_arrow(_one_bar(ts=pd.Timestamp("2024-03-05 09:00", tz="Asia/Tokyo")))
    assert t.column("ts")[0].as_py() == dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    assert t.column("volume").type == pa.float64()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ts": pd.Timestamp("2024-03-05 00:00")}, "timezone-aware"),
        ({"ts": "2024-03-05T00:00Z"}, "timezone-aware"),
        ({"open": "1.0"}, "'open' must be numeric"),
        ({"volume": True}, "'volume' must be numeric"),
        ({"high": np.nan}, "'high' has 1 null"),
        ({"symbol": 7203}, "'symbol' must be strings"),
        ({"symbol": None}, "'symbol'"),
        ({"session_date": "2024-03-05"}, "session_date"),
        ({"session_date": pd.Timestamp("2024-03-05 12:00")}, "not midnight"),
        ({"volume": 2**60}, "'volume'"),
    ],
)
def test_to_arrow_rejects_wrong_types(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(BarSchemaError, match=message):
        to_arrow(_one_bar(**overrides))


def test_to_arrow_column_set() -> None:
    with pytest.raises(BarSchemaError, match="missing columns \\['adj_factor'\\]"):
        to_arrow(_one_bar().drop(columns=["adj_factor"]))
    with pytest.raises(BarSchemaError, match="unexpected columns \\['extra'\\]"):
        to_arrow(_one_bar().assign(extra=1))
    assert to_arrow(_one_bar().assign(extra=1), drop_extra=True).schema == BAR_ARROW_SCHEMA
