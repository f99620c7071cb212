"""`DevStack`: PostgreSQL, Valkey and SeaweedFS under one state folder, started together.

Layout of the state folder (``.market-assets/`` or ``MARKET_ASSETS_HOME`` for the CLI)::

    stack.json          ports, generated credentials and URLs of the last start (mode 0600)
    stack.lock          held (flock) while a stack runs; contains the owner's pid
    postgres/ valkey/ seaweedfs/    data, survives restarts
    logs/<server>.log   stdout/stderr of each server, appended across starts
    run/<server>.pid    pid + start time of each running server

Choices, and why:

* one owner at a time: a second stack on a busy folder fails with `StackBusyError` naming the
  owner's pid (its servers are never touched). Once the lock is ours, any server still alive
  from the folder is an orphan of a crashed owner and is stopped cleanly before we start ours;
* the ports of the last start are preferred so URLs stay stable; a port someone else took
  meanwhile is replaced by a fresh free one (and a bind race at start is retried);
* credentials (superuser password, S3 keys) are generated once and kept in stack.json,
  because the PostgreSQL cluster is initialised with that password;
* servers are spawned first and awaited afterwards, so their start-ups overlap; they are
  stopped the same way. SIGTERM/SIGHUP inside ``with DevStack(...)`` (main thread) raise
  ``SystemExit`` so the block unwinds and stops everything, as Ctrl-C does; an ``atexit``
  hook and the parent-death signal of each child cover the remaining exits.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import secrets
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Self, TypeVar

from market_assets.devstack.ports import LOOPBACK, choose_port, find_free_port
from market_assets.devstack.postgres import PostgresServer
from market_assets.devstack.process import (
    DEFAULT_START_TIMEOUT,
    ManagedServer,
    PortInUseError,
)
from market_assets.devstack.seaweed import (
    DEFAULT_REGION,
    S3Endpoint,
    SeaweedPorts,
    SeaweedServer,
)
from market_assets.devstack.valkey import ValkeyServer

STACK_FILE = "stack.json"
LOCK_FILE = "stack.lock"
STACK_FILE_VERSION = 1
PORT_RETRIES = 3
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

T = TypeVar("T")


class StackBusyError(RuntimeError):
    """Another live process runs a stack on the same state folder."""


@dataclass
class StackState:
    """What stack.json remembers between starts."""

    postgres_password: str
    s3_access_key: str
    s3_secret_key: str
    s3_region: str = DEFAULT_REGION
    postgres_port: int | None = None
    valkey_port: int | None = None
    seaweed_ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def generate(cls) -> Self:
        return cls(
            postgres_password=secrets.token_urlsafe(18),
            s3_access_key="ma" + secrets.token_hex(9),
            s3_secret_key=secrets.token_urlsafe(30),
        )

    @classmethod
    def load(cls, path: Path) -> Self:
        """The remembered state, or fresh credentials when the file is missing or corrupt."""
        try:
            data = json.loads(path.read_text())
            ports = data.get("ports", {})
            return cls(
                postgres_password=str(data["postgres"]["password"]),
                s3_access_key=str(data["s3"]["access_key"]),
                s3_secret_key=str(data["s3"]["secret_key"]),
                s3_region=str(data["s3"].get("region") or DEFAULT_REGION),
                postgres_port=_int_or_none(ports.get("postgres")),
                valkey_port=_int_or_none(ports.get("valkey")),
                seaweed_ports=dict(ports.get("seaweedfs") or {}),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls.generate()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def read_stack_file(state_dir: Path | str) -> dict[str, Any] | None:
    """stack.json of ``state_dir`` (ports, credentials, URLs), or None when there is none."""
    try:
        data = json.loads((Path(state_dir) / STACK_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class DevStack:
    """The three embedded servers of the dev stack; use as a context manager.

    >>> with DevStack(".market-assets") as stack:        # doctest: +SKIP
    ...     stack.pg_admin_url, stack.redis_url, stack.s3.endpoint_url
    """

    def __init__(
        self,
        state_dir: Path | str,
        *,
        host: str = LOOPBACK,
        durable: bool = True,
        buckets: Sequence[str] = (),
        start_timeout: float = DEFAULT_START_TIMEOUT,
        handle_signals: bool = True,
    ) -> None:
        """``durable=False`` runs PostgreSQL without fsync (tests); ``buckets`` are created."""
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.host = host
        self.durable = durable
        self.buckets = tuple(buckets)
        self.start_timeout = start_timeout
        self.handle_signals = handle_signals
        self.postgres: PostgresServer | None = None
        self.valkey: ValkeyServer | None = None
        self.seaweed: SeaweedServer | None = None
        self._state: StackState | None = None
        self._lock: IO[str] | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._stopping = False

    # -- addresses --------------------------------------------------------------------------

    @property
    def stack_file(self) -> Path:
        return self.state_dir / STACK_FILE

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pg_admin_url(self) -> str:
        return self._require(self.postgres).admin_url

    @property
    def redis_url(self) -> str:
        return self._require(self.valkey).url

    @property
    def s3(self) -> S3Endpoint:
        return self._require(self.seaweed).endpoint

    @property
    def ports(self) -> dict[str, Any]:
        """Chosen ports: ``{"postgres": n, "valkey": n, "seaweedfs": {"s3": n, ...}}``."""
        return {
            "postgres": self._require(self.postgres).port,
            "valkey": self._require(self.valkey).port,
            "seaweedfs": self._require(self.seaweed).port_set.as_dict(),
        }

    def ensure_bucket(self, name: str) -> str:
        return self._require(self.seaweed).ensure_bucket(name)

    def servers(self) -> list[ManagedServer]:
        return [s for s in (self.postgres, self.valkey, self.seaweed) if s is not None]

    @staticmethod
    def _require(server: T | None) -> T:
        if server is None:
            raise RuntimeError("the dev stack is not started")
        return server

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start all three servers (or raise, leaving nothing running)."""
        if self.servers():
            raise RuntimeError("the dev stack is already started")
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._acquire_lock()
        try:
            self._start_locked()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def _start_locked(self) -> None:
        state = self._state = StackState.load(self.stack_file)
        self.postgres = PostgresServer(
            self.state_dir,
            state.postgres_password,
            host=self.host,
            durable=self.durable,
            start_timeout=self.start_timeout,
        )
        self.valkey = ValkeyServer(self.state_dir, host=self.host, start_timeout=self.start_timeout)
        self.seaweed = SeaweedServer(
            self.state_dir,
            state.s3_access_key,
            state.s3_secret_key,
            region=state.s3_region,
            host=self.host,
            start_timeout=self.start_timeout,
        )
        servers = [self.seaweed, self.valkey, self.postgres]  # slowest first
        for server in servers:
            server.stop_leftover()  # frees the ports an orphan still holds
        self._choose_ports(state)
        self._save()
        for server in servers:
            server.launch()
        for server in reversed(servers):
            self._wait_ready(server)
        self._save()
        for bucket in self.buckets:
            self.seaweed.ensure_bucket(bucket)

    def _choose_ports(self, state: StackState) -> None:
        """Remembered ports when free, else fresh ones; never the same port twice."""
        assert self.postgres and self.valkey and self.seaweed
        used: set[int] = set()

        def pick(preferred: int | None) -> int:
            port = choose_port(preferred, self.host, used)
            used.add(port)
            return port

        self.postgres.port = pick(state.postgres_port)
        self.valkey.port = pick(state.valkey_port)
        remembered = state.seaweed_ports
        self.seaweed.port_set = SeaweedPorts(
            **{name: pick(_int_or_none(remembered.get(name))) for name in SeaweedPorts.FIELDS}
        )

    def _wait_ready(self, server: ManagedServer) -> None:
        """Wait for ``server``; when a port was taken meanwhile, retry on fresh ports."""
        for attempt in range(PORT_RETRIES):
            try:
                if attempt:
                    server.start()
                else:
                    server.wait_ready()
                return
            except PortInUseError:
                if attempt == PORT_RETRIES - 1:
                    raise
                self._repick_ports(server)

    def _repick_ports(self, server: ManagedServer) -> None:
        taken = {port for s in self.servers() if s is not server for port in s.ports()}
        if isinstance(server, SeaweedServer):
            server.port_set = SeaweedPorts.free(self.host, taken)
        elif isinstance(server, PostgresServer | ValkeyServer):
            server.port = find_free_port(self.host, taken)

    def stop(self) -> None:
        """Stop every server we started (in parallel), release the folder. Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        try:
            servers = self.servers()
            for server in servers:
                with contextlib.suppress(Exception):
                    server.request_stop()
            for server in servers:
                with contextlib.suppress(Exception):
                    server.stop()
            self.postgres = self.valkey = self.seaweed = None
            self._release_lock()
            atexit.unregister(self.stop)
        finally:
            self._stopping = False

    # -- state file and lock ----------------------------------------------------------------

    def _save(self) -> None:
        """Write stack.json (0600: it holds the generated passwords)."""
        state = self._state
        assert state is not None and self.postgres and self.valkey and self.seaweed
        state.postgres_port = self.postgres.port
        state.valkey_port = self.valkey.port
        state.seaweed_ports = self.seaweed.port_set.as_dict()
        data = {
            "version": STACK_FILE_VERSION,
            "host": self.host,
            "ports": self.ports,
            "postgres": {"superuser": "postgres", "password": state.postgres_password},
            "s3": {
                "access_key": state.s3_access_key,
                "secret_key": state.s3_secret_key,
                "region": state.s3_region,
            },
            "urls": {
                "pg_admin": self.pg_admin_url,
                "redis": self.redis_url,
                "s3": self.seaweed.endpoint_url,
            },
        }
        tmp = self.stack_file.with_name(STACK_FILE + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        tmp.replace(self.stack_file)

    def _acquire_lock(self) -> None:
        path = self.state_dir / LOCK_FILE
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StackBusyError(
                f"the state folder {self.state_dir} is in use by another dev stack "
                f"(pid {owner}); stop it first or use another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(OSError):
            self._lock.seek(0)
            self._lock.truncate()
        self._lock.close()  # closing the descriptor releases the flock
        self._lock = None

    # -- context manager and signals --------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            return
        raise SystemExit(128 + signum)

    def _install_signal_handlers(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        for sig in HANDLED_SIGNALS:
            self._previous_handlers[sig] = signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
        self._previous_handlers.clear()

    def __enter__(self) -> Self:
        self._install_signal_handlers()
        try:
            return self.start()
        except BaseException:
            self._restore_signal_handlers()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._restore_signal_handlers()
