"""The column-wise binary COPY encoder and the append-only path of `replace_partitions`,
on the real PostgreSQL server (values read back from the server, counts checked per
partition)."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import numpy as np
import pandas as pd
import psycopg
import pytest

from market_assets.core.universe import default_universe
from market_assets.ohlcv.bar_store import replace_partitions
from resources.pg_binary import binary_copy_payload
from resources.postgres import PostgresResource
from resources.sources.generator import GeneratorSource
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TYPES = {
    "name": "text",
    "price": "float8",
    "n8": "int8",
    "n4": "int4",
    "flag": "bool",
    "day": "date",
    "ts": "timestamptz",
}


def _awkward_frame() -> pd.DataFrame:
    """Values that break naive encoders: unicode and empty text, NULLs of every type,
    dates and times before PostgreSQL's 2000 epoch, the float extremes."""
    return pd.DataFrame(
        {
            "name": ["USDJPY", "", "日経225", None, "7203"],
            "price": [0.1 + 0.2, -0.0, np.nan, 1.7976931348623157e308, 5e-324],
            "n8": pd.array([2**62, -1, None, 0, 7], dtype="Int64"),
            "n4": pd.array([2**31 - 1, -(2**31), 0, None, 1], dtype="Int32"),
            "flag": pd.array([True, False, None, True, False], dtype="boolean"),
            "day": [
                dt.date(2024, 3, 11),
                dt.date(1999, 12, 31),
                None,
                dt.date(1970, 1, 1),
                dt.date(2200, 1, 1),
            ],
            "ts": pd.to_datetime(
                [
                    "2024-03-11T00:00:00.123456Z",
                    "1999-12-31T23:59:59.999999Z",
                    None,
                    "1970-01-01T00:00:00Z",
                    "2199-12-31T23:59:00Z",
                ],
                utc=True,
                format="ISO8601",
            ).astype("datetime64[ns, UTC]"),
        }
    )


@pytest.mark.parametrize("mode", ["copy", "unnest"])
def test_staged_values_are_exact_and_nan_becomes_null(
    postgres: PostgresResource, mode: str
) -> None:
    resource = postgres.model_copy(update={"bulk_mode": mode})
    frame = _awkward_frame()
    frame["i"] = range(len(frame))
    with resource.transaction() as conn:
        n = resource.load_staging(conn, "stage_awkward", frame, {"i": "int4", **TYPES})
        rows = conn.execute(
            "SELECT name, price, n8, n4, flag, day, ts FROM stage_awkward ORDER BY i"
        ).fetchall()
    resource.close()
    assert n == len(frame)
    for got, (_, want) in zip(rows, frame.iterrows(), strict=True):
        name, price, n8, n4, flag, day, ts = got
        assert name == (None if pd.isna(want["name"]) else want["name"])
        if math.isnan(want["price"]):
            assert price is None  # NaN is never stored; NOT NULL columns refuse the NULL
        else:
            assert price == want["price"] and math.copysign(1, price) == math.copysign(
                1, want["price"]
            )
        assert n8 == (None if pd.isna(want["n8"]) else int(want["n8"]))
        assert n4 == (None if pd.isna(want["n4"]) else int(want["n4"]))
        assert flag == (None if pd.isna(want["flag"]) else bool(want["flag"]))
        assert day == (None if pd.isna(want["day"]) else want["day"])
        assert ts == (None if pd.isna(want["ts"]) else want["ts"].to_pydatetime())


@pytest.mark.parametrize("mode", ["copy", "unnest"])
def test_sub_microsecond_timestamps_are_refused_not_truncated(
    postgres: PostgresResource, mode: str
) -> None:
    resource = postgres.model_copy(update={"bulk_mode": mode})
    frame = pd.DataFrame({"ts": pd.to_datetime(["2024-03-11T00:00:00.000000001Z"], utc=True)})
    with resource.transaction() as conn, pytest.raises(ValueError, match="sub-microsecond"):
        resource.load_staging(conn, "stage_ns", frame, {"ts": "timestamptz"})
    resource.close()


def test_naive_timestamps_are_refused_for_timestamptz() -> None:
    frame = pd.DataFrame({"ts": pd.to_datetime(["2024-03-11T00:00:00"])})
    with pytest.raises(ValueError, match="naive"):
        binary_copy_payload(frame, {"ts": "timestamptz"})


def _bars(symbols: list[str], days: list[dt.date]) -> pd.DataFrame:
    universe = default_universe()
    return GeneratorSource().fetch_many([universe.resolve(s) for s in symbols], days)


def _parts(symbols: list[str], days: list[dt.date]) -> list[tuple[str, str, dt.date]]:
    return [(s, "M1", d) for s in symbols for d in days]


def _stored(db: DbTarget) -> pd.DataFrame:
    with db.connect() as conn:
        cur = conn.execute(
            "SELECT symbol, session_date, ts, close FROM ohlcv_bars ORDER BY symbol, ts"
        )
        return pd.DataFrame(cur.fetchall(), columns=["symbol", "session_date", "ts", "close"])


DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12)]


def test_empty_partitions_are_appended_with_exact_counts(
    postgres: PostgresResource, db: DbTarget
) -> None:
    bars = _bars(["USDJPY", "7203"], DAYS)
    stats = replace_partitions(postgres, bars, _parts(["USDJPY", "7203"], DAYS))
    assert stats.appended_partitions == 4
    want = bars.groupby(["symbol", "session_date"]).size()
    assert dict(stats.inserted) == {(str(s), d): int(n) for (s, d), n in want.items()}
    assert not stats.revised and not stats.deleted
    stored = _stored(db)
    assert len(stored) == len(bars)
    assert not stored.duplicated(["symbol", "ts"]).any()


def test_mixed_batch_appends_new_and_replaces_existing_partitions(
    postgres: PostgresResource, db: DbTarget
) -> None:
    first = _bars(["USDJPY"], DAYS[:1])
    replace_partitions(postgres, first, _parts(["USDJPY"], DAYS[:1]))

    bars = _bars(["USDJPY"], DAYS)
    old_day = bars["session_date"] == DAYS[0]
    # The source now has 5 bars fewer on the stored day and one revised close.
    drop = bars.index[old_day][-5:]
    revised = bars.index[old_day][0]
    bars = bars.drop(index=drop)
    bars.loc[revised, "close"] = bars.loc[revised, "high"]
    bars.loc[revised, "open"] = bars.loc[revised, "low"]
    stats = replace_partitions(postgres, bars, _parts(["USDJPY"], DAYS))

    assert stats.appended_partitions == 1
    new_rows = int((bars["session_date"] == DAYS[1]).sum())
    # Counter equality ignores zero counts (the stored day inserted none).
    assert stats.inserted == Counter({("USDJPY", DAYS[1]): new_rows})
    assert stats.deleted == Counter({("USDJPY", DAYS[0]): 5})
    assert stats.revised == Counter({("USDJPY", DAYS[0]): 1})
    stored = _stored(db)
    assert len(stored) == len(bars)
    assert set(stored["ts"]) == set(bars["ts"].dt.to_pydatetime())


def test_rerun_over_stored_partitions_counts_nothing_and_removes_missing_rows(
    postgres: PostgresResource, db: DbTarget
) -> None:
    bars = _bars(["7203"], DAYS)
    parts = _parts(["7203"], DAYS)
    replace_partitions(postgres, bars, parts)
    again = replace_partitions(postgres, bars, parts)
    assert again.appended_partitions == 0
    assert not +again.inserted and not +again.revised and not +again.deleted

    # The source lost a whole session: its partition empties, the other stays intact.
    kept = bars[bars["session_date"] == DAYS[1]]
    stats = replace_partitions(postgres, kept, parts)
    gone = int((bars["session_date"] == DAYS[0]).sum())
    assert stats.deleted == Counter({("7203", DAYS[0]): gone})
    assert len(_stored(db)) == len(kept)


def test_nan_price_fails_the_batch_and_stores_nothing(
    postgres: PostgresResource, db: DbTarget
) -> None:
    bars = _bars(["USDJPY"], DAYS[:1])
    bars.loc[bars.index[3], "close"] = np.nan
    with pytest.raises(psycopg.errors.NotNullViolation, match="close"):
        replace_partitions(postgres, bars, _parts(["USDJPY"], DAYS[:1]))
    assert _stored(db).empty


def test_partition_filled_concurrently_falls_back_to_the_upsert(
    postgres: PostgresResource, db: DbTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe said 'empty' but the rows are there by the time of the append (another
    writer): the batch is redone through the upsert from a savepoint, counts stay exact."""
    import market_assets.ohlcv.bar_store as bar_store

    bars = _bars(["USDJPY"], DAYS[:1])
    parts = _parts(["USDJPY"], DAYS[:1])
    replace_partitions(postgres, bars, parts)
    monkeypatch.setattr(bar_store, "_stored", lambda conn, partitions: set())
    stats = replace_partitions(postgres, bars, parts)
    assert stats.appended_partitions == 0
    assert not +stats.inserted and not +stats.revised and not +stats.deleted
    assert len(_stored(db)) == len(bars)


def test_a_pool_of_one_loads_without_waiting_for_itself(db: DbTarget) -> None:
    """The PGlite server allows one connection, so its resource has a pool of one: the bulk
    path must detect the server's capabilities on the connection it holds, not a second one
    (which would wait for the first forever)."""
    single = PostgresResource(
        url=db.writer_url, schema_name=db.schema, pool_max_size=1, connect_timeout_s=3
    )
    try:
        bars = _bars(["USDJPY"], DAYS[:1])
        stats = replace_partitions(single, bars, _parts(["USDJPY"], DAYS[:1]))
        assert sum(stats.inserted.values()) == len(bars)
    finally:
        single.close()


def test_adjustment_events_are_replaced_with_their_partitions(
    postgres: PostgresResource,
) -> None:
    from market_assets.ohlcv.adjustment_store import events_after

    bars = _bars(["7203"], DAYS)
    split = bars.copy()
    split.loc[split["session_date"] == DAYS[1], "adj_factor"] = 0.5
    stats = replace_partitions(postgres, split, _parts(["7203"], DAYS))
    assert stats.adjustment_events == 1
    with postgres.connection() as conn:
        assert events_after(conn, "7203", DAYS[0])["factor"].tolist() == [0.5]
    again = replace_partitions(postgres, bars, _parts(["7203"], DAYS))
    assert again.adjustment_events == 0
    with postgres.connection() as conn:
        assert events_after(conn, "7203", DAYS[0]).empty


def test_bars_table_keeps_only_its_primary_key(db: DbTarget) -> None:
    """Migration 0007: one index per bar row (load speed); partitions are found by ts window."""
    with db.connect() as conn:
        indexes = {
            name
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes"
                " WHERE schemaname = %s AND tablename = 'ohlcv_bars'",
                (db.schema,),
            ).fetchall()
        }
    assert indexes == {"ohlcv_bars_pkey"}


def test_rows_stored_under_a_date_that_is_no_longer_a_session_are_still_replaced(
    postgres: PostgresResource, db: DbTarget
) -> None:
    """A holiday added to the calendar after bars were stored: the calendar-free window still
    finds that partition's rows, so re-materialising it (now empty) deletes them."""
    holiday = dt.date(2024, 3, 16)  # a Saturday: no XTKS session
    bars = _bars(["7203"], DAYS[:1])
    shifted = bars.head(5).copy()
    shifted["ts"] = shifted["ts"] + pd.Timedelta(days=5)
    shifted["session_date"] = holiday
    replace_partitions(postgres, pd.concat([bars, shifted]), _parts(["7203"], [DAYS[0], holiday]))
    assert (_stored(db)["session_date"] == holiday).sum() == 5

    stats = replace_partitions(postgres, bars.iloc[0:0], _parts(["7203"], [holiday]))
    assert stats.deleted == Counter({("7203", holiday): 5})
    stored = _stored(db)
    assert (stored["session_date"] == holiday).sum() == 0
    assert len(stored) == len(bars)


def test_one_load_may_replace_more_partitions_than_the_lock_table_holds(
    postgres: PostgresResource, db: DbTarget
) -> None:
    """A year of 240 daily symbols is 60,000 partitions in one transaction: a lock per session
    overflowed PostgreSQL's shared lock table (max_locks_per_transaction 64 x max_connections:
    "out of shared memory"); one lock per symbol, timeframe and year takes 240."""
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(250)]
    symbols = ["USDJPY", "7203"]
    bars = _bars(symbols, days[:2])
    parts = [(s, "M1", d) for s in symbols for d in days]
    parts += [(f"X{i:03d}", "D1", d) for i in range(238) for d in days]
    assert len(parts) == 60_000
    stats = replace_partitions(postgres, bars, parts)
    assert stats.rows == len(bars)
    assert len(_stored(db)) == len(bars)
