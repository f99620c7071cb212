"""Stores failing mid-backfill: loud failures naming the store, convergence after recovery.

These tests stop and restart servers of their own (not the session's), so they are marked
`faults` and bounded in time.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from market_assets.assets.ohlcv import OHLCV_ASSETS
from market_assets.checks import evaluation as ev
from market_assets.devstack.seaweed import SeaweedServer
from market_assets.partitions import BarPartition, partition_key
from resources.errors import StoreUnavailableError
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(300)]

DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12)]
SYMBOLS = ["USDJPY", "EURUSD"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(s3: S3Resource, postgres: PostgresResource, redis: RedisResource):  # type: ignore[no-untyped-def]
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", SYMBOLS)
    return materialize(
        OHLCV_ASSETS,
        instance=instance,
        resources={"s3": s3, "postgres": postgres, "redis": redis, "sources": BarSourcesResource()},
        tags={
            "dagster/asset_partition_range_start": str(partition_key(DAYS[0], SYMBOLS[0])),
            "dagster/asset_partition_range_end": str(partition_key(DAYS[-1], SYMBOLS[-1])),
        },
        raise_on_error=False,
    )


def _failure_messages(result) -> str:  # type: ignore[no-untyped-def]
    """What the failed attempts said (the retry policy retries the step before it fails)."""
    return " ".join(
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.event_type_value in ("STEP_FAILURE", "STEP_UP_FOR_RETRY")
        and getattr(e.event_specific_data, "error", None) is not None
    )


def _converged(s3: S3Resource, postgres: PostgresResource) -> bool:
    parts = [BarPartition(d, s) for d in DAYS for s in SYMBOLS]
    batch = ev.load_batch(s3, parts)
    return (
        not batch.missing_objects
        and ev.check_unique(batch).passed
        and ev.check_s3_db_reconciliation(batch, postgres).passed
    )


def test_redis_down_fails_only_the_snapshot_step(
    s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource, db: DbTarget
) -> None:
    down = RedisResource(url=f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout_s=1)
    result = _run(s3_store, postgres, down)
    assert not result.success
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert failed == {"bar_snapshots"}
    assert "Redis at 127.0.0.1" in _failure_messages(result)
    assert _converged(s3_store, postgres)  # S3 and database writes are intact
    # Redis back: the rerun rebuilds the snapshots and changes nothing else.
    assert _run(s3_store, postgres, redis_store).success
    assert _converged(s3_store, postgres)


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path / "weed", "faultkey", "faultsecret").start()
    server.ensure_bucket("faults")
    yield server
    server.stop()


def test_s3_down_mid_backfill_fails_loudly_and_rerun_converges(
    own_s3: SeaweedServer, postgres: PostgresResource, redis_store: RedisResource, db: DbTarget
) -> None:
    s3 = S3Resource(
        bucket="faults",
        endpoint_url=own_s3.endpoint_url,
        access_key_id="faultkey",
        secret_access_key="faultsecret",
        connect_timeout_s=2,
        request_timeout_s=5,
    )
    assert _run(s3, postgres, redis_store).success
    own_s3.stop()
    result = _run(s3, postgres, redis_store)
    assert not result.success
    assert "S3 at 127.0.0.1" in _failure_messages(result)
    own_s3.start()  # same folder, same ports: the data survives
    assert _run(s3, postgres, redis_store).success
    assert _converged(s3, postgres)


def test_database_down_fails_fast_with_its_address(s3_store: S3Resource) -> None:
    down = PostgresResource(
        url=f"postgresql://w:pw@127.0.0.1:{_closed_port()}/x", connect_timeout_s=2
    )
    with pytest.raises(StoreUnavailableError, match=r"PostgreSQL at 127\.0\.0\.1"):
        with down.transaction():
            pass
