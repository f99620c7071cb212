"""A read that no store could answer raises one error naming each store; "no rows" does not.

The stores are the real resource classes pointed at ports nobody listens on (refused at once),
so no server is needed.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket

import pytest

from market_assets.read import ReadUnavailableError
from market_assets.read.reader import BarReader
from resources.errors import StoreUnavailableError
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource

SECRET = "not-to-be-printed-7f3a"
START = dt.datetime(2024, 3, 11, 21, tzinfo=dt.UTC)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres() -> PostgresResource:
    return PostgresResource(
        url=f"postgresql://ma_reader:{SECRET}@127.0.0.1:{_closed_port()}/market",
        connect_timeout_s=1,
    )


def _redis() -> RedisResource:
    return RedisResource(url=f"redis://:{SECRET}@127.0.0.1:{_closed_port()}/0")


def _s3() -> S3Resource:
    return S3Resource(
        bucket="market-data",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        access_key_id="key",
        secret_access_key=SECRET,
        connect_timeout_s=1,
    )


def test_every_store_down_raises_one_error_naming_each(caplog: pytest.LogCaptureFixture) -> None:
    reader = BarReader(postgres=_postgres(), redis=_redis(), s3=_s3())
    caplog.set_level(logging.WARNING, logger="market_assets.read.reader")
    try:
        with pytest.raises(ReadUnavailableError) as raised:
            reader.get("EURUSD", "M1", start=START, end=START + dt.timedelta(hours=1))
    finally:
        reader.close()
    error = raised.value
    assert isinstance(error, StoreUnavailableError)
    assert [store for store, _ in error.failures] == ["redis", "postgres", "s3"]
    message = str(error)
    assert "EURUSD M1" in message and "\n" not in message
    for store in ("redis:", "postgres:", "s3:"):
        assert store in message
    assert SECRET not in message
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "market_assets.read.reader" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 3 and all(w.startswith("read: skipping ") for w in warnings)
    assert not any(SECRET in w for w in warnings)
    stats = reader.stats.as_dict()
    assert (stats["skipped_redis"], stats["skipped_postgres"], stats["skipped_s3"]) == (1, 1, 1)
    assert "answered_by_none" not in stats
    assert [store for store, _ in reader.skipped] == ["redis", "postgres", "s3"]


def test_latest_bars_with_redis_and_database_down_raise() -> None:
    """`--last N` never reaches S3 (it needs a start): the two stores tried both failed."""
    reader = BarReader(postgres=_postgres(), redis=_redis(), s3=_s3())
    try:
        with pytest.raises(ReadUnavailableError) as raised:
            reader.get("USDJPY", "H1", last_n=5)
    finally:
        reader.close()
    assert [store for store, _ in raised.value.failures] == ["redis", "postgres"]
    assert reader.stats.as_dict()["skipped_s3"] == 0


def test_no_store_configured_is_an_empty_answer_not_an_error() -> None:
    reader = BarReader(postgres=None, redis=None, s3=None)
    frame = reader.get("USDJPY", "H1", last_n=5)
    assert frame.empty and frame.attrs["layer"] == "none"
    assert reader.stats.as_dict()["skipped_postgres"] == 0
