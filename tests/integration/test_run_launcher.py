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
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.test_utils import create_run_for_test, instance_for_test
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from market_assets.operations.run_launcher import (
    LocalHealthCheckedRunLauncher,
    process_alive,
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
