"""Creating a backfill run's planned events: the project's event log against dagster-postgres.

What is timed is what the daemon does for every run it creates from a UI backfill: one
`ASSET_MATERIALIZATION_PLANNED` event per asset and partition of the run (the four OHLCV assets
x the run's dates), handed to the instance as one batch (`report_dagster_event` with the
batch metadata the run domain attaches), on a Dagster instance whose storage lives in the
benchmark's PostgreSQL. Each repeat writes a new run's events into the same event log, so the
table grows as it does on a real instance.

- project: `BatchingPostgresEventLogStorage` (dagster.yaml): the batch as one INSERT plus one
  update of each asset's row.
- baseline: dagster-postgres's `PostgresEventLogStorage` as shipped: one INSERT, NOTIFY and
  asset-row transaction per event.
- peer: Dagster's own shortcut, `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`: one planned
  event per asset holding the run's partition subset. It writes 4 rows instead of 1,460, and
  Dagster's comment says the price: partitions of a failed run are no longer marked failed.
  The project keeps every per-partition row.

After the timings, the project's rows are read back the way the UI reads "in progress"
partitions, and must name every planned partition.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from dagster import AssetKey, DagsterInstance
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventBatchMetadata,
    generate_event_batch_id,
)
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.test_utils import create_run_for_test, instance_for_test
from psycopg import sql

from benchmarks import BenchResult, Target, ratio, spread
from benchmarks.stack import BenchStack, on_database
from market_assets.operations.event_log_storage import BATCH_SIZE_VARIABLE

NAME = "event_log"
ASSETS = ("raw_bars", "db_bars", "bar_rollups", "bar_snapshots")
SUBSET_VARIABLE = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
#: Goal: a 365-day run's planned events in under a second (the daemon creates runs serially).
TARGET_S = 1.0

SIZES: dict[bool, dict[str, int]] = {
    True: {"days": 20, "repeats": 2},
    False: {"days": 365, "repeats": 5},
}

_STORAGES = {
    "project": ("market_assets.operations.event_log_storage", "BatchingPostgresEventLogStorage"),
    "baseline": ("dagster_postgres.event_log", "PostgresEventLogStorage"),
    "peer": ("dagster_postgres.event_log", "PostgresEventLogStorage"),
}


def _partition_keys(days: int) -> list[str]:
    first = dt.date(2024, 1, 1)
    return [f"{first + dt.timedelta(days=i):%Y-%m-%d}|USDJPY" for i in range(days)]


@contextmanager
def _instance(admin_url: str, path: str) -> Iterator[DagsterInstance]:
    """A Dagster instance whose three storages are a fresh database of the bench server."""
    database = f"dagster_events_{path}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = on_database(admin_url, database).replace("postgresql://", "postgresql+psycopg2://", 1)
    module, klass = _STORAGES[path]
    storage = {"postgres_url": url}
    overrides = {
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": storage,
        },
        "event_log_storage": {"module": module, "class": klass, "config": storage},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
    }
    try:
        with instance_for_test(overrides=overrides) as instance:
            yield instance
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


def _planned_events(keys: list[str], subset: bool) -> list[DagsterEvent]:
    if subset:
        from dagster import (
            DailyPartitionsDefinition,
            DynamicPartitionsDefinition,
            MultiPartitionsDefinition,
        )

        multi = MultiPartitionsDefinition(
            {
                "date": DailyPartitionsDefinition(start_date="2024-01-01"),
                "symbol": DynamicPartitionsDefinition(name="symbols"),
            }
        )
        partitions = multi.empty_subset().with_partition_keys(keys)
        return [
            DagsterEvent.build_asset_materialization_planned_event(
                "ohlcv",
                f"{asset}",
                AssetMaterializationPlannedData(
                    AssetKey(asset), partition=None, partitions_subset=partitions
                ),
            )
            for asset in ASSETS
        ]
    return [
        DagsterEvent.build_asset_materialization_planned_event(
            "ohlcv", asset, AssetMaterializationPlannedData(AssetKey(asset), partition=key)
        )
        for asset in ASSETS
        for key in keys
    ]


def _create_run_events(instance: DagsterInstance, keys: list[str], subset: bool) -> str:
    """What the run domain does when it creates a backfill run: the planned events, batched."""
    run = create_run_for_test(instance, job_name="ohlcv")
    events = _planned_events(keys, subset)
    batch_id = generate_event_batch_id()
    for i, event in enumerate(events):
        instance.report_dagster_event(
            event,
            run.run_id,
            batch_metadata=DagsterEventBatchMetadata(batch_id, i == len(events) - 1),
        )
    return run.run_id


def _time_path(admin_url: str, path: str, keys: list[str], repeats: int) -> dict[str, Any]:
    subset = path == "peer"
    previous = {v: os.environ.get(v) for v in (BATCH_SIZE_VARIABLE, SUBSET_VARIABLE)}
    os.environ[BATCH_SIZE_VARIABLE] = "5000"  # the instance batches for every path alike
    if subset:
        os.environ[SUBSET_VARIABLE] = "true"
    else:
        os.environ.pop(SUBSET_VARIABLE, None)
    try:
        with _instance(admin_url, path) as instance:
            _create_run_events(instance, keys[:2], subset)  # warm the connection and tables
            samples: list[float] = []
            run_id = ""
            for _ in range(repeats):
                start = time.perf_counter()
                run_id = _create_run_events(instance, keys, subset)
                samples.append(time.perf_counter() - start)
            pending = _in_progress(instance, run_id) if not subset else len(keys) * len(ASSETS)
            rows = _rows(instance, run_id)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {"samples": samples, "in_progress": pending, "rows": rows}


def _in_progress(instance: DagsterInstance, run_id: str) -> int:
    """Partitions the UI shows in progress for this run (planned, not yet materialised)."""
    storage = instance.event_log_storage
    assert isinstance(storage, SqlEventLogStorage)
    found = 0
    for asset in ASSETS:
        attempts = (
            storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                AssetKey(asset)
            )
        )
        found += sum(1 for planned_run, _ in attempts.values() if planned_run == run_id)
    return found


def _rows(instance: DagsterInstance, run_id: str) -> int:
    return len(instance.all_logs(run_id))


def run(stack: BenchStack, smoke: bool) -> BenchResult:
    size = SIZES[smoke]
    started = time.perf_counter()
    assert stack.pg_admin_url is not None
    keys = _partition_keys(size["days"])
    events = len(keys) * len(ASSETS)
    measured = {
        path: _time_path(stack.pg_admin_url, path, keys, size["repeats"])
        for path in ("baseline", "project", "peer")
    }
    med = {path: spread(m["samples"])["median"] for path, m in measured.items()}
    project = measured["project"]
    if project["in_progress"] != events:
        raise AssertionError(
            f"the project's event log shows {project['in_progress']} of {events} planned"
            " partitions in progress"
        )
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=size["repeats"],
        params={"days": size["days"], "assets": len(ASSETS), "planned_events": events},
        metrics={
            "median_s": med["project"],
            "ms_per_event": 1000 * med["project"] / events,
            "spread": spread(project["samples"]),
            "rows_per_run": project["rows"],
            "in_progress_partitions": project["in_progress"],
        },
        baseline={
            "median_s": med["baseline"],
            "ms_per_event": 1000 * med["baseline"] / events,
            "spread": spread(measured["baseline"]["samples"]),
            "rows_per_run": measured["baseline"]["rows"],
        },
        ratios={
            "vs_baseline": ratio(med["baseline"], med["project"]),
            "vs_peer": ratio(med["peer"], med["project"]),
        },
        targets=[Target("planned events of a 365-day run", med["project"], "<=", TARGET_S, "s")],
        notes=[
            "peer (Dagster's DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS): median"
            f" {med['peer']:.3f} s, {measured['peer']['rows']} rows per run; it drops the"
            " per-partition rows that mark a failed run's partitions failed",
        ],
        extra={"peer": {"median_s": med["peer"], "rows_per_run": measured["peer"]["rows"]}},
    )
    result.elapsed_s = time.perf_counter() - started
    return result
