"""A second terminal beside a running dev stack: every command finds it, with its own role.

One stack per module, started the way an operator starts it (`market-assets stack-run` in a
subprocess, its command a sleeper that says when it is up), with two fixed FX sessions loaded
by `market-assets backfill` from the second terminal. Each command then runs in a subprocess
whose environment names no store (MARKET_ASSETS_HOME only), as a new shell would.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from market_assets.core import settings as s
from market_assets.devstack.discovery import STORE_URL_VARIABLES
from tests.plugins.servers import server_state_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CLI = [sys.executable, "-m", "market_assets.cli.app"]
START_TIMEOUT = 300.0
SESSIONS = ("2024-03-13", "2024-03-14")  # Wednesday and Thursday: FX sessions whatever today is
CLEARED = (
    *STORE_URL_VARIABLES,
    s.S3_ACCESS_KEY,
    s.S3_SECRET_KEY,
    s.S3_REGION,
    s.DAGSTER_PG_URL,
    s.DAGSTER_HOME,
    s.HOME,
    "AWS_ENDPOINT_URL",
)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A new shell's environment: no store variables, only the state folder."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update({s.HOME: str(home), s.SOURCE_OVERRIDE: "generator", "COLUMNS": "200"})
    env.update(extra)
    return env


def cli(
    args: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The state folder of a running stack (stack-run in a subprocess), with two sessions of
    USDJPY loaded through the CLI."""
    with server_state_dir(tmp_path_factory, "operator") as home:
        ready = home / "ready"
        log = (home / "stack-run.log").open("w")
        sleeper = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(1200)"
        owner = subprocess.Popen(
            [
                *CLI,
                "stack-run",
                "--seed-days",
                "0",
                "--",
                sys.executable,
                "-c",
                sleeper,
                str(ready),
            ],
            env=clean_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not ready.exists():
                if owner.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        f"stack-run did not come up:\n{(home / 'stack-run.log').read_text()}"
                    )
                time.sleep(0.5)
            loaded = cli(
                [
                    "backfill",
                    "--in-process",
                    "--start",
                    SESSIONS[0],
                    "--end",
                    SESSIONS[1],
                    "-s",
                    "USDJPY",
                ],
                clean_env(home),
                timeout=300,
            )
            assert loaded.returncode == 0, loaded.stdout + loaded.stderr
            yield home
        finally:
            if owner.poll() is None:
                owner.send_signal(signal.SIGTERM)  # unwinds: the sleeper, then every server
                try:
                    owner.wait(90)
                except subprocess.TimeoutExpired:
                    os.killpg(owner.pid, signal.SIGKILL)
                    owner.wait()
            log.close()


def test_doctor_finds_every_store_of_the_running_stack(stack_home: Path) -> None:
    result = cli(["doctor"], clean_env(stack_home))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" up ") == 3, result.stdout
    assert "PostgreSQL (reader)" in result.stdout


def test_bars_as_csv_from_a_second_terminal(stack_home: Path) -> None:
    result = cli(["bars", "USDJPY", "H1", "--last", "5", "--format", "csv"], clean_env(stack_home))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.stdout.splitlines()[0] == "ts,session_date,open,high,low,close,volume"
    assert len(rows) == 5 and len(result.stdout.splitlines()) == 6
    stamps = [dt.datetime.fromisoformat(r["ts"]) for r in rows]
    assert all(
        ts.utcoffset() == dt.timedelta(0) and r["ts"].endswith("Z")
        for ts, r in zip(stamps, rows, strict=True)
    )
    assert stamps == sorted(stamps) and stamps[-1] == dt.datetime(2024, 3, 14, 20, tzinfo=dt.UTC)
    assert {r["session_date"] for r in rows} == {SESSIONS[1]}
    assert all(float(r["low"]) <= float(r["close"]) <= float(r["high"]) for r in rows)
    assert "bars from" in result.stderr  # the summary stays out of the data


def test_env_exports_the_reader_for_psql_and_the_owner_only_when_asked(stack_home: Path) -> None:
    result = cli(["env"], clean_env(stack_home))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("export ") for line in lines)
    values = dict(shlex.split(line[len("export ") :])[0].split("=", 1) for line in lines)
    assert values["PGUSER"] == "ma_reader" and values["PGDATABASE"] == "market"
    for name in (
        "PGHOST",
        "PGPORT",
        "PGPASSWORD",
        "DATABASE_URL",
        "REDIS_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        s.PG_READER_URL,
        s.REDIS_URL,
        s.S3_ENDPOINT,
    ):
        assert values.get(name), name
    assert "ma_writer" not in result.stdout and "ma_owner" not in result.stdout
    assert s.PG_URL + "=" not in result.stdout and s.PG_ADMIN_URL not in result.stdout

    # The lines are valid shell, and libpq (psycopg, as psql would) connects with them alone.
    probe = (
        "import psycopg; c = psycopg.connect(''); "
        "print(c.execute('SELECT current_user').fetchone()[0]); "
        "print(c.execute('SELECT count(*) FROM ohlcv_bars').fetchone()[0])"
    )
    script = f'eval "$({shlex.join(CLI)} env)" && {shlex.quote(sys.executable)} -c "$0"'
    shell = subprocess.run(
        ["bash", "-c", script, probe],
        env=clean_env(stack_home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shell.returncode == 0, shell.stderr
    user, count = shell.stdout.split()
    assert user == "ma_reader" and int(count) > 0

    owner = cli(["env", "--owner"], clean_env(stack_home))
    assert owner.returncode == 0, owner.stderr
    assert "export PGUSER=ma_owner" in owner.stdout and "ma_reader" not in owner.stdout


def test_two_commands_at_once_leave_the_state_folder_unchanged(stack_home: Path) -> None:
    watched = [stack_home / "servers" / "stack.json", stack_home / "roles.json"]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in watched]
    env = clean_env(stack_home)
    commands = [["bars", "USDJPY", "H1", "--last", "3", "--format", "json"], ["doctor"]]
    running = [
        subprocess.Popen(
            [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in commands
    ]
    outcomes = [(p.wait(180), *p.communicate()) for p in running]
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    assert outcomes[0][1].lstrip().startswith("[")
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in watched] == before


def test_stack_run_joins_the_running_stack(stack_home: Path) -> None:
    probe = "import os, sys; print(os.environ['MARKET_ASSETS_PG_URL'].split(':')[1]); sys.exit(3)"
    result = cli(["stack-run", "--", sys.executable, "-c", probe], clean_env(stack_home))
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.strip().endswith("//ma_writer")
    assert "already running" in result.stderr and "Traceback" not in result.stderr


def test_without_a_running_stack_an_error_is_one_line(tmp_path: Path) -> None:
    result = cli(["bars", "USDJPY", "H1"], clean_env(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert s.PG_READER_URL in result.stderr
    debug = cli(["--debug", "bars", "USDJPY", "H1"], clean_env(tmp_path))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_every_store_down_is_one_line_from_bars(tmp_path: Path) -> None:
    secret = "pw-never-shown"
    env = clean_env(
        tmp_path,
        **{
            s.PG_READER_URL: f"postgresql://ma_reader:{secret}@127.0.0.1:{_closed_port()}/market",
            s.REDIS_URL: f"redis://127.0.0.1:{_closed_port()}/0",
            s.S3_ENDPOINT: f"http://127.0.0.1:{_closed_port()}",
            s.S3_ACCESS_KEY: "key",
            s.S3_SECRET_KEY: secret,
        },
    )
    result = cli(["bars", "USDJPY", "H1", "--last", "5", "--format", "csv"], env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "every store failed" in lines[0] and "redis:" in lines[0] and "postgres:" in lines[0]
    assert secret not in result.stderr and result.stdout == ""
