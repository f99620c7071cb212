"""The dev stack's supervisor, on real servers: a server killed with SIGKILL is named within
seconds and answers again on the same address with its data; a server that cannot come back is
given up on, and the stack is told to stop."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import redis

from market_assets.devstack import PostgresServer, ValkeyServer
from market_assets.devstack.supervisor import Supervisor, describe

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(300)]


def _wait(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_killed_postgres_is_named_and_restarted_with_its_data(devstack_state_dir: Path) -> None:
    lines: list[str] = []
    given_up: list[str] = []
    with PostgresServer(devstack_state_dir, "pw", durable=True) as pg:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        first_pid = pg.pid
        with Supervisor([pg], lines.append, given_up.append, poll_s=0.5):
            os.kill(first_pid, signal.SIGKILL)
            assert _wait(lambda: any("is back" in line for line in lines)), lines
            with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                assert conn.execute("SELECT v FROM kept").fetchone() == (42,)
        assert pg.pid != first_pid
    where = describe(pg)
    assert lines[0].startswith(f"{where} died (exit code -9)")
    assert "password" not in " ".join(lines) and "pw@" not in " ".join(lines)
    assert given_up == []


def test_a_server_that_cannot_come_back_is_given_up_on(devstack_state_dir: Path) -> None:
    lines: list[str] = []
    given_up: list[str] = []
    with ValkeyServer(devstack_state_dir) as valkey:
        port = valkey.ports()[0]
        assert redis.Redis.from_url(valkey.url).ping()
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with Supervisor([valkey], lines.append, given_up.append, poll_s=0.3, max_restarts=2):
            os.kill(valkey.pid, signal.SIGKILL)
            # Someone else takes the port before the restart: the server cannot come back.
            assert _wait(lambda: valkey.exited() is not None, 10)
            squatter.bind((valkey.host, port))
            squatter.listen()
            assert _wait(lambda: bool(given_up), 120), lines
        squatter.close()
    assert any("did not start again" in line for line in lines)
    assert "stopping the stack" in given_up[0]


def test_a_server_stopped_on_purpose_is_left_alone(devstack_state_dir: Path) -> None:
    lines: list[str] = []
    valkey = ValkeyServer(devstack_state_dir).start()
    with Supervisor([valkey], lines.append, poll_s=0.2):
        valkey.stop()
        time.sleep(1.0)
    assert lines == [] and not valkey.is_running()
