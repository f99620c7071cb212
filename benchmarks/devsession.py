"""A `market-assets dev` stack inside one benchmark: servers, Dagster instance, UI and daemon.

The daemon-path benchmark measures what a user gets from the UI, so it builds the stack the
way `market-assets dev` does (market_assets/cli/dev.py) rather than the way the other
benchmarks do (`BenchStack`):

* `stack_environment` on a fresh temporary MARKET_ASSETS_HOME: embedded PostgreSQL (durable),
  Valkey and SeaweedFS, the roles with generated passwords, the `market` and `dagster`
  databases, the migrations and the policies;
* DAGSTER_HOME with the project's dagster.yaml (`prepare_dagster_home`): dagster-postgres
  storage and the QueuedRunCoordinator with its `dagster/backfill` limit;
* the universe's symbols registered as dynamic partitions, as seeding does;
* `dagster dev -w workspace.yaml` (`dagster_dev_command`, the very command `dev` runs) on a
  free port, with MARKET_ASSETS_AUTOMATION=off so no schedule or sensor adds runs, and
  MARKET_ASSETS_RETENTION_M1=off.

It always starts its own servers: variables naming other servers (the caller's dev stack, the
test session's ``MARKET_ASSETS_BENCH_*`` servers) are removed for the duration, because a dev
stack on a shared server would need its roles' passwords, which the benchmarks never change.
`os.environ` is restored afterwards.

Everything started is stopped on the way out, also on an error, Ctrl-C or SIGTERM (which
`python -m benchmarks` turns into SystemExit): `dagster dev` runs in its own session and gets
SIGINT (it stops its webserver, daemon and code servers itself); whatever is still alive of
the process tree recorded at that moment (run workers included) and of its process group is
killed; `stack_environment` then stops the embedded servers. `leftover_processes()` lists any
process that still names the state folder, so the benchmark can report that none survived.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from benchmarks.stack import BenchStack
from market_assets.core import settings as s

HOST = "127.0.0.1"
READY_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 60.0
GRAPHQL_TIMEOUT_S = 120.0
# Store variables that would make `stack_environment` use another stack's servers.
_SCRUB_PREFIXES = ("MARKET_ASSETS_PG_", "MARKET_ASSETS_S3_", "MARKET_ASSETS_BENCH_")
_SCRUB_NAMES = frozenset(
    {
        s.REDIS_URL,
        s.REDIS_PREFIX,
        s.S3_ACCESS_KEY,
        s.S3_SECRET_KEY,
        s.S3_REGION,
        s.DAGSTER_PG_URL,
        s.DAGSTER_HOME,
        s.HOME,
        s.SOURCE_OVERRIDE,
        s.LANDING_DIR,
    }
)
DAEMONS_NEEDED = frozenset({"BACKFILL", "QUEUED_RUN_COORDINATOR"})
DAEMON_HEALTH_QUERY = """
{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }
"""
ASSET_NODES_QUERY = "{ assetNodes { assetKey { path } } }"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _scrub_environment(home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES) or name in _SCRUB_NAMES:
            del os.environ[name]
    os.environ[s.HOME] = str(home)
    os.environ[s.DAGSTER_HOME] = str(home / "dagster_home")
    os.environ[s.AUTOMATION] = "off"
    os.environ[s.RETENTION_M1] = "off"


@dataclass
class DevServers:
    """The running stack before (and while) `dagster dev` runs; `variables` hold secrets."""

    home: Path
    variables: dict[str, str]
    leftovers: list[str] = field(default_factory=list)  # filled in once everything stopped

    def bench_stack(self) -> BenchStack:
        """A `BenchStack` on these same servers, for the in-process peer measurement."""
        from market_assets.devstack.seaweed import S3Endpoint

        v = self.variables
        endpoint = S3Endpoint(
            v[s.S3_ENDPOINT], v[s.S3_ACCESS_KEY], v[s.S3_SECRET_KEY], v[s.S3_REGION]
        )
        return BenchStack.attach(v[s.PG_ADMIN_URL], v[s.REDIS_URL], endpoint)

    @property
    def dagster_db_url(self) -> str:
        """The instance database as a libpq URL (dagster.yaml names the psycopg2 driver)."""
        return self.variables[s.DAGSTER_PG_URL].replace("postgresql+psycopg2://", "postgresql://")

    @property
    def market_admin_url(self) -> str:
        return self.variables[s.PG_ADMIN_URL]

    @contextlib.contextmanager
    def dagster_dev(self) -> Iterator[DagsterDev]:
        """`dagster dev` as `market-assets dev` runs it, ready (code location loaded, backfill
        and run-queue daemons healthy) when this yields; stopped with its whole tree after."""
        from market_assets.cli.dev import dagster_dev_command
        from market_assets.devstack.process import parent_death_signal

        port = free_port()
        log_path = self.home / "dagster-dev.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                dagster_dev_command(HOST, port),
                cwd=s.PROJECT_ROOT,
                env=os.environ.copy(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_setup(parent_death_signal(signal.SIGINT)),
            )
        dev = DagsterDev(f"http://{HOST}:{port}", log_path, process)
        try:
            dev.wait_ready()
            yield dev
        finally:
            dev.stop()


def _child_setup(death_signal: Callable[[], None] | None) -> Callable[[], None]:
    """In the child before exec: SIGINT back to its default (a shell that starts us in the
    background ignores it, the child would inherit that, and `dagster dev` maps SIGTERM to
    SIGINT's handler: it could then be stopped by neither), then the parent-death signal."""

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if death_signal is not None:
            death_signal()

    return setup


@dataclass
class DagsterDev:
    """A running `dagster dev`: its webserver URL, log file and process."""

    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    ready_s: float = 0.0

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to /graphql as the UI does; raise on transport or GraphQL errors."""
        response = requests.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=GRAPHQL_TIMEOUT_S,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return dict(body["data"])

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def _alive_or_raise(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        started = time.monotonic()
        deadline = started + timeout
        checks = (self._serves, self._has_assets, self._daemons_healthy)
        for check in checks:
            while True:
                self._alive_or_raise()
                with contextlib.suppress(requests.RequestException, RuntimeError, KeyError):
                    if check():
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"dagster dev not ready after {timeout:.0f} s ({check.__name__}):\n"
                        f"{self.log_tail()}"
                    )
                time.sleep(1.0)
        self.ready_s = time.monotonic() - started

    def _serves(self) -> bool:
        return requests.get(f"{self.base_url}/server_info", timeout=5).status_code == 200

    def _has_assets(self) -> bool:
        nodes = self.graphql(ASSET_NODES_QUERY)["assetNodes"]
        return ["raw_bars"] in [node["assetKey"]["path"] for node in nodes]

    def _daemons_healthy(self) -> bool:
        health = self.graphql(DAEMON_HEALTH_QUERY)["instance"]["daemonHealth"]
        healthy = {d["daemonType"] for d in health["allDaemonStatuses"] if d["healthy"]}
        return DAEMONS_NEEDED <= healthy

    def stop(self) -> None:
        """SIGINT (dagster dev stops its children), then kill what is left of the tree."""
        stop_process_tree(self.process, STOP_TIMEOUT_S)


def stop_process_tree(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop `process` (the leader of its own session) and every descendant it had."""
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group: anything spawned after the snapshot
    survivors = [p for p in tree if _running(p)]
    for proc in survivors:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(survivors, timeout=10)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def leftover_processes(home: Path) -> list[str]:
    """Live processes (other than this one) that belong to the stack in `home`: the embedded
    servers name it in their arguments or working directory; `dagster dev`, its code servers
    and run workers inherit DAGSTER_HOME under it."""
    marker = str(home)
    found: list[str] = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cwd"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid == os.getpid() or not _running(proc):
                continue
            cmdline = " ".join(proc.info.get("cmdline") or [])
            places = (cmdline, proc.info.get("cwd") or "", _dagster_home_of(proc))
            if any(marker in place for place in places):
                found.append(f"{proc.pid} {proc.info.get('name')}")
    return found


def _dagster_home_of(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return proc.environ().get(s.DAGSTER_HOME, "")
    return ""


@contextlib.contextmanager
def dev_servers(symbols: list[str]) -> Iterator[DevServers]:
    """The embedded stack of `market-assets dev` in a temporary home, symbols registered."""
    from dagster import DagsterInstance

    from market_assets.cli.dev import prepare_dagster_home
    from market_assets.devstack.environment import stack_environment
    from market_assets.operations.backfill import register_symbols
    from market_assets.operations.seed import register_universe_symbols

    saved = dict(os.environ)
    # mkdtemp: as root, PostgreSQL runs as another user that must traverse every parent.
    home = Path(tempfile.mkdtemp(prefix="market-assets-daemon-bench-"))
    servers: DevServers | None = None
    try:
        _scrub_environment(home)
        with stack_environment(home) as env:
            env.apply()
            prepare_dagster_home(home)
            with DagsterInstance.get() as instance:
                register_universe_symbols(instance)
                register_symbols(instance, symbols)
            servers = DevServers(home=home, variables=dict(env.variables))
            yield servers
    finally:
        if servers is not None:  # everything is stopped by now: say whether it really is
            servers.leftovers = leftover_processes(home)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(home, ignore_errors=True)
