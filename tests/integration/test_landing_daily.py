"""A daily CSV of one US stock from 2004 to 2013 lands in the daily family on the embedded stack.

The file (XNYS, D1 base, a vendor mapping of its own via MARKET_ASSETS_LANDING_VENDORS, the
symbol in a universe file via MARKET_ASSETS_UNIVERSE) was quarantined row by row before
families ("time outside the partitioned range 2020-01-01.."). Now the landing sensor registers
the symbol in `daily_symbols` only and requests one daily-family run per year; the runs store
one S3 object per year and the bars round-trip bit for bit through S3, the database and Redis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dagster import (
    DagsterInstance,
    SensorResult,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from market_assets.composition import landing_store
from market_assets.core.bars import from_arrow
from market_assets.core.calendars import session_bounds, sessions_in_range
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH
from market_assets.defs.ohlcv.daily_family import DAILY_ASSETS
from market_assets.defs.ohlcv.sensors import landing_files_sensor
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.snapshots import decode
from market_assets.operations.landing import process_pending
from resources.cache_keys import snapshot_key
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource
from tests.plugins.stores import DbTarget, store_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PRICES = ["open", "high", "low", "close", "volume"]
YEARS = [str(y) for y in range(2004, 2014)]
VENDOR = {
    "us_daily": {
        "timezone": "America/New_York",
        "timeframe": "D1",
        "columns": {"symbol": "ticker", "date": "Date", **{c: c.capitalize() for c in PRICES}},
    }
}


@pytest.fixture(autouse=True)
def us_stock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    document["instruments"].append(
        {
            "symbol": "IBM",
            "name": "IBM",
            "kind": "equity",
            "calendar": "XNYS",
            "currency": "USD",
            "start_price": 90.0,
            "tick_size": 0.01,
            "base_timeframe": "D1",
            "source": "landing",
        }
    )
    universe = tmp_path / "universe.yaml"
    universe.write_text(yaml.safe_dump(document), encoding="utf-8")
    vendors = tmp_path / "vendors.yaml"
    vendors.write_text(yaml.safe_dump({"version": 1, "vendors": VENDOR}), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(universe))
    monkeypatch.setenv("MARKET_ASSETS_LANDING_VENDORS", str(vendors))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


def _file() -> pd.DataFrame:
    days = sessions_in_range("XNYS", "2004-01-01", "2013-12-31")
    rng = np.random.default_rng(2004)
    close = 90.0 + np.round(np.cumsum(rng.normal(0, 0.8, len(days))), 2)
    return pd.DataFrame(
        {
            "ticker": "IBM",
            "Date": [d.isoformat() for d in days],
            "Open": close - 0.37,
            "High": close + 1.13,
            "Low": close - 1.29,
            "Close": close,
            "Volume": 1_000_000.5 + np.arange(len(days)) * 17.25,
        }
    )


def test_a_2004_daily_csv_lands_in_the_daily_family_and_round_trips(
    instance: DagsterInstance,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    frame = _file()
    s3_store.client().put_object(
        Bucket=s3_store.bucket,
        Key=s3_store.full_key("landing/us_daily/IBM.csv"),
        Body=frame.to_csv(index=False).encode(),
    )
    resources = {"s3": s3_store, "postgres": postgres}
    with build_sensor_context(instance=instance, resources=resources) as context:
        result = landing_files_sensor(context)
    assert isinstance(result, SensorResult)
    requests = list(result.run_requests or [])
    assert [r.tags["dagster/asset_partition_range_start"] for r in requests] == [
        f"{y}|IBM" for y in YEARS
    ]
    assert {r.job_name for r in requests} == {"ohlcv_daily_family"}
    for add in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
    assert instance.get_dynamic_partitions("daily_symbols") == ["IBM"]
    assert "IBM" not in instance.get_dynamic_partitions("symbols")

    run_resources = {
        "s3": s3_store,
        "postgres": postgres,
        "redis": redis_store,
        "sources": BarSourcesResource(landing_s3=s3_store),
    }
    for request in requests:
        run = materialize(
            DAILY_ASSETS,
            instance=instance,
            resources=run_resources,
            tags=request.tags,
            raise_on_error=False,
        )
        assert run.success, request.tags
        failed = [e for e in run.get_asset_check_evaluations() if not e.passed]
        assert failed == []

    days = [dt.date.fromisoformat(d) for d in frame["Date"]]
    want = pd.DataFrame(
        {c: frame[c.capitalize()].to_numpy() for c in PRICES},
        index=pd.DatetimeIndex([session_bounds("XNYS", d)[0] for d in days]),  # type: ignore[index]
    )
    objects = sorted(o.key for o in s3_store.list_objects("ohlcv/timeframe=D1/"))
    assert objects == [f"ohlcv/timeframe=D1/year={y}/symbol=IBM/bars.parquet" for y in YEARS]
    in_s3 = from_arrow(s3_store.read_many(objects)).set_index("ts").sort_index()
    with postgres.connection() as conn:
        stored = read_bars(conn, "IBM", "D1")
        conn.rollback()
    for got in (in_s3, stored):
        assert list(pd.DatetimeIndex(got.index)) == list(want.index)
        assert np.array_equal(
            got[PRICES].to_numpy("float64").view(np.int64), want.to_numpy("float64").view(np.int64)
        )
    snapshot = decode(redis_store.client().get(snapshot_key("IBM", "D1", redis_store.key_prefix)))
    tail = want.iloc[-len(snapshot) :]
    assert np.array_equal(
        snapshot[PRICES].to_numpy("float64").view(np.int64), tail.to_numpy("float64").view(np.int64)
    )


def test_landing_process_runs_a_daily_file_in_the_daily_family(
    monkeypatch: pytest.MonkeyPatch,
    instance: DagsterInstance,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    """`market-assets landing process`'s service: the file's two years, one daily-job run."""
    for name, value in store_environment(db.writer_url, db.schema, redis_store, s3_store).items():
        monkeypatch.setenv(name, str(value))
    from market_assets.cli.code_location import daily_assets, ohlcv_assets

    frame = _file()
    frame = frame[frame["Date"] < "2006-01-01"]
    s3_store.client().put_object(
        Bucket=s3_store.bucket,
        Key=s3_store.full_key("landing/us_daily/IBM.csv"),
        Body=frame.to_csv(index=False).encode(),
    )
    claimed, runs = process_pending(
        instance, ohlcv_assets(), landing_store(), postgres, daily_assets()
    )
    assert [c.error for c in claimed] == [None]
    assert [(r.window.start.year, r.window.end.year, r.success) for r in runs.runs] == [
        (2004, 2004, True),
        (2005, 2005, True),
    ]
    with postgres.connection() as conn:
        stored = read_bars(conn, "IBM", "D1")
        conn.rollback()
    assert len(stored) == len(frame)
