"""get_ohlcv's chain on real stores: Redis, then the database, then S3, with statistics."""

from __future__ import annotations

import datetime as dt

import pytest

from market_assets.read.reader import BarReader
from resources.cache_keys import snapshot_key
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from tests.integration.runs import materialize_range
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12), dt.date(2024, 3, 13)]


@pytest.fixture
def loaded(
    s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource
) -> BarReader:
    result = materialize_range(s3_store, postgres, redis_store, ["EURUSD"], DAYS[0], DAYS[-1])
    assert result.success
    return BarReader(postgres=postgres, redis=redis_store, s3=s3_store)


def test_latest_bars_come_from_redis_with_utc_index(loaded: BarReader) -> None:
    frame = loaded.get("EURUSD", "M1", last_n=1000)
    assert frame.attrs["layer"] == "redis"
    assert len(frame) == 1000 and str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing
    assert loaded.stats.redis_hit_rate == 1.0


def test_window_older_than_snapshot_comes_from_postgres(loaded: BarReader) -> None:
    start = dt.datetime(2024, 3, 10, 21, tzinfo=dt.UTC)
    frame = loaded.get("EURUSD", "M1", start=start, end=start + dt.timedelta(hours=1))
    assert frame.attrs["layer"] == "postgres"
    assert len(frame) == 60


def test_cache_miss_is_filled_from_postgres(loaded: BarReader) -> None:
    assert loaded.redis is not None
    loaded.redis.delete(snapshot_key("EURUSD", "H1", loaded.redis.key_prefix))
    first = loaded.get("EURUSD", "H1", last_n=10)
    second = loaded.get("EURUSD", "H1", last_n=10)
    assert (first.attrs["layer"], second.attrs["layer"]) == ("postgres", "redis")
    assert first.equals(second)
    assert loaded.stats.answered == {"postgres": 1, "redis": 1}


def test_rows_gone_from_the_database_come_from_s3(loaded: BarReader, db: DbTarget) -> None:
    with db.connect() as conn:
        conn.execute("DELETE FROM ohlcv_bars WHERE session_date = %s", (DAYS[0],))
    start = dt.datetime(2024, 3, 10, 21, tzinfo=dt.UTC)
    frame = loaded.get("EURUSD", "M1", start=start, end=start + dt.timedelta(hours=2))
    assert frame.attrs["layer"] == "s3"
    assert len(frame) == 120


def test_database_down_falls_back_to_s3(loaded: BarReader) -> None:
    broken = BarReader(
        postgres=PostgresResource(url="postgresql://x:y@127.0.0.1:1/db", connect_timeout_s=1),
        redis=None,
        s3=loaded.s3,
    )
    start = dt.datetime(2024, 3, 11, 21, tzinfo=dt.UTC)
    frame = broken.get("EURUSD", "M1", start=start, end=start + dt.timedelta(minutes=30))
    assert frame.attrs["layer"] == "s3" and len(frame) == 30
    # the skipped store is counted and named, not hidden
    assert broken.stats.as_dict()["skipped_postgres"] == 1
    assert [store for store, _ in broken.skipped] == ["postgres"]
    assert "127.0.0.1:1" in broken.skipped[0][1] and ":y@" not in broken.skipped[0][1]


def test_a_window_without_rows_is_an_empty_answer_not_an_error(loaded: BarReader) -> None:
    start = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)  # a weekend: no FX session, no rows
    frame = loaded.get("EURUSD", "M1", start=start, end=start + dt.timedelta(hours=2))
    assert frame.empty and frame.attrs["layer"] == "none"
    assert loaded.skipped == []
