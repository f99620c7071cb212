"""A run launcher whose run workers the run monitor can see die.

Dagster's `DefaultRunLauncher` starts each run worker as a subprocess of the code server, on
this machine, but cannot tell the run monitoring daemon whether that worker is still alive
(`supports_check_run_worker_health` is False). A worker killed with the machine's PostgreSQL
(SIGKILL, OOM, a crashed `market-assets dev`) then leaves its run STARTED for good: it holds
a slot of the run queue and of the `dagster/backfill` limit, and the backfill never finishes.

This launcher is the default one plus a health check. Every run worker reports
"Started process for run (pid: N)" as an engine event before the run is marked STARTED; the
check finds that pid and asks the operating system whether the process still exists and is the
same process (created before it reported; a pid reused later is younger). Dead means FAILED, so
the monitoring daemon (`run_monitoring` in dagster.yaml) fails the run and the run-retry daemon
re-runs it; re-runs are idempotent, so the backfill converges.

It also closes a race of Dagster 1.13 (dagster#34204, open): a failed run's FAILURE status is
stored before its `dagster/will_retry` decision, and the backfill daemon counts only failed runs
already tagged `will_retry=true` as pending. When it looks in between, a backfill whose last run
just failed is finished as failed, and the retry daemon then refuses to retry a run of a
finished backfill. So at launch this launcher publishes the decision the instance would take if
the run failed now (`auto_reexecution_should_retry_run`: retries enabled, the run group below
`max_retries`); on a failure the instance overwrites it with the same answer, but the window
never shows a failed run without one. Only when that answer cannot depend on the failure's
reason (`retry_on_asset_or_op_failure` on, the default) is it published early.

Valid where the launcher's code servers run on the daemon's machine: the dev stack and any
single-host deployment (the workspace loads `market_assets.definitions` as a local module).
Container deployments use their own launcher (deploy/dagster.ecs.yaml: EcsRunLauncher).
"""

from __future__ import annotations

import psutil
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultRunLauncher,
)
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG, WILL_RETRY_TAG

# A worker reports its pid right after it starts; allow for clock granularity between the
# process start time the kernel keeps and the event's timestamp.
_CREATED_SLACK_S = 2.0
_PID_EVENT_PREFIX = "Started process for run (pid: "


def worker_pid(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, reported at) of the latest worker of the run, from its engine events."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, ascending=False, limit=200
    ).records
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        message = (event.message if event else None) or entry.user_message or ""
        if not message.startswith(_PID_EVENT_PREFIX):
            continue
        pid_text = message[len(_PID_EVENT_PREFIX) :].split(")", 1)[0]
        if pid_text.isdigit():
            return int(pid_text), entry.timestamp
    return None


def process_alive(pid: int, reported_at: float) -> bool:
    """The process with this pid exists, is not a zombie, and is the one that reported."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.create_time() <= reported_at + _CREATED_SLACK_S
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else: not ours to judge


def publish_retry_decision(instance: DagsterInstance, run: DagsterRun) -> str | None:
    """Tag a backfill's run with the retry decision its failure would get; returns the value
    written, or None when there is nothing to publish early (see the module's docstring)."""
    if (
        BACKFILL_ID_TAG not in run.tags
        or not instance.run_retries_enabled
        or not instance.run_retries_retry_on_asset_or_op_failure
    ):
        return None
    failed = run.with_status(DagsterRunStatus.FAILURE)
    value = str(auto_reexecution_should_retry_run(instance, failed, None)).lower()
    instance.add_run_tags(run.run_id, {WILL_RETRY_TAG: value})
    return value


class LocalHealthCheckedRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` with a run-worker health check for the run monitoring daemon,
    and the retry decision of a backfill's run published before the run can fail."""

    def launch_run(self, context: LaunchRunContext) -> None:
        publish_retry_decision(self._instance, context.dagster_run)
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        found = worker_pid(self._instance, run.run_id)
        if found is None:
            # STARTED runs have reported their pid; without one there is nothing to judge,
            # and the monitor's start timeout covers a worker that never came up.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid reported yet")
        pid, reported_at = found
        if process_alive(pid, reported_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"run worker (pid {pid}) is gone: killed or crashed without reporting",
            run_worker_id=str(pid),
        )
