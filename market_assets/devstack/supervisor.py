"""Watching the dev stack's servers: a server that dies is named and started again.

Before, a SIGKILLed embedded PostgreSQL (which also holds the Dagster instance) went unnoticed:
`market-assets dev` kept running while the daemon logged "Retrying failed database connection"
forever. The supervisor polls each server it was given; when one's process has exited it says
so at once (store, address, exit code), starts it again on the same ports and data (PostgreSQL
runs its crash recovery), and after `max_restarts` failed or repeated restarts within
`window_s` it gives up with a clear line and calls `on_give_up` (the CLI stops the whole stack
then, rather than serve half of it).

A server being stopped on purpose (`request_stop`, the stack unwinding) is never restarted:
stop the supervisor first (it is a context manager) and it waits for its thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from market_assets.devstack.process import ManagedServer, ServerStartError

POLL_S = 2.0  # a death is reported within this, well inside the 10 s an operator waits
MAX_RESTARTS = 3
WINDOW_S = 600.0


@dataclass
class _Watch:
    server: ManagedServer
    restarts: deque[float] = field(default_factory=deque)
    down: bool = False  # died, and not started again yet (a failed restart is tried again)


def describe(server: ManagedServer) -> str:
    """`postgres on 127.0.0.1:5432`: the store and its address, never credentials."""
    ports = ", ".join(str(p) for p in server.ports())
    return f"{server.name} on {server.host}:{ports}"


class Supervisor:
    """A thread that restarts the given servers when their processes die."""

    def __init__(
        self,
        servers: Sequence[ManagedServer],
        report: Callable[[str], None],
        on_give_up: Callable[[str], None] | None = None,
        *,
        poll_s: float = POLL_S,
        max_restarts: int = MAX_RESTARTS,
        window_s: float = WINDOW_S,
    ) -> None:
        self._watches = [_Watch(s) for s in servers]
        self._report = report
        self._on_give_up = on_give_up
        self._poll_s = poll_s
        self._max_restarts = max_restarts
        self._window_s = window_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.gave_up: str | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="stack-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)  # a restart in progress finishes first

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            for watch in self._watches:
                if self._stop.is_set() or self.gave_up:
                    return
                self._check(watch)

    def _check(self, watch: _Watch) -> None:
        server = watch.server
        where = describe(server)
        if not watch.down:
            code = server.exited()
            if code is None:
                return
            watch.down = True
            self._report(f"{where} died (exit code {code})")
        now = time.monotonic()
        while watch.restarts and now - watch.restarts[0] > self._window_s:
            watch.restarts.popleft()
        if len(watch.restarts) >= self._max_restarts:
            self._give_up(
                f"{where}: {len(watch.restarts)} restarts within {self._window_s:.0f} s;"
                " stopping the stack"
            )
            return
        watch.restarts.append(now)
        attempt = len(watch.restarts)
        self._report(f"restarting {where} (attempt {attempt} of {self._max_restarts})")
        try:
            server.restart()
        except ServerStartError as exc:
            self._report(f"{where} did not start again: {exc}".splitlines()[0])
            if attempt >= self._max_restarts:
                self._give_up(f"{where} cannot be started again; stopping the stack")
            return
        watch.down = False
        self._report(f"{where} is back (pid {server.pid})")

    def _give_up(self, message: str) -> None:
        self.gave_up = message
        self._report(message)
        if self._on_give_up is not None:
            self._on_give_up(message)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
