"""Markets beyond Tokyo, New York and FX: a 24/7 crypto pair and a London equity, declared in a
universe file of the user's own (MARKET_ASSETS_UNIVERSE), through every asset and check.

The crypto pair's sessions are UTC days, weekends included, its volume fractional; it must
round-trip bit for bit from the source through S3 and the database to the Redis snapshot. The
London equity follows exchange_calendars' XLON calendar (Good Friday closed, DST in late March).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from market_assets.core.storage_layout import raw_object_key
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, UniverseError, default_universe
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.snapshots import decode
from resources.cache_keys import snapshot_key
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from tests.integration.runs import materialize_range

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FIRST, LAST = dt.date(2024, 3, 29), dt.date(2024, 3, 31)  # Good Friday .. Sunday, month-end
CRYPTO = {
    "symbol": "BTCUSD",
    "name": "Bitcoin / US dollar",
    "kind": "crypto",
    "calendar": "24/7",
    "currency": "USD",
    "start_price": 65000.0,
    "tick_size": 0.01,
}
LONDON = {
    "symbol": "VOD.L",
    "name": "Vodafone Group",
    "kind": "equity",
    "calendar": "XLON",
    "currency": "GBP",
    "start_price": 70.0,
    "tick_size": 0.01,
}


@pytest.fixture
def own_universe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    document["instruments"] += [CRYPTO, LONDON]
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    return path


def test_a_users_universe_file_replaces_the_packaged_one(own_universe: Path) -> None:
    universe = default_universe()
    assert universe.get("BTCUSD").calendar == "24/7"
    assert universe.get("VOD.L").calendar == "XLON"


def test_a_bad_universe_file_fails_naming_file_entry_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    document["instruments"].append({**CRYPTO, "calendar": "XMARS"})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    with pytest.raises(UniverseError) as err:
        default_universe()
    assert str(path) in str(err.value)
    assert "BTCUSD" in str(err.value) and "unknown calendar 'XMARS'" in str(err.value)


def test_crypto_and_london_round_trip_through_every_asset_and_check(
    own_universe: Path,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    result = materialize_range(s3_store, postgres, redis_store, ["BTCUSD", "VOD.L"], FIRST, LAST)
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []

    volumes = []
    for offset in range(3):
        day = FIRST + dt.timedelta(days=offset)
        key = s3_store.full_key(raw_object_key("M1", day, "BTCUSD"))
        table = pq.read_table(s3_store.filesystem().open_input_file(f"{s3_store.bucket}/{key}"))
        assert table.num_rows == 1440  # a UTC day, weekend or not
        ts = table.column("ts").to_pandas()
        assert ts.min() == pd.Timestamp(day, tz="UTC") and ts.dt.date.nunique() == 1
        volumes.append(table.column("volume").to_numpy())
    s3_volume = np.concatenate(volumes)
    assert (s3_volume != np.floor(s3_volume)).any()  # fractional coins

    with postgres.connection() as conn:
        stored = read_bars(conn, "BTCUSD", Timeframe.M1)
        london = read_bars(conn, "VOD.L", Timeframe.M1)
        conn.rollback()
    assert np.array_equal(stored["volume"].to_numpy(), s3_volume)  # bit for bit
    assert london.empty  # Good Friday and a weekend: London had no session

    payload = redis_store.client().get(snapshot_key("BTCUSD", "M1", redis_store.key_prefix))
    snapshot = decode(payload)
    tail = stored.iloc[-len(snapshot) :]
    assert np.array_equal(snapshot["volume"].to_numpy(), tail["volume"].to_numpy())
