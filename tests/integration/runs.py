"""Runs the integration tests launch the way production does: one batched multi-partition run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    ExecuteInProcessResult,
    build_run_status_sensor_context,
    job,
    materialize,
    op,
)

from market_assets.core.partition_keys import partition_key
from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource


def materialize_range(
    s3: S3Resource,
    postgres: PostgresResource,
    redis: RedisResource,
    symbols: Sequence[str],
    first: dt.date,
    last: dt.date,
    assets: Sequence[Any] = OHLCV_ASSETS,
    selection: AssetSelection | None = None,
    raise_on_error: bool = True,
    instance: DagsterInstance | None = None,
) -> ExecuteInProcessResult:
    """One run over first..last x symbols (registration order), as a batched backfill is."""
    instance = instance or DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", list(symbols))
    return materialize(
        list(assets),
        selection=selection,
        raise_on_error=raise_on_error,
        instance=instance,
        resources={
            "s3": s3,
            "postgres": postgres,
            "redis": redis,
            "sources": BarSourcesResource(),
        },
        tags={
            "dagster/asset_partition_range_start": str(partition_key(first, symbols[0])),
            "dagster/asset_partition_range_end": str(partition_key(last, symbols[-1])),
        },
    )


@op
def boom() -> None:
    raise RuntimeError("vendor exploded")


@job
def failing() -> None:
    boom()


def alert_on_failed_run(instance: DagsterInstance, postgres: PostgresResource) -> str:
    """Fail a tiny job and hand its failure to run_failure_alert; returns the run id."""
    from market_assets.defs.ops.alerts import run_failure_alert

    result = failing.execute_in_process(instance=instance, raise_on_error=False)
    event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    with build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=event,
        resources={"postgres": postgres},
    ) as context:
        run_failure_alert(context.for_run_failure())
    return result.run_id
