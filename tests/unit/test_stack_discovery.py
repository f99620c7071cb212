"""Finding a running dev stack from its state folder: roles, stale locks, hand-set variables.

The state folder is written here in the layout `dev` leaves (devstack/stack.py, secrets.py) and
its lock is held by this process, as the stack's owner holds it; no server is needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from market_assets.cli.app import error_line
from market_assets.core import settings as s
from market_assets.devstack import discovery

ROLES = {"owner": "own-pw", "writer": "wri-pw", "reader": "rea-pw", "dagster": "dag-pw"}


def _write_state(state: Path, pid: int) -> Path:
    servers = state / "servers"
    servers.mkdir(parents=True)
    (state / "roles.json").write_text(json.dumps(ROLES))
    stack = {
        "version": 1,
        "host": "127.0.0.1",
        "ports": {"postgres": 55001, "valkey": 55002, "seaweedfs": {"s3": 55003}},
        "postgres": {"superuser": "postgres", "password": "su-pw"},
        "s3": {"access_key": "makey", "secret_key": "s3-secret", "region": "us-east-1"},
        "urls": {
            "pg_admin": "postgresql://postgres:su-pw@127.0.0.1:55001/postgres",
            "redis": "redis://127.0.0.1:55002/0",
            "s3": "http://127.0.0.1:55003",
        },
    }
    (servers / "stack.json").write_text(json.dumps(stack))
    lock = servers / "stack.lock"
    lock.write_text(f"{pid}\n")
    return lock


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    """A state folder whose lock this process holds, as a running `dev` would."""
    lock = _write_state(tmp_path, os.getpid())
    handle: IO[str] = lock.open("a+")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        yield tmp_path
    finally:
        handle.close()


def test_each_role_gets_its_own_database_url_and_the_shared_stores(running: Path) -> None:
    reader = discovery.running_stack_environment(running, "reader")
    assert reader is not None
    assert reader[s.PG_READER_URL] == "postgresql://ma_reader:rea-pw@127.0.0.1:55001/market"
    assert s.PG_URL not in reader and s.PG_OWNER_URL not in reader
    assert s.PG_ADMIN_URL not in reader and s.DAGSTER_PG_URL not in reader
    assert reader[s.REDIS_URL] == "redis://127.0.0.1:55002/0"
    assert reader[s.S3_ENDPOINT] == "http://127.0.0.1:55003"
    assert (reader[s.S3_ACCESS_KEY], reader[s.S3_SECRET_KEY]) == ("makey", "s3-secret")

    writer = discovery.running_stack_environment(running, "writer")
    assert writer is not None and s.PG_READER_URL not in writer
    assert writer[s.PG_URL].startswith("postgresql://ma_writer:wri-pw@")
    assert writer[s.DAGSTER_PG_URL].startswith("postgresql+psycopg2://ma_dagster:dag-pw@")
    assert writer[s.DAGSTER_PG_URL].endswith("/dagster")
    assert writer[s.DAGSTER_HOME] == str(running.resolve() / "dagster_home")

    owner = discovery.running_stack_environment(running, "owner")
    assert owner is not None and owner[s.PG_OWNER_URL].startswith("postgresql://ma_owner:")
    assert s.PG_URL not in owner

    everything = discovery.running_stack_environment(running, "all")
    assert everything is not None
    assert everything[s.PG_ADMIN_URL] == "postgresql://postgres:su-pw@127.0.0.1:55001/market"
    assert {s.PG_URL, s.PG_READER_URL, s.PG_OWNER_URL, s.DAGSTER_PG_URL} <= set(everything)


def test_reading_changes_nothing_in_the_state_folder(running: Path) -> None:
    before = {p: p.read_bytes() for p in running.rglob("*") if p.is_file()}
    for role in ("reader", "writer", "owner", "all"):
        assert discovery.running_stack_environment(running, role) is not None  # type: ignore[arg-type]
    assert {p: p.read_bytes() for p in running.rglob("*") if p.is_file()} == before


def test_no_stack_when_the_lock_is_free_or_its_pid_dead(tmp_path: Path) -> None:
    assert discovery.running_stack_environment(tmp_path / "missing") is None
    free = tmp_path / "free"
    _write_state(free, os.getpid())  # pid alive, but nobody holds the lock
    assert discovery.stack_owner_pid(free) is None
    dead = tmp_path / "dead"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    _write_state(dead, child.pid)
    assert discovery.running_stack_environment(dead) is None


def test_a_running_stack_with_missing_roles_is_a_clear_error(running: Path) -> None:
    (running / "roles.json").unlink()
    with pytest.raises(discovery.StackDiscoveryError, match="still starting"):
        discovery.running_stack_environment(running)


def test_variables_set_by_hand_win(running: Path) -> None:
    by_hand = {s.PG_READER_URL: "postgresql://me@db.example/market"}
    assert discovery.apply_running_stack(running, "reader", by_hand) is None
    assert by_hand == {s.PG_READER_URL: "postgresql://me@db.example/market"}

    shell = {s.S3_ACCESS_KEY: "AKIA-for-aws", s.RETENTION_M1: "12 months"}
    assert discovery.apply_running_stack(running, "reader", shell) is not None
    assert shell[s.RETENTION_M1] == "12 months"  # unset variables only ...
    assert shell[s.S3_ACCESS_KEY] == "makey"  # ... except the S3 endpoint and its keys together
    assert shell[s.PG_READER_URL].startswith("postgresql://ma_reader:")


def test_an_error_is_one_line_without_passwords() -> None:
    err = RuntimeError("cannot reach\n postgresql://ma_reader:rea-pw@127.0.0.1:5/market now")
    line = error_line(err)
    assert "\n" not in line and "rea-pw" not in line
    assert "postgresql://ma_reader:***@127.0.0.1:5/market" in line
    assert error_line(KeyError("x")) == "KeyError: 'x'"
    assert "password=***" in error_line(ValueError("host=a password=hunter2 user=b"))
