"""Fixtures of the end-to-end tests: one `market-assets dev` stack per module, on a free port.

The stack (embedded PostgreSQL, Valkey, SeaweedFS, then `dagster dev`) runs in a fresh state
folder with schedules and sensors stopped (``MARKET_ASSETS_AUTOMATION=off``), so the only runs
are the ones a test launches. It is stopped with SIGTERM (the CLI stops the UI, the daemon and
every server it started) and killed, with its whole process group, if it does not stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.plugins.servers import server_state_dir

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVER_INFO_TIMEOUT_S = 150.0
ASSETS_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0

# Debian's chromium, driven by Playwright (it cannot download a browser here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"


def require_chromium() -> None:
    """Skip without chromium or Playwright, except on CI (CI=true), where that is a failure.
    Browser modules call it from a module-scoped autouse fixture, before any stack starts."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed")
    if problems:
        reason = "; ".join(problems)
        if IN_CI:
            pytest.fail(f"browser test cannot run on CI: {reason}", pytrace=False)
        pytest.skip(reason)


@contextlib.contextmanager
def browser_context(viewport: dict[str, int], timeout_ms: int) -> Iterator[Any]:
    """A fresh headless chromium context; the browser is closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport=viewport)
            context.set_default_timeout(timeout_ms)
            yield context
        finally:
            browser.close()


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot kept under artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path.relative_to(PROJECT_ROOT)}")
    return path


@dataclass(frozen=True)
class DevStack:
    """A running `market-assets dev`: its webserver URL and its log file."""

    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a GraphQL query to the webserver; fail on transport or GraphQL errors."""
        response = requests.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(stack: DevStack) -> None:
    deadline = time.monotonic() + SERVER_INFO_TIMEOUT_S
    while True:
        if stack.process.poll() is not None:
            raise RuntimeError(
                f"market-assets dev exited with {stack.process.returncode}:\n{stack.log_tail()}"
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{stack.base_url}/server_info", timeout=5).status_code == 200:
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"no /server_info after {SERVER_INFO_TIMEOUT_S:.0f} s")
        time.sleep(1)
    deadline = time.monotonic() + ASSETS_TIMEOUT_S
    while True:
        with contextlib.suppress(requests.RequestException, AssertionError, KeyError):
            data = stack.graphql("{ assetNodes { assetKey { path } } }")
            if ["raw_bars"] in [node["assetKey"]["path"] for node in data["assetNodes"]]:
                return
        if stack.process.poll() is not None or time.monotonic() > deadline:
            raise TimeoutError(f"code location without raw_bars:\n{stack.log_tail()}")
        time.sleep(1)


def _leftovers(home: str) -> list[psutil.Process]:
    """Live processes whose environment names this stack's state folder."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if (
                proc.status() != psutil.STATUS_ZOMBIE
                and proc.environ().get("MARKET_ASSETS_HOME") == home
            ):
                found.append(proc)
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM and wait; kill the process group only if the CLI does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Anything left in the group (it should be empty after a clean stop) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def stack_home(state: Path) -> Path:
    """MARKET_ASSETS_HOME of the stack run on ``state`` by `running_dev_stack`."""
    return state / "home"


def listening_ports(ports: Iterator[int] | list[int]) -> list[int]:
    """Those of ``ports`` on which something still accepts connections on 127.0.0.1."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def _stack_ports(home: Path) -> list[int]:
    """The embedded servers' ports from stack.json (read before the stack stops)."""
    from market_assets.devstack.discovery import SERVERS_DIR
    from market_assets.devstack.stack import read_stack_file

    data = read_stack_file(home / SERVERS_DIR) or {}
    found: list[int] = []
    for value in (data.get("ports") or {}).values():
        found.extend(value.values() if isinstance(value, dict) else [value])
    return [int(port) for port in found if isinstance(port, int)]


@contextlib.contextmanager
def running_dev_stack(state: Path) -> Iterator[DevStack]:
    """`market-assets dev --seed-days 0` on a free port, automation off, in ``state``.

    On the way out it is stopped (SIGTERM, as a terminal's Ctrl-C would), and the test fails
    when any process of the stack (servers, daemon, webserver, gRPC code servers, run
    workers: they all carry its MARKET_ASSETS_HOME) or any of its ports outlived the stop.
    """
    port = free_port()
    home = stack_home(state)
    log_path = state / "dev.log"
    env = {
        **os.environ,
        "MARKET_ASSETS_HOME": str(home),
        "MARKET_ASSETS_AUTOMATION": "off",
        "MARKET_ASSETS_RETENTION_M1": "off",
        "DAGSTER_HOME": str(home / "dagster_home"),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",  # the log's lines are not wrapped at 80 (rich, no terminal)
    }
    # Whatever names other servers in the caller's environment must not leak in.
    for name in list(env):
        if name.startswith(("MARKET_ASSETS_PG_", "MARKET_ASSETS_S3_")) or name in {
            "MARKET_ASSETS_REDIS_URL",
            "DAGSTER_PG_URL",
        }:
            del env[name]
    cli = Path(sys.executable).with_name("market-assets")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(cli), "dev", "--port", str(port), "--seed-days", "0", "--chart-port", "0"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = DevStack(f"http://127.0.0.1:{port}", log_path, process)
    ports = [port]
    try:
        _wait_until_ready(stack)
        ports += _stack_ports(home)
        yield stack
    finally:
        _stop(process)
        print(f"\n[market-assets dev exited with {process.returncode}; log tail]")
        print(stack.log_tail(8))
    left = _leftovers(str(home))
    if left:
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        pytest.fail(f"processes left behind by `market-assets dev`: {left}")
    busy = listening_ports(ports)
    if busy:
        pytest.fail(f"ports of the stopped stack still listening: {busy}")


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """`market-assets dev --seed-days 0` on a free port, automation off, own state folder."""
    with server_state_dir(tmp_path_factory, "e2e") as state, running_dev_stack(state) as stack:
        yield stack
