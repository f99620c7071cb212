"""The run launcher's health check, against real processes and Dagster's own run monitor.

A run worker that dies without reporting (SIGKILL) must be seen as FAILED, so that the run
monitoring daemon fails its run (and run_retries re-runs it) instead of leaving it STARTED and
holding its queue and backfill slots; a live worker must never be failed.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.events import EngineEventData
from dagster._core.execution.asset_backfill import backfill_runs_are_complete
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import (
    AUTO_RETRY_RUN_ID_TAG,
    BACKFILL_ID_TAG,
    PARENT_RUN_ID_TAG,
    RETRY_NUMBER_TAG,
    ROOT_RUN_ID_TAG,
    WILL_RETRY_TAG,
)
from dagster._core.test_utils import create_run_for_test, instance_for_test
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from market_assets.operations.run_launcher import (
    LocalHealthCheckedRunLauncher,
    process_alive,
    publish_retry_decision,
    worker_pid,
)

LAUNCHER = {
    "module": "market_assets.operations.run_launcher",
    "class": "LocalHealthCheckedRunLauncher",
}


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test(
        overrides={"run_launcher": LAUNCHER, "run_monitoring": {"enabled": True}}
    ) as inst:
        yield inst


@pytest.fixture
def worker() -> Iterator[subprocess.Popen]:
    """A real process standing in for a run worker (the check looks only at the pid)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield proc
    proc.kill()
    proc.wait()


def _started_run(instance: DagsterInstance, pid: int):  # type: ignore[no-untyped-def]
    run = create_run_for_test(instance, job_name="ohlcv_daily", status=DagsterRunStatus.STARTED)
    instance.report_engine_event(
        f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
    )
    return run


def _monitor(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None
    monitor_started_run(instance, None, record, logging.getLogger("test"))  # type: ignore[arg-type]
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_the_instance_uses_the_health_checked_launcher(instance: DagsterInstance) -> None:
    assert isinstance(instance.run_launcher, LocalHealthCheckedRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health
    assert instance.run_monitoring_enabled


def test_a_live_worker_keeps_its_run(instance: DagsterInstance, worker: subprocess.Popen) -> None:
    run = _started_run(instance, worker.pid)
    assert worker_pid(instance, run.run_id) is not None
    health = instance.run_launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.RUNNING and health.run_worker_id == str(worker.pid)
    assert _monitor(instance, run.run_id) == DagsterRunStatus.STARTED


def test_a_killed_worker_fails_its_run(instance: DagsterInstance, worker: subprocess.Popen) -> None:
    run = _started_run(instance, worker.pid)
    worker.kill()
    worker.wait()
    health = instance.run_launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED
    assert str(worker.pid) in (health.msg or "")
    assert _monitor(instance, run.run_id) == DagsterRunStatus.FAILURE
    failure = instance.get_records_for_run(run.run_id, ascending=False, limit=5).records
    messages = " ".join(
        (r.event_log_entry.dagster_event.message or "") if r.event_log_entry.dagster_event else ""
        for r in failure
    )
    assert "is gone" in messages  # the run's failure says why


def test_the_latest_worker_is_judged_after_a_retry(
    instance: DagsterInstance, worker: subprocess.Popen
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = _started_run(instance, dead.pid)
    time.sleep(0.01)
    instance.report_engine_event(
        f"Started process for run (pid: {worker.pid}).",
        run,
        EngineEventData.in_process(worker.pid),
    )
    assert worker_pid(instance, run.run_id) == (worker.pid, pytest.approx(time.time(), abs=60))
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING


def test_a_run_without_a_reported_pid_is_not_failed(instance: DagsterInstance) -> None:
    run = create_run_for_test(instance, job_name="ohlcv_daily", status=DagsterRunStatus.STARTED)
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    assert _monitor(instance, run.run_id) == DagsterRunStatus.STARTED


def test_a_reused_pid_is_not_the_worker(worker: subprocess.Popen) -> None:
    """A process younger than the report holds the pid now: the worker that reported is gone."""
    assert process_alive(worker.pid, time.time())
    assert not process_alive(worker.pid, time.time() - 3600)


# -- dagster#34204: a backfill must not finish between a run's failure and its retry decision --

RETRIES = {"run_retries": {"enabled": True, "max_retries": 2}}
LOG = logging.getLogger("test")


@pytest.fixture
def retrying_instance() -> Iterator[DagsterInstance]:
    with instance_for_test(overrides={"run_launcher": LAUNCHER, **RETRIES}) as inst:
        yield inst


def _fail_without_decision(instance: DagsterInstance, run_id: str) -> None:
    """What the backfill daemon can see in the window: FAILURE stored, the instance's own
    `dagster/will_retry` decision not written yet (run storage first, the tag after)."""
    event = DagsterEvent(DagsterEventType.RUN_FAILURE.value, job_name="ohlcv_daily")
    instance.run_storage.handle_run_event(run_id, event)
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == DagsterRunStatus.FAILURE


def test_without_an_early_decision_the_backfill_finishes_in_the_window(
    retrying_instance: DagsterInstance,
) -> None:
    """The race as Dagster 1.13 has it: the failed run is not counted as waiting to retry."""
    run = create_run_for_test(retrying_instance, "ohlcv_daily", tags={BACKFILL_ID_TAG: "bf"})
    _fail_without_decision(retrying_instance, run.run_id)
    assert backfill_runs_are_complete("bf", retrying_instance, LOG)


def test_the_decision_published_at_launch_keeps_the_backfill_open(
    retrying_instance: DagsterInstance,
) -> None:
    run = create_run_for_test(retrying_instance, "ohlcv_daily", tags={BACKFILL_ID_TAG: "bf"})
    assert publish_retry_decision(retrying_instance, run) == "true"
    _fail_without_decision(retrying_instance, run.run_id)
    assert not backfill_runs_are_complete("bf", retrying_instance, LOG)
    # Once the retry daemon has launched the retry, the failed run no longer holds it open.
    retrying_instance.add_run_tags(run.run_id, {AUTO_RETRY_RUN_ID_TAG: "retry"})
    assert backfill_runs_are_complete("bf", retrying_instance, LOG)


def test_the_last_allowed_retry_publishes_no_retry(retrying_instance: DagsterInstance) -> None:
    """The early decision is the instance's own: with max_retries used up it says false, so a
    backfill whose last retry failed is finished (failed), not held open."""
    tags = {BACKFILL_ID_TAG: "bf"}
    root = create_run_for_test(retrying_instance, "ohlcv_daily", tags=tags)
    assert publish_retry_decision(retrying_instance, root) == "true"
    parent = root
    for number in (1, 2):  # as the retry daemon makes them: tags name the group
        _fail_without_decision(retrying_instance, parent.run_id)
        retry = create_run_for_test(
            retrying_instance,
            "ohlcv_daily",
            tags={
                **tags,
                ROOT_RUN_ID_TAG: root.run_id,
                PARENT_RUN_ID_TAG: parent.run_id,
                RETRY_NUMBER_TAG: str(number),
            },
            root_run_id=root.run_id,
            parent_run_id=parent.run_id,
        )
        retrying_instance.add_run_tags(parent.run_id, {AUTO_RETRY_RUN_ID_TAG: retry.run_id})
        parent = retry
    assert publish_retry_decision(retrying_instance, parent) == "false"
    _fail_without_decision(retrying_instance, parent.run_id)
    assert backfill_runs_are_complete("bf", retrying_instance, LOG)


def test_runs_outside_backfills_and_without_retries_are_left_alone(
    instance: DagsterInstance, retrying_instance: DagsterInstance
) -> None:
    lone = create_run_for_test(retrying_instance, "ohlcv_daily")
    assert publish_retry_decision(retrying_instance, lone) is None
    no_retries = create_run_for_test(instance, "ohlcv_daily", tags={BACKFILL_ID_TAG: "bf"})
    assert publish_retry_decision(instance, no_retries) is None
    assert WILL_RETRY_TAG not in (instance.get_run_by_id(no_retries.run_id) or lone).tags
