"""The three store resources against real servers: round trips and failing loudly and fast."""

from __future__ import annotations

import socket
import time

import pandas as pd
import pyarrow as pa
import pytest

from resources.errors import StoreUnavailableError
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _closed_port() -> int:
    """A port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- PostgreSQL ------------------------------------------------------------------------------
def test_postgres_detects_plain_dialect(postgres: PostgresResource) -> None:
    caps = postgres.capabilities()
    assert caps.dialect == "postgres"
    assert not caps.timescaledb
    assert postgres.health()["address"].startswith(("127.0.0.1", "localhost"))


@pytest.mark.parametrize("mode", ["copy", "unnest"])
def test_postgres_staging_round_trip(postgres: PostgresResource, mode: str) -> None:
    resource = postgres.model_copy(update={"bulk_mode": mode})
    frame = pd.DataFrame(
        {
            "symbol": ["7203", "7203"],
            "ts": pd.to_datetime(["2024-01-04T00:00:00Z", "2024-01-04T00:01:00Z"]),
            "close": [2500.5, float("nan")],
        }
    )
    with resource.transaction() as conn:
        n = resource.load_staging(
            conn, "stage_test", frame, {"symbol": "text", "ts": "timestamptz", "close": "float8"}
        )
        rows = conn.execute("SELECT symbol, ts, close FROM stage_test ORDER BY ts").fetchall()
    assert n == 2
    assert rows[0][0] == "7203" and rows[0][2] == 2500.5
    assert rows[1][2] is None  # NaN arrives as NULL, where NOT NULL constraints refuse it
    resource.close()


def test_postgres_staging_refuses_unknown_types(postgres: PostgresResource) -> None:
    with (
        postgres.transaction() as conn,
        pytest.raises(ValueError, match="unsupported staging type"),
    ):
        postgres.load_staging(conn, "stage_bad", pd.DataFrame({"a": [1]}), {"a": "int; DROP"})


def test_postgres_statement_timeout_is_set(postgres: PostgresResource) -> None:
    with postgres.connection() as conn:
        value = conn.execute("SHOW statement_timeout").fetchone()
    assert value is not None and value[0] != "0"


def test_postgres_down_fails_fast_naming_the_address() -> None:
    port = _closed_port()
    resource = PostgresResource(
        url=f"postgresql://ma_writer:secret-pw@127.0.0.1:{port}/market", connect_timeout_s=2
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        with resource.connection():
            pass
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in str(info.value) and "PostgreSQL" in str(info.value)
    assert "secret-pw" not in str(info.value)
    resource.close()


# -- Redis -----------------------------------------------------------------------------------
def test_redis_snapshot_put_get_ttl(redis_store: RedisResource) -> None:
    key = f"{redis_store.key_prefix}ohlcv:USDJPY:M1"
    redis_store.put_snapshot(key, b"\x00payload", f"{key}:info", {"bars": 1}, ttl_s=120)
    assert redis_store.get_snapshot(key) == b"\x00payload"
    assert redis_store.get_info(f"{key}:info") == {"bars": 1}
    assert 0 < redis_store.ttl(key) <= 120
    with pytest.raises(ValueError):
        redis_store.put_snapshot(key, b"x", f"{key}:info", {}, ttl_s=0)


def test_redis_invalidate_pattern_only_touches_matches(redis_store: RedisResource) -> None:
    p = redis_store.key_prefix
    for key in ("master:company:7203", "master:company:6758", "master:table:SECTOR17"):
        redis_store.put_json(f"{p}{key}", {"k": key}, ttl_s=60)
    assert redis_store.invalidate("master:company:*") == 2
    assert redis_store.get_json(f"{p}master:table:SECTOR17") == {"k": "master:table:SECTOR17"}


def test_redis_down_fails_fast_naming_the_address() -> None:
    port = _closed_port()
    resource = RedisResource(url=f"redis://:secret-pw@127.0.0.1:{port}/0", socket_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        resource.ping()
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in str(info.value) and "secret-pw" not in str(info.value)


# -- S3 --------------------------------------------------------------------------------------
def test_s3_parquet_round_trip_list_delete(s3_store: S3Resource) -> None:
    table = pa.table({"ts": pa.array([1, 2, 3], pa.int64()), "close": [1.0, 2.0, 3.0]})
    key = "ohlcv/timeframe=M1/date=2024-01-05/symbol=7203/part-0.parquet"
    info = s3_store.write_parquet(key, table, metadata={"checksum": "abc"})
    assert info.size > 0
    back = s3_store.read_parquet(key)
    assert back.column("close").to_pylist() == [1.0, 2.0, 3.0]
    assert back.schema.metadata[b"checksum"] == b"abc"
    assert [o.key for o in s3_store.list_objects("ohlcv/timeframe=M1/")] == [key]
    assert s3_store.exists(key)
    assert s3_store.delete_prefix("ohlcv/timeframe=M1/date=2024-01-05/") == 1
    assert not s3_store.exists(key)


def test_s3_failed_write_leaves_previous_object(
    s3_store: S3Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "ohlcv/timeframe=M1/date=2024-01-05/symbol=6758/part-0.parquet"
    s3_store.write_parquet(key, pa.table({"v": [1]}))

    def half_then_fail(table: pa.Table, sink: pa.NativeFile, **_: object) -> None:
        sink.write(b"PAR1 half a file")
        raise OSError("disk full while serialising")

    monkeypatch.setattr("resources.s3.pq.write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        s3_store.write_parquet(key, pa.table({"v": [2]}))
    monkeypatch.undo()
    assert s3_store.read_parquet(key).column("v").to_pylist() == [1]


def test_s3_key_refuses_parent_segments(s3_store: S3Resource) -> None:
    with pytest.raises(ValueError):
        s3_store.full_key("ohlcv/../../etc/passwd")


def test_s3_down_fails_fast_naming_the_address() -> None:
    port = _closed_port()
    resource = S3Resource(
        bucket="b",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="k",
        secret_access_key="secret-key-value",
        connect_timeout_s=2,
        request_timeout_s=3,
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        resource.health()
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in str(info.value) and "secret-key-value" not in str(info.value)
