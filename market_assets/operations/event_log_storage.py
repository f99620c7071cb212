"""The instance's event log: dagster-postgres, with a run's planned events written in one go.

Why: when the daemon creates a backfill run it records one `ASSET_MATERIALIZATION_PLANNED`
event per asset and partition (the UI's "in progress" and "failed" partition marks come from
them). Dagster hands them to the storage as one batch, but dagster-postgres writes a batch of
planned events one event at a time: an INSERT, a NOTIFY and a transaction on the asset's row
per event, 7.6 ms each on a quiet PostgreSQL 15 here (`benchmarks/event_log.py`), 28-51 ms on
the loaded dev stack. A run of 365 daily partitions of the four OHLCV assets is 1,460 events,
and the 10 x 365 UI backfill spent 743 s creating its runs before any bar was collected.

This storage writes such a batch as one multi-row INSERT and then updates each asset's row
once with its last event, which is what dagster-postgres already does for a batch of
materializations. The rows are the same rows, so every reader of the event log (partition
status, the asset backfill daemon, the UI) sees the same history; only the number of round
trips and commits changes (0.13 ms an event in the same measurement).

Dagster only hands events over in batches when `DAGSTER_EVENT_BATCH_SIZE` is above 0 in the
process writing them (the daemon creating runs, the run worker emitting materializations).
Configuring this class as the event log is the opt-in, so it sets that variable for its own
process unless the deployment already set one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from dagster import DagsterEventType
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.config import pg_config
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, pg_url_from_config

BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
#: Large enough for a run of 1,000 partitions of the four OHLCV assets in one statement.
DEFAULT_BATCH_SIZE = 5000
_PLANNED = DagsterEventType.ASSET_MATERIALIZATION_PLANNED
#: Connections kept per process (daemon, webserver, each run worker), and how many more a burst
#: may open: a handful of processes stay far below PostgreSQL's 100 connections.
POOL_SIZE = 2
POOL_OVERFLOW = 6
POOL_RECYCLE_S = 600


def enable_event_batching(environ: MutableMapping[str, str] = os.environ) -> str:
    """Turn Dagster's event batching on for this process (kept when the deployment chose)."""
    return environ.setdefault(BATCH_SIZE_VARIABLE, str(DEFAULT_BATCH_SIZE))


class BatchingPostgresEventLogStorage(PostgresEventLogStorage):
    """PostgresEventLogStorage that stores a batch of planned events in one statement."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        enable_event_batching()
        super().__init__(postgres_url, should_autocreate_tables, inst_data)
        # dagster-postgres opens a new connection for every read and write (NullPool): about a
        # thousand for a run of 91 partitions, 4.6 ms each with password auth, which was half
        # of that run's time. A small pool per process, each connection checked before use so
        # that a restarted server costs a reconnect, not an error.
        self._engine.dispose()
        self._engine = create_pg_engine(
            self.postgres_url,
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_pre_ping=True,
            pool_recycle=POOL_RECYCLE_S,
        )

    @classmethod
    def config_type(cls) -> Any:
        return pg_config()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchingPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
        )

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        planned = [e for e in events if e.dagster_event_type == _PLANNED]
        others = [e for e in events if e.dagster_event_type != _PLANNED]
        if planned:
            self._store_planned_batch(planned)
        if others:
            super().store_event_batch(others)

    def _store_planned_batch(self, events: Sequence[EventLogEntry]) -> None:
        if len(events) == 1:
            self.store_event(events[0])
            return
        statement = self.prepare_insert_event_batch(events)
        with self._connect() as conn:
            result = conn.execute(statement.returning(SqlEventLogStorageTable.c.id))
            event_ids = [int(row[0]) for row in result.fetchall()]
        if len(event_ids) != len(events):
            raise DagsterInvariantViolationError(
                f"stored {len(event_ids)} of {len(events)} planned events"
            )
        # The asset's row keeps the latest event only (last_run_id and the timestamp that makes
        # the asset visible); planned events carry no tags to index.
        latest: dict[Any, tuple[EventLogEntry, int]] = {}
        for event, event_id in zip(events, event_ids, strict=True):
            latest[event.get_dagster_event().asset_key] = (event, event_id)
        with self.index_transaction() as conn:
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)
