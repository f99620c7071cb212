"""The instance's event log (dagster.yaml) on a real PostgreSQL: batched planned events that
read back exactly as dagster-postgres's own rows do.

A ranged run through `materialize` makes Dagster hand the storage its planned events as one
batch, as the daemon does for a backfill run. What must hold: one planned row per asset and
partition (not one per asset, which is what Dagster's subset shortcut writes), the UI's
partition status (in progress while running, materialised after success, failed after a
failed run), and the asset's latest run.
"""

from __future__ import annotations

import os
import secrets
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    EventRecordsFilter,
    asset,
    materialize,
)
from dagster._core.storage.partition_status_cache import AssetPartitionStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._core.test_utils import instance_for_test
from psycopg import sql

from market_assets.devstack.postgres import PostgresServer
from market_assets.operations.event_log_storage import (
    BATCH_SIZE_VARIABLE,
    BatchingPostgresEventLogStorage,
    enable_event_batching,
)
from resources.postgres import conninfo_for

pytestmark = pytest.mark.integration

DAYS = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11")
KEYS = DAYS.get_partition_keys()
RANGE = {ASSET_PARTITION_RANGE_START_TAG: KEYS[0], ASSET_PARTITION_RANGE_END_TAG: KEYS[-1]}


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
def bars(context) -> None:  # type: ignore[no-untyped-def]
    assert len(context.partition_keys) == len(KEYS)


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run(), deps=[bars])
def rollups(context) -> None:  # type: ignore[no-untyped-def]
    if context.run.tags.get("fail") == "yes":
        raise RuntimeError("the rollup server went away")


@pytest.fixture
def instance(pg_admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    monkeypatch.setenv(BATCH_SIZE_VARIABLE, "5000")  # restored after the test
    batches: list[int] = []
    store = BatchingPostgresEventLogStorage._store_planned_batch

    def counted(self, events):  # type: ignore[no-untyped-def]
        batches.append(len(events))
        return store(self, events)

    monkeypatch.setattr(BatchingPostgresEventLogStorage, "_store_planned_batch", counted)
    database = f"dagster_events_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo_for(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    base = pg_admin_url.rsplit("/", 1)[0]
    overrides = _storages(f"{base}/{database}")
    try:
        with instance_for_test(overrides=overrides) as inst:
            inst.planned_batches = batches  # type: ignore[attr-defined]
            yield inst
    finally:
        with psycopg.connect(conninfo_for(pg_admin_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


def _storages(url: str) -> dict[str, dict[str, object]]:
    storage = {"postgres_url": url.replace("postgresql://", "postgresql+psycopg2://", 1)}
    return {
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": storage,
        },
        "event_log_storage": {
            "module": "market_assets.operations.event_log_storage",
            "class": "BatchingPostgresEventLogStorage",
            "config": storage,
        },
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
    }


def _planned(instance: DagsterInstance, key: str) -> list[str | None]:
    records = instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=AssetKey(key))
    )
    return sorted(r.partition_key for r in records if r.partition_key is not None)


def inst_batches(instance: DagsterInstance) -> list[int]:
    return instance.planned_batches  # type: ignore[attr-defined,no-any-return]


def test_the_storage_turns_batching_on_unless_the_deployment_chose() -> None:
    chosen = {BATCH_SIZE_VARIABLE: "250"}
    assert enable_event_batching(chosen) == "250"
    empty: dict[str, str] = {}
    assert int(enable_event_batching(empty)) > 1000


def test_a_ranged_run_writes_one_planned_row_per_partition(instance: DagsterInstance) -> None:
    assert isinstance(instance.event_log_storage, BatchingPostgresEventLogStorage)
    result = materialize([bars, rollups], instance=instance, tags=RANGE)
    assert result.success
    # Dagster handed the planned events over as one batch: both assets' rows in one statement.
    assert inst_batches(instance) == [2 * len(KEYS)]
    for key in ("bars", "rollups"):
        assert _planned(instance, key) == KEYS
        record = instance.get_asset_records([AssetKey(key)])[0]
        assert record.asset_entry.last_run_id == result.run_id
    statuses = instance.get_status_by_partition(AssetKey("rollups"), KEYS, DAYS)
    assert statuses == dict.fromkeys(KEYS, AssetPartitionStatus.MATERIALIZED)


def test_a_failed_runs_partitions_show_failed(instance: DagsterInstance) -> None:
    result = materialize(
        [bars, rollups], instance=instance, tags={**RANGE, "fail": "yes"}, raise_on_error=False
    )
    assert not result.success
    statuses = instance.get_status_by_partition(AssetKey("rollups"), KEYS, DAYS)
    assert statuses == dict.fromkeys(KEYS, AssetPartitionStatus.FAILED)
    # The asset that ran is materialised in every partition; nothing was lost from the batch.
    done = instance.get_status_by_partition(AssetKey("bars"), KEYS, DAYS)
    assert done == dict.fromkeys(KEYS, AssetPartitionStatus.MATERIALIZED)


@pytest.mark.faults
@pytest.mark.timeout(180)
def test_pooled_connections_survive_a_killed_server(
    devstack_state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool keeps connections between writes; after the server was SIGKILLed and came
    back, the next run must reconnect (a checked-out connection is pinged first), not fail on a
    dead pooled connection."""
    monkeypatch.setenv(BATCH_SIZE_VARIABLE, "5000")
    server = PostgresServer(devstack_state_dir, secrets.token_urlsafe(12), durable=True).start()
    try:
        with instance_for_test(overrides=_storages(server.admin_url)) as instance:
            assert materialize([bars, rollups], instance=instance, tags=RANGE).success
            pid = server.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            server.restart()
            second = materialize([bars, rollups], instance=instance, tags=RANGE)
            assert second.success
            assert _planned(instance, "rollups") == sorted(KEYS + KEYS)
    finally:
        server.stop()
