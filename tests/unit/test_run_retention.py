"""Run retention on a real (temporary) Dagster instance: which runs go, which must stay."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.test_utils import create_run_for_test, instance_for_test

from market_assets.core import settings as s
from market_assets.operations.run_retention import (
    RunRetentionError,
    prune_runs,
    retention_days,
)

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # every run is "older" than this
EARLIER = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


def _run(instance: DagsterInstance, status: DagsterRunStatus, **tags: str) -> str:
    return create_run_for_test(instance, job_name="ohlcv", status=status, tags=tags).run_id


def _backfill(instance: DagsterInstance, backfill_id: str, status: BulkActionStatus) -> None:
    instance.add_backfill(
        PartitionBackfill(
            backfill_id=backfill_id,
            status=status,
            from_failure=False,
            tags={},
            backfill_timestamp=dt.datetime.now(dt.UTC).timestamp(),
            serialized_asset_backfill_data=None,
            asset_selection=None,
            partition_set_origin=None,
            partition_names=[],
            last_submitted_partition_name=None,
            reexecution_steps=None,
        )
    )


def test_old_failed_runs_go_and_successful_runs_stay() -> None:
    with instance_for_test() as instance:
        _backfill(instance, "runningbf", BulkActionStatus.REQUESTED)
        _backfill(instance, "donebf", BulkActionStatus.COMPLETED_FAILED)
        success = _run(instance, DagsterRunStatus.SUCCESS)
        failed = _run(instance, DagsterRunStatus.FAILURE)
        canceled = _run(instance, DagsterRunStatus.CANCELED)
        started = _run(instance, DagsterRunStatus.STARTED)
        of_running = _run(instance, DagsterRunStatus.FAILURE, **{BACKFILL_ID_TAG: "runningbf"})
        of_done = _run(instance, DagsterRunStatus.FAILURE, **{BACKFILL_ID_TAG: "donebf"})

        assert prune_runs(instance, EARLIER).deleted == 0  # nothing is old enough yet

        report = prune_runs(instance, LATER)
        assert (report.deleted, report.kept_for_backfills) == (3, 1)
        remaining = {r.run_id for r in instance.get_runs()}
        assert remaining == {success, started, of_running}
        assert not {failed, canceled, of_done} & remaining
        assert instance.all_logs(failed) == []  # the events went with the run


@pytest.mark.parametrize(
    ("value", "days"), [("", s.DEFAULT_RUN_RETENTION_DAYS), ("7", 7), ("off", None), ("OFF", None)]
)
def test_retention_setting(value: str, days: int | None) -> None:
    assert retention_days({s.RUN_RETENTION_DAYS: value}) == days


@pytest.mark.parametrize("value", ["0", "-3", "a week"])
def test_a_bad_retention_setting_names_the_variable(value: str) -> None:
    with pytest.raises(RunRetentionError, match=s.RUN_RETENTION_DAYS):
        retention_days({s.RUN_RETENTION_DAYS: value})
