"""Landing files of other bases on the embedded stack: an hourly FX CSV labelled by its bars'
closes lands as the H1 base, its checks pass (weekend included) and its bars round-trip bit for
bit through S3, the database (H1 = the file's bars; H4 and D1 their rollups) and Redis; the same
file without one mid-week hour fails continuity. A 24/7 crypto file of daily or month-end-dated
monthly bars with fractional volume round-trips bit for bit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
import yaml

from market_assets.core.bars import from_arrow
from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import object_key_for, raw_object_key
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, default_universe
from market_assets.db import bootstrap, migrate
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.collect import collect_partitions, record_outcomes
from market_assets.ohlcv.landing_ledger import (
    discover_new_files,
    partitions_of,
    record_files,
    record_rejected,
)
from market_assets.ohlcv.load import load_partitions_from_s3
from market_assets.ohlcv.publish import publish_symbols
from market_assets.ohlcv.rollups import refresh_rollups
from market_assets.ohlcv.snapshots import decode
from market_assets.quality import evaluation as ev
from market_assets.quality.expectations import validate_bars
from resources.cache_keys import snapshot_key
from resources.postgres import PostgresResource, conninfo_for
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from resources.sources.landing import LandingSource, S3FileStore
from tests.integration.sources import OneSource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WEEK = [dt.date(2024, 3, 11) + dt.timedelta(days=i) for i in range(7)]  # Mon .. Sun
PRICES = ["open", "high", "low", "close", "volume"]
VENDORS = {
    "hourly_fx": {
        "timezone": "UTC",
        "timeframe": "H1",
        "label": "close",
        "columns": {"symbol": "pair", "timestamp": "time", **{c: c for c in PRICES}},
    },
    "crypto_daily": {
        "timezone": "UTC",
        "timeframe": "D1",
        "columns": {"symbol": "pair", "date": "day", **{c: c for c in PRICES}},
    },
    "crypto_monthly": {
        "timezone": "UTC",
        "timeframe": "MN1",
        "label": "period_end",
        "columns": {"symbol": "pair", "date": "month_end", **{c: c for c in PRICES}},
    },
}
CRYPTO = {
    "kind": "crypto",
    "calendar": "24/7",
    "currency": "USD",
    "start_price": 65000.0,
    "tick_size": 0.01,
    "source": "landing",
}


@pytest.fixture(autouse=True)
def bases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == "EURUSD":
            entry.update(base_timeframe="H1", source="landing")
    document["instruments"] += [
        {**CRYPTO, "symbol": "BTCUSD", "base_timeframe": "D1"},
        {**CRYPTO, "symbol": "ETHUSD", "base_timeframe": "MN1"},
    ]
    universe = tmp_path / "universe.yaml"
    universe.write_text(yaml.safe_dump(document), encoding="utf-8")
    vendors = tmp_path / "vendors.yaml"
    vendors.write_text(yaml.safe_dump({"version": 1, "vendors": VENDORS}), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(universe))
    monkeypatch.setenv("MARKET_ASSETS_LANDING_VENDORS", str(vendors))


@pytest.fixture(params=["postgres", pytest.param("timescale", marks=pytest.mark.timescale)])
def database(request: pytest.FixtureRequest) -> Iterator[PostgresResource]:
    """The pipeline's database on either dialect (TimescaleDB: the PGlite server, one
    connection at a time)."""
    if request.param == "postgres":
        yield request.getfixturevalue("postgres")
        return
    url = request.getfixturevalue("timescale_url")
    bootstrap.ensure_extensions(url, ("timescaledb",))
    schema = f"tsl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo_for(url), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
    migrate.upgrade(url, schema)
    resource = PostgresResource(url=url, schema_name=schema, pool_max_size=1)
    # Asked first: with a pool of one, the bulk path cannot open a second connection to ask.
    assert resource.capabilities().dialect == "timescale"
    assert resource.effective_bulk_mode() == "unnest"
    yield resource
    resource.close()
    with psycopg.connect(conninfo_for(url), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(psycopg.sql.Identifier(schema))
        )


def _land(s3: S3Resource, postgres: PostgresResource, key: str, body: bytes) -> list[BarPartition]:
    """Upload, discover, run raw_bars + db_bars over the file's partitions, as the sensor does."""
    s3.client().put_object(Bucket=s3.bucket, Key=s3.full_key(key), Body=body)
    new = [f for f in discover_new_files(s3, postgres) if f.key == key]
    assert len(new) == 1
    parts = [BarPartition(d, s) for d, s in partitions_of(new[0])]
    with postgres.transaction() as conn:
        record_files(conn, new, "discovered", run_id="bases-test")
    source = LandingSource(S3FileStore(s3), keys=[key])
    outcomes = collect_partitions(parts, OneSource(source), s3, run_id="bases-test")  # type: ignore[arg-type]
    record_outcomes(postgres, outcomes, run_id="bases-test")
    record_rejected(postgres, [source], run_id="bases-test")
    assert not source.rejected
    load_partitions_from_s3(s3, postgres, [o.partition for o in outcomes], "bases-test")
    with postgres.transaction() as conn:
        record_files(conn, new, "processed", run_id="bases-test")
    refresh_rollups(postgres, parts)
    return parts


def _bits(frame: pd.DataFrame) -> np.ndarray:
    return frame[PRICES].to_numpy("float64").view(np.int64)


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(pd.DatetimeIndex(got.index)) == list(pd.DatetimeIndex(want["ts"]))
    assert np.array_equal(_bits(got), _bits(want))


def _hourly() -> pd.DataFrame:
    return GeneratorSource().fetch_many([default_universe().get("EURUSD")], WEEK)


def _csv(bars: pd.DataFrame, column: str, stamp: pd.Series) -> bytes:
    out = pd.DataFrame({"pair": bars["symbol"], column: stamp, **{c: bars[c] for c in PRICES}})
    return out.to_csv(index=False).encode()


def _checks(s3: S3Resource, parts: list[BarPartition]) -> tuple[ev.CheckOutcome, ...]:
    batch = ev.load_batch(s3, parts)
    return (
        ev.check_contract(batch),
        ev.check_ohlc_sanity(batch),
        ev.check_unique(batch),
        ev.check_continuity(batch),
        ev.check_row_counts(batch),
        _suite(batch),
    )


def _suite(batch: ev.BatchData) -> ev.CheckOutcome:
    result = validate_bars(batch.s3_bars, batch.parts)
    return ev.CheckOutcome("raw_bars", "expectation_suite", result.success)


def test_an_hourly_fx_file_lands_as_its_h1_base_and_round_trips(
    s3_store: S3Resource, database: PostgresResource, redis_store: RedisResource
) -> None:
    postgres = database
    bars = _hourly()
    closes = (bars["ts"] + pd.Timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = _land(s3_store, postgres, "landing/hourly_fx/EURUSD_H1.csv", _csv(bars, "time", closes))
    assert sorted({p.session_date for p in parts}) == WEEK[:5]  # Monday .. Friday sessions
    weekend = [BarPartition(d, "EURUSD") for d in WEEK[5:]]
    outcomes = _checks(s3_store, parts + weekend)
    assert [o.name for o in outcomes if not o.passed] == []
    assert outcomes[3].figures["expected_bars"] == len(bars) == 5 * 24

    in_s3 = from_arrow(s3_store.read_many([raw_object_key("H1", d, "EURUSD") for d in WEEK[:5]]))
    _same(in_s3.set_index("ts"), bars)
    assert (in_s3["timeframe"] == "H1").all()

    universe = default_universe()
    gen = GeneratorSource()
    with postgres.connection() as conn:
        _same(read_bars(conn, "EURUSD", "H1"), bars)
        for tf in ("H4", "D1"):  # rollups of the file's hours = the generator's own H4 / D1
            want = gen.fetch_many([universe.get("EURUSD")], WEEK, tf)
            _same(read_bars(conn, "EURUSD", tf), want)
        with pytest.raises(ValueError, match="EURUSD has base timeframe H1: M1 is finer"):
            read_bars(conn, "EURUSD", "M1")
        conn.rollback()

    published = publish_symbols(postgres, redis_store, ["EURUSD"], 2000)
    assert published["snapshots"] == 5  # H1, H4, D1, W1, MN1
    client = redis_store.client()
    snapshot = decode(client.get(snapshot_key("EURUSD", "H1", redis_store.key_prefix)))
    assert np.array_equal(snapshot[PRICES].to_numpy().view(np.int64), _bits(bars))
    assert client.get(snapshot_key("EURUSD", "M1", redis_store.key_prefix)) is None
    assert ev.check_snapshot_reconciliation(["EURUSD"], postgres, redis_store).passed


def test_the_hourly_file_without_one_mid_week_hour_fails_continuity(
    s3_store: S3Resource, database: PostgresResource
) -> None:
    postgres = database
    bars = _hourly()
    gap = pd.Timestamp("2024-03-13 10:00", tz="UTC")
    gappy = bars[bars["ts"] != gap].reset_index(drop=True)
    closes = (gappy["ts"] + pd.Timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = _land(
        s3_store, postgres, "landing/hourly_fx/EURUSD_gap.csv", _csv(gappy, "time", closes)
    )
    outcomes = {o.name: o for o in _checks(s3_store, parts)}
    continuity = next(o for name, o in outcomes.items() if "continuity" in name)
    assert not continuity.passed
    assert continuity.failing == {
        BarPartition(dt.date(2024, 3, 13), "EURUSD"): {"missing": 1, "outside": 0}
    }


@pytest.mark.parametrize(
    ("symbol", "vendor", "column", "stamps"),
    [
        ("BTCUSD", "crypto_daily", "day", pd.date_range("2024-01-29", "2024-02-02")),
        (
            "ETHUSD",
            "crypto_monthly",
            "month_end",
            pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31"]),
        ),
    ],
)
def test_a_crypto_file_with_fractional_volume_round_trips_bit_for_bit(
    s3_store: S3Resource,
    database: PostgresResource,
    redis_store: RedisResource,
    symbol: str,
    vendor: str,
    column: str,
    stamps: pd.DatetimeIndex,
) -> None:
    postgres = database
    n = len(stamps)
    rng = np.random.default_rng(7)
    close = 65000.0 + np.round(rng.normal(0, 500, n), 2)
    bars = pd.DataFrame(
        {
            "symbol": symbol,
            "open": close - 10.5,
            "high": close + 250.25,
            "low": close - 300.75,
            "close": close,
            "volume": 0.12345678 + np.arange(n) * 1234.56789012,
        }
    )
    body = _csv(bars, column, pd.Series(stamps.strftime("%Y-%m-%d")))
    parts = _land(s3_store, postgres, f"landing/{vendor}/{symbol}.csv", body)
    firsts = [d.date().replace(day=1) if vendor == "crypto_monthly" else d.date() for d in stamps]
    assert sorted(p.session_date for p in parts) == firsts  # month-end dates: the 1st's session
    assert [o.name for o in _checks(s3_store, parts) if not o.passed] == []
    want = bars.assign(ts=pd.DatetimeIndex([pd.Timestamp(d, tz="UTC") for d in firsts]))

    tf = "MN1" if vendor == "crypto_monthly" else "D1"
    family = default_universe().get(symbol).family
    objects = sorted({object_key_for(family, tf, d, symbol) for d in firsts})
    assert objects == [f"ohlcv/timeframe={tf}/year=2024/symbol={symbol}/bars.parquet"]
    in_s3 = from_arrow(s3_store.read_many(objects))
    _same(in_s3.set_index("ts"), want)
    with postgres.connection() as conn:
        stored = read_bars(conn, symbol, tf)
        conn.rollback()
    _same(stored, want)
    assert stored["volume"].iloc[0] == 0.12345678
    publish_symbols(postgres, redis_store, [symbol], 2000)
    snapshot = decode(redis_store.client().get(snapshot_key(symbol, tf, redis_store.key_prefix)))
    assert np.array_equal(snapshot[PRICES].to_numpy().view(np.int64), _bits(want))
