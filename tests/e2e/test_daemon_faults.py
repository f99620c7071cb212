"""Crashes mid-backfill on the path users take: the UI's backfill, the daemon, run workers.

One `market-assets dev` stack for the module (tests/e2e/conftest.py: embedded PostgreSQL that
also holds the Dagster instance, Valkey, SeaweedFS, the supervisor, `dg dev` with the daemon,
the queued run coordinator and run workers as subprocesses; schedules and sensors stopped, so
the backfills below make the only runs). Each scenario launches a backfill of 3 symbols x 4
days over the four OHLCV assets exactly as the UI's dialog does (GraphQL
`launchPartitionBackfill`), waits until one of its runs is executing a step, and SIGKILLs

* (c) that run's worker (the `dagster api execute_run` subprocess),
* (b) the S3 server (SeaweedFS, its whole process group),
* (a) PostgreSQL (the postmaster and its backends).

Nothing is touched by hand afterwards. Each backfill must end COMPLETED_SUCCESS within
10 minutes of the kill, and every partition's rows must then be the same in S3 and in the
database as in the source, by count and checksum, with no duplicate timestamps. Leaving the
module stops the stack; the fixture fails when a process or port of it survives.

Measured per scenario (printed, and written to artifacts/daemon-faults.json; never asserted):
kill -> first failed run of the backfill (its end time) -> first retry run created -> backfill
success, in seconds from the kill, plus the runs made and the backfill's whole span.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from market_assets.core.partition_keys import BarPartition, partition_key
from tests.e2e.conftest import (
    PROJECT_ROOT,
    DevStack,
    listening_ports,
    running_dev_stack,
    stack_home,
)
from tests.integration.convergence import divergent_partitions, sessions
from tests.plugins.servers import server_state_dir

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(900)]

ASSETS = ("raw_bars", "db_bars", "bar_rollups", "bar_snapshots")
SYMBOLS = ["USDJPY", "EURUSD", "GBPUSD"]
EXPECTED_RUNS = len(SYMBOLS)  # Dagster 1.13 makes one run per symbol of a date range
RECOVERY_TIMEOUT_S = 600.0  # from the kill to the backfill's success
VICTIM_TIMEOUT_S = 300.0  # from the launch to a run executing a step
POLL_S = 1.0
ARTIFACT = PROJECT_ROOT / "artifacts" / "daemon-faults.json"

LAUNCH_BACKFILL = """
mutation ($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""
BACKFILL = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status timestamp endTimestamp }
    ... on PythonError { message }
  }
}
"""
RUNS = """
query ($id: String!) {
  runsOrError(filter: { tags: [{ key: "dagster/backfill", value: $id }] }) {
    __typename
    ... on Runs {
      results {
        runId status parentRunId creationTime startTime endTime
        stepStats { stepKey status attempts { startTime } }
      }
    }
  }
}
"""
RUN_EVENTS = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run { eventConnection { events { ... on MessageEvent { message } } } }
  }
}
"""
PID_EVENT_PREFIX = "Started process for run (pid: "
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass
class Measured:
    """One scenario's figures, seconds from the kill (None: it did not happen)."""

    scenario: str
    victim: str
    partitions: int
    launch_to_kill_s: float = 0.0
    failed_run_detected_s: float | None = None
    retry_launched_s: float | None = None
    backfill_success_s: float | None = None
    launch_to_success_s: float | None = None
    runs: int = 0
    failed_runs: int = 0
    retried_runs: int = 0
    step_retries: int = 0  # step attempts beyond the first, over the backfill's runs
    server_back_s: float | None = None  # the killed server accepts connections again
    final_status: str = ""
    notes: list[str] = field(default_factory=list)


RESULTS: list[Measured] = []


def _days(first: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(4)]  # Monday to Thursday


def _graphql(stack: DevStack, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
    """The answer, or None while the webserver (or the instance database behind it) is down."""
    with contextlib.suppress(requests.RequestException, AssertionError, ValueError):
        return stack.graphql(query, variables)
    return None


def launch_backfill(stack: DevStack, days: list[dt.date]) -> str:
    """What the UI's dialog sends for the four assets and a date range x symbol subset."""
    names = [partition_key(day, symbol) for day in days for symbol in SYMBOLS]
    params = {
        "tags": [],
        "assetSelection": [{"path": [asset]} for asset in ASSETS],
        "partitionNames": names,
        "fromFailure": False,
    }
    result = stack.graphql(LAUNCH_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return str(result["backfillId"])


def backfill_runs(stack: DevStack, backfill_id: str) -> list[dict[str, Any]] | None:
    data = _graphql(stack, RUNS, {"id": backfill_id})
    if data is None or data["runsOrError"]["__typename"] != "Runs":
        return None
    return list(data["runsOrError"]["results"])


def wait_for_executing_run(
    stack: DevStack, backfill_id: str, step: str | None = None, *, last: bool = False
) -> dict[str, Any]:
    """A STARTED run of the backfill with a step (``step``, or any) in progress: the middle
    of the backfill. ``last``: the backfill's last run, every other one finished (the case of
    dagster#34204, where only the retry of that run can still complete the backfill)."""
    deadline = time.monotonic() + VICTIM_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = backfill_runs(stack, backfill_id) or []
        for run in runs:
            steps = run.get("stepStats") or []
            busy = [s for s in steps if s["status"] == "IN_PROGRESS"]
            if run["status"] != "STARTED" or not any(step in (None, s["stepKey"]) for s in busy):
                continue
            others = [r for r in runs if r is not run]
            if not last or (
                len(runs) >= EXPECTED_RUNS and all(r["status"] in RUN_DONE for r in others)
            ):
                return run
        time.sleep(0.5)
    raise TimeoutError(f"no run of backfill {backfill_id} executing after {VICTIM_TIMEOUT_S} s")


def run_worker(stack: DevStack, run_id: str) -> psutil.Process:
    """The run worker of ``run_id`` (a spawned child of the gRPC code server), found by the
    pid it reports in its "Started process for run (pid: N)." engine event."""
    data = stack.graphql(RUN_EVENTS, {"runId": run_id})["runOrError"]
    for event in data["eventConnection"]["events"]:
        message = event.get("message") or ""
        if message.startswith(PID_EVENT_PREFIX):
            return psutil.Process(int(message[len(PID_EVENT_PREFIX) :].split(")", 1)[0]))
    raise LookupError(f"run {run_id} reported no worker pid")


def server_pid(home: Path, name: str) -> int:
    """The pid the dev stack recorded for its embedded server ``name``."""
    from market_assets.devstack.process import read_pidfile

    record = read_pidfile(home / "servers" / "run" / f"{name}.pid")
    assert record is not None, f"no pidfile for {name}"
    return record.pid


def kill_server(home: Path, name: str) -> str:
    """SIGKILL the server and every process of its group (it runs in a session of its own)."""
    pid = server_pid(home, name)
    os.killpg(pid, signal.SIGKILL)
    return f"{name} (pid {pid} and its process group)"


def server_port(home: Path, name: str) -> int:
    """The port the server ``name`` serves clients on, from the stack's stack.json."""
    from market_assets.devstack.stack import read_stack_file

    ports = (read_stack_file(home / "servers") or {})["ports"]
    return int(ports["seaweedfs"]["s3"] if name == "seaweedfs" else ports[name])


def wait_for_success(
    stack: DevStack, backfill_id: str, killed_at: float, measured: Measured
) -> dict[str, Any]:
    """Poll through the outage until the backfill is done; record when each milestone came."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while True:
        runs = backfill_runs(stack, backfill_id)
        if runs is not None:
            failed = [r for r in runs if r["status"] == "FAILURE" and r.get("endTime")]
            retries = [r for r in runs if r.get("parentRunId")]
            if failed and measured.failed_run_detected_s is None:
                measured.failed_run_detected_s = min(r["endTime"] for r in failed) - killed_at
            if retries and measured.retry_launched_s is None:
                measured.retry_launched_s = min(r["creationTime"] for r in retries) - killed_at
        data = _graphql(stack, BACKFILL, {"id": backfill_id})
        backfill = data["partitionBackfillOrError"] if data else None
        if backfill and backfill["__typename"] == "PartitionBackfill":
            if backfill["status"] in DONE:
                return backfill
        if time.monotonic() > deadline:
            pytest.fail(
                f"backfill {backfill_id} not done {RECOVERY_TIMEOUT_S:.0f} s after the kill;"
                f" runs: {runs}\n{stack.log_tail(40)}"
            )
        time.sleep(POLL_S)


class PortWatch:
    """Seconds from the kill until the server's port is closed and then accepts again."""

    def __init__(self, port: int, killed_at: float) -> None:
        self.port, self.killed_at = port, killed_at
        self.back_s: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> PortWatch:
        self._thread.start()
        return self

    def _watch(self) -> None:
        seen_down = False
        while not self._done.wait(0.1) and time.time() - self.killed_at < RECOVERY_TIMEOUT_S:
            up = bool(listening_ports([self.port]))
            seen_down = seen_down or not up
            if seen_down and up:
                self.back_s = round(time.time() - self.killed_at, 1)
                return

    def stop(self) -> float | None:
        self._done.set()
        self._thread.join(timeout=5)
        return self.back_s


@contextlib.contextmanager
def stack_variables(home: Path) -> Iterator[None]:
    """The running stack's store variables in os.environ (as a second terminal gets them)."""
    from market_assets.devstack.discovery import running_stack_environment

    found = running_stack_environment(home, "all")
    assert found, f"no running stack found on {home}"
    saved = dict(os.environ)
    os.environ.update(found)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_converged(home: Path, parts: list[BarPartition]) -> None:
    """S3 and the database hold the source's rows for every partition: count, checksum, no
    duplicate timestamps (retried within a restarted server: connect again if need be)."""
    from market_assets.composition import postgres_resource, s3_resource

    with stack_variables(home):
        s3, postgres = s3_resource(live=True), postgres_resource("reader", live=True)
        divergent: dict[str, Any] = {}
        for _ in range(10):
            try:
                divergent = divergent_partitions(s3, postgres, parts)
                break
            except Exception as exc:  # a store that is still coming back
                divergent = {"error": repr(exc)}
                time.sleep(3)
    assert not divergent, f"partitions differ (source, s3, db): {divergent}"


@dataclass(frozen=True)
class FaultStack:
    stack: DevStack
    home: Path


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """One dev stack for every scenario; the figures are written when the module ends."""
    started = time.monotonic()
    with (
        server_state_dir(tmp_path_factory, "faults") as state,
        running_dev_stack(state) as stack,
    ):
        print(f"\ndev stack ready in {time.monotonic() - started:.1f} s")
        yield FaultStack(stack, stack_home(state))
    _write_results(time.monotonic() - started)


def _write_results(module_s: float) -> None:
    payload = {
        "benchmark": "daemon_faults",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "module_wall_s": round(module_s, 1),
        "scenarios": [asdict(m) for m in RESULTS],
    }
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload))


def _log_size(stack: DevStack) -> int:
    with contextlib.suppress(OSError):
        return stack.log_path.stat().st_size
    return 0


def _log_since(stack: DevStack, offset: int) -> list[str]:
    """The dev stack's log lines written after ``offset`` (the supervisor's, among others)."""
    with contextlib.suppress(OSError), stack.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace").splitlines()
    return []


def run_scenario(
    fault: FaultStack,
    name: str,
    first_day: dt.date,
    kill: Callable[[dict[str, Any]], str],
    *,
    step: str | None = None,
    server: str | None = None,
    last: bool = False,
) -> Measured:
    """Launch, wait for a run mid-step, kill, wait for the backfill, check the stores."""
    stack, home = fault.stack, fault.home
    days = _days(first_day)
    parts = sessions(days, SYMBOLS)
    launched = time.time()
    backfill_id = launch_backfill(stack, days)
    victim_run = wait_for_executing_run(stack, backfill_id, step, last=last)
    port = server_port(home, server) if server else None
    log_offset = _log_size(stack)
    victim = kill(victim_run)
    killed_at = time.time()
    comeback = PortWatch(port, killed_at).start() if port else None
    measured = Measured(name, victim, len(parts), launch_to_kill_s=round(killed_at - launched, 1))
    RESULTS.append(measured)
    print(f"\n[{name}] killed {victim} {measured.launch_to_kill_s} s after the launch")
    busy = [s["stepKey"] for s in victim_run["stepStats"] if s["status"] == "IN_PROGRESS"]
    measured.notes.append(f"killed while run {victim_run['runId'][:8]} ran {busy}")
    backfill = wait_for_success(stack, backfill_id, killed_at, measured)
    if comeback is not None:
        measured.server_back_s = comeback.stop()
    runs = backfill_runs(stack, backfill_id) or []
    measured.final_status = backfill["status"]
    measured.runs = len(runs)
    measured.failed_runs = sum(r["status"] == "FAILURE" for r in runs)
    measured.retried_runs = sum(bool(r.get("parentRunId")) for r in runs)
    measured.step_retries = sum(
        max(len(s.get("attempts") or []) - 1, 0) for r in runs for s in r.get("stepStats") or []
    )
    measured.notes += [line for line in _log_since(stack, log_offset) if "stack:" in line]
    if backfill.get("endTimestamp"):
        measured.backfill_success_s = round(backfill["endTimestamp"] - killed_at, 1)
        measured.launch_to_success_s = round(backfill["endTimestamp"] - launched, 1)
    for key in ("failed_run_detected_s", "retry_launched_s"):
        value = getattr(measured, key)
        if value is not None:
            setattr(measured, key, round(value, 1))
    print(f"[{name}] {json.dumps(asdict(measured))}")
    assert backfill["status"] == "COMPLETED_SUCCESS", (
        f"backfill {backfill_id} ended {backfill['status']}; runs: {runs}\n{stack.log_tail(40)}"
    )
    assert all(r["status"] in RUN_DONE for r in runs), runs
    check_converged(home, parts)
    return measured


def test_run_worker_killed(fault_stack: FaultStack) -> None:
    """(c) The worker of the backfill's last run dies: its run is failed, the retry daemon
    re-runs it from failure, and the backfill counts the retry (ends COMPLETED_SUCCESS)."""

    def kill(run: dict[str, Any]) -> str:
        worker = run_worker(fault_stack.stack, run["runId"])
        worker.send_signal(signal.SIGKILL)
        return f"run worker pid {worker.pid} of run {run['runId'][:8]}"

    # The backfill's last run: only its retry can complete the backfill (dagster#34204).
    measured = run_scenario(fault_stack, "run_worker", dt.date(2024, 4, 1), kill, last=True)
    assert measured.failed_runs >= 1, "the killed run was not failed"
    assert measured.retried_runs >= 1, "the killed run was not retried"


def test_s3_server_killed(fault_stack: FaultStack) -> None:
    """(b) SeaweedFS dies mid-step: the supervisor starts it again on the same ports and data;
    the run that met the outage fails naming the store and is retried."""

    def kill(_run: dict[str, Any]) -> str:
        return kill_server(fault_stack.home, "seaweedfs")

    run_scenario(
        fault_stack, "s3_server", dt.date(2024, 4, 8), kill, step="raw_bars", server="seaweedfs"
    )


def test_postgres_killed(fault_stack: FaultStack) -> None:
    """(a) PostgreSQL dies mid-step, and with it the Dagster instance: the supervisor runs its
    crash recovery on the same port and data; the daemon, the webserver and the run worker
    reconnect, and a run that could not finish is failed and retried."""

    def kill(_run: dict[str, Any]) -> str:
        return kill_server(fault_stack.home, "postgres")

    run_scenario(
        fault_stack, "postgres", dt.date(2024, 4, 15), kill, step="db_bars", server="postgres"
    )
