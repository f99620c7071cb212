"""Server child processes: spawn, pidfiles, readiness waits and clean stops.

Every embedded server (PostgreSQL, Valkey, SeaweedFS) is a plain child process whose
stdout/stderr go to ``<state>/logs/<name>.log`` and whose pid is kept in
``<state>/run/<name>.pid``. The rules, shared by all of them:

* children die with us: they run in their own session (so a Ctrl-C in the terminal reaches only
  Python, which then stops them in order), and on Linux they get a parent-death signal so that
  even a SIGKILL of the Python process stops them;
* a pidfile whose process is gone, or whose pid now belongs to an unrelated process, is stale
  and is removed; such a process is never signalled. A process is recognised as ours only when
  its start time matches the pidfile and its working directory (or command line) is the
  server's data directory;
* every wait has a deadline, and a failed start raises `ServerStartError` naming the server
  and quoting the tail of its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import psutil

from market_assets.devstack.ports import LOOPBACK, is_port_free

LOG_TAIL_LINES = 40
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 30.0


class ServerStartError(RuntimeError):
    """A server did not become ready; the message names it and quotes its log."""

    def __init__(
        self, server: str, reason: str, log_path: Path | None = None, log_tail: str = ""
    ) -> None:
        self.server = server
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        message = f"{server} failed to start: {reason}"
        if log_path is not None:
            message += f"\n--- last lines of {log_path} ---\n{log_tail.rstrip() or '(empty)'}"
        super().__init__(message)


class PortInUseError(ServerStartError):
    """The server could not bind one of its ports (taken by someone else after we chose it)."""

    def __init__(
        self,
        server: str,
        ports: Sequence[int],
        log_path: Path | None = None,
        log_tail: str = "",
    ) -> None:
        self.ports = tuple(ports)
        busy = ", ".join(str(p) for p in self.ports)
        super().__init__(server, f"port(s) {busy} already in use", log_path, log_tail)


@dataclass(frozen=True)
class PidRecord:
    """What a pidfile says: the pid and, when we wrote it, the process start time."""

    pid: int
    create_time: float | None = None


def read_pidfile(path: Path) -> PidRecord | None:
    """The record in ``path``; None when it is missing or unreadable (treated as stale).

    Accepts our JSON form and a bare pid on the first line (as other tools write them).
    """
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        first = text.splitlines()[0].strip() if text else ""
        return PidRecord(int(first)) if first.isdigit() else None
    if isinstance(data, int):
        return PidRecord(data)
    if isinstance(data, dict) and isinstance(data.get("pid"), int):
        created = data.get("create_time")
        return PidRecord(data["pid"], float(created) if created is not None else None)
    return None


def write_pidfile(path: Path, pid: int) -> PidRecord:
    """Record ``pid`` with its start time (atomically), so pid reuse can be detected later."""
    try:
        created: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        created = None
    record = PidRecord(pid, created)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"pid": pid, "create_time": created}) + "\n")
    tmp.replace(path)
    return record


def process_is_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie waiting to be reaped."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_our_process(record: PidRecord, workdir: Path) -> bool:
    """True only when ``record.pid`` is provably the server we started in ``workdir``.

    Anything we cannot prove (other start time, other directory, no permission to look) is
    not ours, so callers never signal it.
    """
    try:
        proc = psutil.Process(record.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if record.create_time is not None and abs(proc.create_time() - record.create_time) > 1:
            return False
        target = str(workdir.resolve())
        with contextlib.suppress(psutil.Error):
            if proc.cwd() == target:
                return True
        return any(target in arg for arg in proc.cmdline())
    except psutil.Error:
        return False


def clear_stale_pidfile(path: Path, workdir: Path) -> PidRecord | None:
    """Remove ``path`` unless it names a live server of ours; return that server's record."""
    record = read_pidfile(path)
    if record is not None and is_our_process(record, workdir):
        return record
    path.unlink(missing_ok=True)
    return None


def terminate_process(pid: int, steps: Sequence[tuple[int, float]]) -> bool:
    """Send each signal in ``steps`` and wait its timeout until ``pid`` is gone.

    For processes that are not our children (left over by an earlier run); callers must have
    checked `is_our_process` first. Returns True when the process is gone.
    """
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    for sig, timeout in steps:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
            return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            continue
    return not process_is_alive(pid)


def tail_text(path: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``path`` written after byte ``offset`` ("" if none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


_PR_SET_PDEATHSIG = 1


def parent_death_signal(sig: int) -> Callable[[], None] | None:
    """A preexec hook asking Linux to send ``sig`` to the child when we die (else None).

    libc and the function are resolved here, in the parent, so the child only makes one
    foreign call between fork and exec. CPython switches user (``user=``) before running the
    hook, so the setting survives the credential change that would otherwise clear it. The
    signal fires when the *thread* that spawned the child exits: spawn from a long-lived thread
    (the dev stack spawns from the thread that calls ``start()``).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # we died before the request took effect
            os._exit(1)

    return hook


class ManagedServer:
    """One server process owned by the dev stack; subclasses say how to prepare and probe it.

    ``start()`` = ``launch()`` (prepare the data directory, spawn) + ``wait_ready()``; the two
    halves are public so a stack can launch several servers and then wait for all of them.
    A server left running by an earlier, crashed owner of the same state folder (its pidfile
    names a live process of ours) is stopped cleanly before the new one starts: the new owner
    must control ports, credentials and lifetime, so adopting a stranger's process is not
    worth the ambiguity.
    """

    name: ClassVar[str] = "server"
    data_dir_name: ClassVar[str] = "server"
    stop_signal: ClassVar[int] = signal.SIGTERM

    def __init__(
        self,
        state_dir: Path | str,
        *,
        host: str = LOOPBACK,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.host = host
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.data_dir = self.state_dir / self.data_dir_name
        self.log_path = self.state_dir / "logs" / f"{self.name}.log"
        self.pidfile = self.state_dir / "run" / f"{self.name}.pid"
        self._process: subprocess.Popen[bytes] | None = None
        self._stop_requested = False
        self._log_offset = 0

    # -- hooks for subclasses -------------------------------------------------------------

    def ports(self) -> list[int]:
        """Every TCP port this server listens on (checked when a start fails)."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """Create the data directory and config files before spawning."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _spawn_options(self) -> dict[str, Any]:
        """Extra `subprocess.Popen` arguments (``user``, ``env``...)."""
        return {}

    def _probe(self) -> bool:
        """One quick readiness check; may raise `ServerStartError` for a hopeless state."""
        raise NotImplementedError

    def _after_stop(self) -> None:
        """Remove leftovers of a stopped process (sockets...)."""

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        """True while the process we started is alive (not whether it answers)."""
        return self._process is not None and self._process.poll() is None

    def exited(self) -> int | None:
        """The exit code of the process we started if it ended on its own; None while it runs,
        once a stop was asked for, and before any start (the supervisor's question)."""
        process = self._process
        if process is None or self._stop_requested:
            return None
        return process.poll()

    def restart(self) -> Self:
        """Start again after the process ended on its own: same ports, same data directory."""
        self._forget()
        return self.start()

    def launch(self) -> None:
        """Prepare the data directory and spawn the server without waiting for it."""
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.stop_leftover()
        self._prepare()
        command = self._command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n=== {stamp} market-assets starts {self.name}: {command}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    start_new_session=True,
                    preexec_fn=parent_death_signal(self.stop_signal),
                    **self._spawn_options(),
                )
            except OSError as exc:
                raise self._error(f"cannot execute {command[0]}: {exc}") from exc
        write_pidfile(self.pidfile, self._process.pid)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll until the server answers; on exit or deadline stop it and raise."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was not launched")
        limit = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            code = self._process.poll()
            if code is not None:
                self.stop()
                raise self._error(f"process exited with code {code}")
            try:
                if self._probe():
                    return
            except ServerStartError:
                self.stop()
                raise
            if time.monotonic() >= deadline:
                error = self._error(f"not ready after {limit:.0f} s")
                self.stop()
                raise error
            time.sleep(0.1)

    def start(self) -> Self:
        """Launch and wait until ready; a failed start leaves nothing running."""
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def request_stop(self) -> None:
        """Send the stop signal once, without waiting (lets a stack stop servers in parallel)."""
        process = self._process
        if process is None or self._stop_requested or process.poll() is not None:
            return
        self._stop_requested = True
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(self.stop_signal)

    def stop(self) -> None:
        """Stop the process we started (stop signal, then SIGKILL after the timeout)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self.request_stop()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(5)
        self._forget()
        self._after_stop()

    def stop_leftover(self) -> None:
        """Stop a live server of ours that an earlier run left behind; drop stale pidfiles."""
        record = clear_stale_pidfile(self.pidfile, self.data_dir)
        if record is None:
            return
        self._note(f"stopping {self.name} pid {record.pid} left running by an earlier run")
        terminate_process(
            record.pid, [(self.stop_signal, self.stop_timeout), (signal.SIGKILL, 5.0)]
        )
        self.pidfile.unlink(missing_ok=True)
        self._after_stop()

    def _forget(self) -> None:
        self._process = None
        self._stop_requested = False
        record = read_pidfile(self.pidfile)
        if record is not None and not process_is_alive(record.pid):
            self.pidfile.unlink(missing_ok=True)

    def _note(self, message: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} market-assets: {message}\n")

    def _error(self, reason: str) -> ServerStartError:
        tail = tail_text(self.log_path, self._log_offset)
        busy = [port for port in self.ports() if not is_port_free(port, self.host)]
        if busy and not self.is_running():
            return PortInUseError(self.name, busy, self.log_path, tail)
        return ServerStartError(self.name, reason, self.log_path, tail)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
