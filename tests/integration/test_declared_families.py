"""Families declared in a universe file of the user's own, on the embedded stack.

A month-grain family of H1/H4 bases holds a 24/7 crypto pair: one run over `2024-02|BTCUSD`
materializes raw bars (one S3 object for the month, written by the conditional-PUT path the
year objects use), db bars, the rollups of the coarser timeframes and the Redis snapshot, every
check passing, the bars bit for bit the same in S3 and the database; the next month is a second
object and leaves February's alone. A weekdays M1 family's partition keys (as Dagster lists
them) hold no Saturday or Sunday, and its Monday key holds the FX session that opened on
Sunday evening New York time. An hourly landing file of a declared family's symbol runs in
that family, from the family's own start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance, instance_for_test, materialize

from market_assets.composition import landing_store
from market_assets.core.bars import from_arrow
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, default_universe
from market_assets.defs.ohlcv.family_assets import FamilyAssets, build_family_assets
from market_assets.defs.ohlcv.partitions import family_partitions
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.snapshots import decode
from market_assets.operations.backfill import run_family_backfill
from market_assets.operations.landing import process_pending
from resources.cache_keys import snapshot_key
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from resources.sources.resource import BarSourcesResource
from tests.plugins.stores import DbTarget, store_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PRICES = ["open", "high", "low", "close", "volume"]
FAMILIES = [
    {"name": "hourly", "bases": ["H1", "H4"], "grain": "month", "start": "2024-01-01"},
    {"name": "fx_m1", "bases": ["M1"], "grain": "day", "start": "2024-01-01", "days": "weekdays"},
]
CRYPTO = {
    "symbol": "BTCUSD",
    "kind": "crypto",
    "calendar": "24/7",
    "currency": "USD",
    "start_price": 43000.0,
    "tick_size": 0.01,
    "base_timeframe": "H1",
    "family": "hourly",
}


@pytest.fixture(autouse=True)
def own_universe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == "EURUSD":
            entry["family"] = "fx_m1"
    document["families"] = FAMILIES
    document["instruments"].append(CRYPTO)
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


def _family(name: str) -> FamilyAssets:
    family = next(f for f in default_universe().families if f.name == name)
    return build_family_assets(family, family_partitions(family))


def _run(
    built: FamilyAssets,
    key: str,
    instance: DagsterInstance,
    s3: S3Resource,
    postgres: PostgresResource,
    redis: RedisResource,
) -> None:
    run = materialize(
        built.assets,
        instance=instance,
        resources={"s3": s3, "postgres": postgres, "redis": redis, "sources": BarSourcesResource()},
        tags={
            "dagster/asset_partition_range_start": key,
            "dagster/asset_partition_range_end": key,
        },
        raise_on_error=False,
    )
    assert run.success, key
    assert sorted(
        {str(e.asset_key.path[-1]) for e in run.get_asset_materialization_events()}
    ) == sorted(a.key.path[-1] for a in built.assets)
    evaluations = run.get_asset_check_evaluations()
    assert evaluations and [e for e in evaluations if not e.passed] == []


def _etag(s3: S3Resource, key: str) -> str:
    return str(s3.client().head_object(Bucket=s3.bucket, Key=s3.full_key(key))["ETag"])


def _bits(frame: pd.DataFrame) -> np.ndarray:
    return frame[PRICES].to_numpy("float64").view(np.int64)


def test_a_month_partition_of_a_24_7_h1_family_end_to_end(
    instance: DagsterInstance,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    built = _family("hourly")
    assert default_universe().get("BTCUSD").family is built.family
    instance.add_dynamic_partitions("hourly_symbols", ["BTCUSD"])
    _run(built, "2024-02|BTCUSD", instance, s3_store, postgres, redis_store)

    february = "ohlcv/timeframe=H1/month=2024-02/symbol=BTCUSD/bars.parquet"
    assert [o.key for o in s3_store.list_objects("ohlcv/timeframe=H1/")] == [february]
    in_s3 = from_arrow(s3_store.read_many([february])).set_index("ts").sort_index()
    hours = pd.date_range("2024-02-01", "2024-02-29 23:00", freq="h", tz="UTC")
    assert list(pd.DatetimeIndex(in_s3.index)) == list(hours)  # 29 UTC days, midnight to 23:00
    assert set(in_s3["session_date"]) == {d.date() for d in hours}
    with postgres.connection() as conn:
        stored = read_bars(conn, "BTCUSD", "H1")
        h4 = read_bars(conn, "BTCUSD", "H4")
        conn.rollback()
    assert list(pd.DatetimeIndex(stored.index)) == list(hours)
    assert np.array_equal(_bits(stored), _bits(in_s3))
    assert len(h4) == 29 * 6  # the rollups asset refreshed the coarser timeframe
    snapshot = decode(
        redis_store.client().get(snapshot_key("BTCUSD", "H1", redis_store.key_prefix))
    )
    assert pd.Timestamp(snapshot.index[-1]) == hours[-1]
    before = _etag(s3_store, february)

    _run(built, "2024-03|BTCUSD", instance, s3_store, postgres, redis_store)
    after = sorted(o.key for o in s3_store.list_objects("ohlcv/timeframe=H1/"))
    assert after == [february, february.replace("2024-02", "2024-03")]
    assert _etag(s3_store, february) == before  # March is its own object


def test_a_weekdays_m1_familys_keys_hold_no_weekend_and_monday_holds_sundays_open(
    instance: DagsterInstance,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    built = _family("fx_m1")
    assert default_universe().get("EURUSD").family is built.family
    instance.add_dynamic_partitions("fx_m1_symbols", ["EURUSD"])
    keys = built.partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    dates = [dt.date.fromisoformat(str(k).split("|")[0]) for k in keys]
    assert dates and {d.weekday() for d in dates} == {0, 1, 2, 3, 4}  # no Saturday, no Sunday
    assert len(keys) == built.family.keys_per_symbol(dt.datetime.now(dt.UTC).date())
    assert "2024-03-09|EURUSD" not in {str(k) for k in keys}

    _run(built, "2024-03-11|EURUSD", instance, s3_store, postgres, redis_store)
    monday = "ohlcv/timeframe=M1/date=2024-03-11/symbol=EURUSD/bars.parquet"
    assert [o.key for o in s3_store.list_objects("ohlcv/timeframe=M1/")] == [monday]
    bars = from_arrow(s3_store.read_many([monday])).sort_values("ts")
    assert len(bars) == 24 * 60
    assert pd.Timestamp(bars["ts"].iloc[0]) == pd.Timestamp("2024-03-10 21:00", tz="UTC")  # Sunday
    assert set(bars["session_date"]) == {dt.date(2024, 3, 11)}


HOURLY_VENDOR = {
    "hourly_fx": {
        "timezone": "UTC",
        "timeframe": "H1",
        "columns": {"symbol": "pair", "timestamp": "time", **{c: c for c in PRICES}},
    }
}


def test_an_hourly_file_lands_in_its_declared_family_from_the_familys_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: DagsterInstance,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    """`landing process`'s service with a declared month family (H1 from 2018): the file's
    January sessions run as one `2018-01|USDJPY` run of that family, the Friday before the
    start is quarantined with the family's reason (the intraday family starts earlier here, so
    only the family's own start refuses it)."""
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == "USDJPY":
            entry.update(base_timeframe="H1", source="landing", family="fx_h1")
    document["families"] = [
        {"name": "fx_h1", "bases": ["H1"], "grain": "month", "start": "2018-01-01"}
    ]
    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    vendors = tmp_path / "vendors.yaml"
    vendors.write_text(yaml.safe_dump({"version": 1, "vendors": HOURLY_VENDOR}), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    monkeypatch.setenv("MARKET_ASSETS_LANDING_VENDORS", str(vendors))
    monkeypatch.setenv("MARKET_ASSETS_INTRADAY_START", "2017-01-01")
    for name, value in store_environment(db.writer_url, db.schema, redis_store, s3_store).items():
        monkeypatch.setenv(name, str(value))
    built = _family("fx_h1")
    days = [dt.date(2017, 12, 29), *(dt.date(2018, 1, d) for d in range(1, 6))]  # Fri, Mon..Fri
    bars = GeneratorSource().fetch_many([default_universe().get("USDJPY")], days)
    assert set(bars["session_date"]) == set(days)
    frame = pd.DataFrame({"pair": "USDJPY", "time": bars["ts"], **{c: bars[c] for c in PRICES}})
    key = "landing/hourly_fx/USDJPY_H1.csv"
    s3_store.client().put_object(
        Bucket=s3_store.bucket, Key=s3_store.full_key(key), Body=frame.to_csv(index=False).encode()
    )
    claimed, runs = process_pending(
        instance, [], landing_store(), postgres, (), {"fx_h1": built.assets}
    )
    assert [c.error for c in claimed] == [None]
    assert [(built.family.date_key(r.window.start), r.success) for r in runs.runs] == [
        ("2018-01", True)
    ]
    assert instance.get_dynamic_partitions("fx_h1_symbols") == ["USDJPY"]
    assert "USDJPY" not in instance.get_dynamic_partitions("symbols")
    january = "ohlcv/timeframe=H1/month=2018-01/symbol=USDJPY/bars.parquet"
    assert [o.key for o in s3_store.list_objects("ohlcv/timeframe=H1/")] == [january]
    stored = from_arrow(s3_store.read_many([january]))
    assert sorted(set(stored["session_date"])) == days[1:]
    assert len(stored) == 5 * 24
    with postgres.connection() as conn:
        reasons = conn.execute(
            "SELECT DISTINCT reason FROM quarantine WHERE asset = 'landing' AND symbol = 'USDJPY'"
        ).fetchall()
        conn.rollback()
    assert reasons == [("session before the start 2018-01-01 of family fx_h1",)]


def test_a_backfill_of_a_weekdays_family_over_a_weekend(
    monkeypatch: pytest.MonkeyPatch,
    instance: DagsterInstance,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    """`backfill --family fx_m1`'s service from a Saturday to a Monday: one run over the
    family's keys in that range (Monday only: no weekend key), its session stored."""
    for name, value in store_environment(db.writer_url, db.schema, redis_store, s3_store).items():
        monkeypatch.setenv(name, str(value))
    built = _family("fx_m1")
    outcomes = run_family_backfill(
        instance,
        built.assets,
        built.family,
        dt.date(2024, 3, 9),
        dt.date(2024, 3, 11),
        ["EURUSD", "7203"],  # 7203 is another family's: skipped
    )
    assert [(w.start, w.end, w.first_symbol, ok) for w, ok in outcomes] == [
        (dt.date(2024, 3, 11), dt.date(2024, 3, 11), "EURUSD", True)
    ]
    assert [o.key for o in s3_store.list_objects("ohlcv/timeframe=M1/")] == [
        "ohlcv/timeframe=M1/date=2024-03-11/symbol=EURUSD/bars.parquet"
    ]


def test_a_24_7_members_schedule_requests_the_month_of_yesterdays_utc_session(
    instance: DagsterInstance, postgres: PostgresResource
) -> None:
    """00:15 UTC on 1 March: the 24/7 session of 29 February has closed; its month is
    requested for the family's registered 24/7 symbols."""
    from dagster import build_schedule_context

    from market_assets.defs.ohlcv.daily_schedules import family_schedules

    built = _family("hourly")
    [schedule] = [s for s in family_schedules(built) if s.name == "cal_24_7_hourly"]
    when = dt.datetime(2024, 3, 1, 0, 15, tzinfo=dt.UTC)

    def tick() -> list:  # type: ignore[type-arg]
        with build_schedule_context(
            instance=instance, scheduled_execution_time=when, resources={"postgres": postgres}
        ) as context:
            return list(schedule(context))

    [skip] = tick()
    assert "no active 24/7 hourly-family symbol is registered" in str(skip.skip_message)
    instance.add_dynamic_partitions("hourly_symbols", ["BTCUSD"])
    [request] = tick()
    assert request.tags["dagster/asset_partition_range_start"] == "2024-02|BTCUSD"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-02|BTCUSD"


def test_freshness_checks_keep_a_declared_familys_symbols(
    instance: DagsterInstance, postgres: PostgresResource
) -> None:
    """A symbol moved to a declared family left the `symbols` set, not its market's freshness
    deadline: the checks' symbols include the declared families' sets."""
    from market_assets.defs.ohlcv.freshness_checks import scheduled_registered_symbols
    from market_assets.quality.freshness import market_symbols

    instance.add_dynamic_partitions("symbols", ["USDJPY"])
    assert "EURUSD" not in scheduled_registered_symbols(instance, postgres)
    instance.add_dynamic_partitions("fx_m1_symbols", ["EURUSD"])
    wanted = scheduled_registered_symbols(instance, postgres)
    assert set(market_symbols(wanted, "FX24X5")) == {"USDJPY", "EURUSD"}
