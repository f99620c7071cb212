"""Stores failing mid-backfill: loud failures naming the store, convergence after recovery.

These tests stop and restart servers of their own (not the session's), so they are marked
`faults` and bounded in time.
"""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from dagster import DagsterInstance, materialize

from market_assets.core.partition_keys import BarPartition, partition_key
from market_assets.core.run_plan import RunWindow
from market_assets.core.universe import Instrument
from market_assets.db import bootstrap, migrate
from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from market_assets.devstack.postgres import PostgresServer
from market_assets.devstack.seaweed import SeaweedServer
from market_assets.quality import evaluation as ev
from resources.errors import StoreUnavailableError
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.base import BarSource
from resources.sources.generator import GeneratorSource
from resources.sources.resource import BarSourcesResource
from tests.integration.convergence import (
    db_state,
    divergent_partitions,
    expected_state,
    s3_state,
    sessions,
)
from tests.plugins.stores import TEST_DATABASE, TEST_PASSWORDS, DbTarget, PgCluster, new_schema

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


# --- PostgreSQL stopped in the middle of a backfill -------------------------------------------

PG_DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12), dt.date(2024, 3, 13)]


@dataclass
class OwnPostgres:
    server: PostgresServer
    db: DbTarget
    writer: PostgresResource


@pytest.fixture
def own_pg(devstack_state_dir: Path) -> Iterator[OwnPostgres]:
    """A PostgreSQL of this test only: stopping it cannot break the session's other tests."""
    server = PostgresServer(devstack_state_dir, secrets.token_urlsafe(12), durable=False).start()
    try:
        bootstrap.ensure_roles(server.admin_url, TEST_PASSWORDS)
        bootstrap.ensure_database(server.admin_url, TEST_DATABASE, bootstrap.OWNER)
        admin = bootstrap.with_credentials(
            server.admin_url, "postgres", server.password, database=TEST_DATABASE
        )
        bootstrap.ensure_extensions(admin)
        schema = new_schema("fault")
        bootstrap.ensure_schema(admin, schema)
        cluster = PgCluster(admin_url=admin)
        dialect = migrate.upgrade(cluster.owner_url, schema)
        db = DbTarget(cluster=cluster, schema=schema, dialect=dialect)
        writer = PostgresResource(url=db.writer_url, schema_name=schema, connect_timeout_s=2)
        yield OwnPostgres(server, db, writer)
        writer.close()
    finally:
        server.stop()


class _Tripwire(BarSource):
    """The generator, but the first fetch after arming runs `action` (stops the database).

    raw_bars fetches before it writes anything, so the batch's S3 objects are written while
    the database is already down: the run is caught between its two stores.
    """

    name: ClassVar[str] = "generator"
    action: ClassVar[Callable[[], None] | None] = None

    def __init__(self) -> None:
        self.inner = GeneratorSource()

    def fetch_many(self, instruments, session_dates, timeframe=None):  # type: ignore[no-untyped-def]
        action, _Tripwire.action = _Tripwire.action, None
        if action is not None:
            action()
        return self.inner.fetch_many(instruments, session_dates, timeframe)


class _TripwireSources(BarSourcesResource):
    def source_for(self, instrument: Instrument) -> BarSource:
        return _Tripwire()


def _backfill(s3: S3Resource, postgres: PostgresResource, redis: RedisResource):  # type: ignore[no-untyped-def]
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", SYMBOLS)
    return materialize(
        OHLCV_ASSETS,
        instance=instance,
        resources={"s3": s3, "postgres": postgres, "redis": redis, "sources": _TripwireSources()},
        tags=RunWindow(PG_DAYS[0], PG_DAYS[-1], SYMBOLS[0], SYMBOLS[-1]).range_tags(),
        raise_on_error=False,
    )


def test_postgres_down_mid_backfill_fails_loudly_and_rerun_converges(
    own_pg: OwnPostgres, s3_store: S3Resource, redis_store: RedisResource
) -> None:
    parts = sessions(PG_DAYS, SYMBOLS)
    _Tripwire.action = own_pg.server.stop
    try:
        failed = _backfill(s3_store, own_pg.writer, redis_store)
    finally:
        _Tripwire.action = None
    assert not failed.success
    messages = _failure_messages(failed)
    assert "PostgreSQL at 127.0.0.1" in messages
    retried = [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried, "a store outage is retried under STORE_RETRY before the run fails"
    assert not own_pg.server.is_running()

    own_pg.server.start()  # same data folder and port
    # The S3 objects of the interrupted batch are whole (written atomically) and the database
    # holds none of its rows: nothing half-done is visible.
    assert {str(p.key): s3_state(s3_store, p) for p in parts} == {
        str(p.key): expected_state(p) for p in parts
    }
    assert all(db_state(own_pg.writer, p).rows == 0 for p in parts)

    # The same resource reconnects; re-running the backfill converges, twice over.
    for _ in range(2):
        assert _backfill(s3_store, own_pg.writer, redis_store).success
        assert divergent_partitions(s3_store, own_pg.writer, parts) == {}
    with own_pg.writer.connection() as conn:
        (rows,) = conn.execute("SELECT count(*) FROM ohlcv_bars").fetchone() or (0,)
    assert rows == sum(expected_state(p).rows for p in parts)


def test_postgres_back_within_the_retry_policy_lets_the_same_run_succeed(
    own_pg: OwnPostgres, s3_store: S3Resource, redis_store: RedisResource
) -> None:
    """A short outage needs no re-run: STORE_RETRY retries the step until the database is back.

    The database is away for longer than the pool waits for a connection (so the first
    attempt fails with the store's name) and back well inside the policy's retries (2, 4 and
    8 s apart); the test asserts the outcome, not how long it took.
    """

    done = threading.Event()

    def restart_and_stay() -> None:
        # The server dies with the thread that started it (parent-death signal), so this
        # thread lives until the test is over.
        time.sleep(own_pg.writer.connect_timeout_s + 4)
        own_pg.server.start()
        done.wait(timeout=240)

    def blip() -> None:
        own_pg.server.stop()
        threading.Thread(target=restart_and_stay, daemon=True).start()

    _Tripwire.action = blip
    try:
        result = _backfill(s3_store, own_pg.writer, redis_store)
        retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert retried and "PostgreSQL at 127.0.0.1" in _failure_messages(result)
        assert result.success
        assert divergent_partitions(s3_store, own_pg.writer, sessions(PG_DAYS, SYMBOLS)) == {}
    finally:
        _Tripwire.action = None
        own_pg.writer.close()
        own_pg.server.stop()  # from the thread that started it would not matter: it is ours
        done.set()
