"""The embedded dev stack: real servers, data that survives restarts, process hygiene."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from market_assets.devstack import (
    DevStack,
    PostgresServer,
    S3Endpoint,
    ServerStartError,
    StackBusyError,
    ValkeyServer,
    read_stack_file,
)
from market_assets.devstack.process import process_is_alive, read_pidfile
from market_assets.devstack.seaweed import remove_stale_sockets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BUCKET = "devstack-test"


def _dead_pid() -> int:
    """A pid that surely belongs to no running process (a child we started and reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def foreign_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that has nothing to do with the stack."""
    child = subprocess.Popen(["sleep", "60"])
    yield child
    child.kill()
    child.wait()


@pytest.fixture
def state(devstack_state_dir: Path) -> Path:
    """The stack's state folder (from the servers plugin: safe for PostgreSQL as root)."""
    return devstack_state_dir


def _write_all(stack: DevStack) -> None:
    with psycopg.connect(stack.pg_admin_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS survivors (name text PRIMARY KEY)")
        conn.execute("INSERT INTO survivors VALUES ('pg') ON CONFLICT DO NOTHING")
    with redis.Redis.from_url(stack.redis_url) as client:
        client.set("survivor", "valkey")
    stack.ensure_bucket(BUCKET)
    stack.s3.client().put_object(Bucket=BUCKET, Key="a/b.txt", Body=b"s3")


def _read_all(stack: DevStack) -> tuple[str, bytes | None, bytes]:
    with psycopg.connect(stack.pg_admin_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT name FROM survivors").fetchone()
    with redis.Redis.from_url(stack.redis_url, socket_connect_timeout=5) as client:
        value = client.get("survivor")
    body = stack.s3.client().get_object(Bucket=BUCKET, Key="a/b.txt")["Body"].read()
    assert row is not None
    return row[0], value, body


def _server_pids(state: Path) -> list[int]:
    records = [read_pidfile(path) for path in sorted((state / "run").glob("*.pid"))]
    return [record.pid for record in records if record is not None]


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if process_is_alive(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if process_is_alive(pid)]


def _wait_port_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)


def test_data_survives_a_restart_on_the_same_ports(state: Path) -> None:
    with DevStack(state) as stack:
        _write_all(stack)
        ports = stack.ports
        pids = _server_pids(state)
        assert len(pids) == 3
        with pytest.raises(StackBusyError, match="in use by another dev stack"):
            DevStack(state).start()
    assert _wait_gone(pids) == []
    assert not list((state / "run").glob("*.pid"))
    assert read_stack_file(state) is not None

    with DevStack(state) as stack:
        assert stack.ports == ports
        assert _read_all(stack) == ("pg", b"valkey", b"s3")
    for name in ("postgres", "valkey", "seaweedfs"):
        assert (state / "logs" / f"{name}.log").stat().st_size > 0


def test_stale_and_foreign_pidfiles_do_not_block_a_start(
    state: Path, foreign_process: subprocess.Popen[bytes]
) -> None:
    with DevStack(state, durable=False):
        pass
    run = state / "run"
    dead = _dead_pid()
    (run / "postgres.pid").write_text(f"{dead}\n")
    (state / "postgres" / "postmaster.pid").write_text(
        f"{dead}\n{state / 'postgres'}\n1700000000\n5432\n\n127.0.0.1\n  0  0\nready\n"
    )
    (run / "seaweedfs.pid").write_text(json.dumps({"pid": dead, "create_time": 1.0}))
    # alive, but not ours: must be left alone
    (run / "valkey.pid").write_text(f"{foreign_process.pid}\n")

    with DevStack(state, durable=False) as stack:
        with psycopg.connect(stack.pg_admin_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        record = read_pidfile(run / "valkey.pid")
        assert record is not None and record.pid != foreign_process.pid
    assert foreign_process.poll() is None


def test_an_orphaned_server_of_the_folder_is_stopped_and_replaced(state: Path) -> None:
    with DevStack(state, durable=False):
        pass
    saved = read_stack_file(state)
    assert saved is not None
    orphan = PostgresServer(state, saved["postgres"]["password"], durable=False).start()
    try:
        orphan_pid = orphan.pid
        assert orphan_pid is not None
        # its owner "crashed": the pidfile is still there, the process too
        with DevStack(state, durable=False) as stack:
            assert not process_is_alive(orphan_pid)
            assert stack.postgres is not None and stack.postgres.pid != orphan_pid
    finally:
        orphan.stop()


def test_a_port_taken_by_a_foreign_socket_is_replaced(state: Path) -> None:
    with DevStack(state, durable=False) as stack:
        before = stack.ports
    squatters = []
    try:
        for port in (before["postgres"], before["valkey"], before["seaweedfs"]["s3"]):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # like any server would; our stopped servers' connections may be in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
            squatters.append(sock)
        with DevStack(state, durable=False) as stack:
            after = stack.ports
            assert after["postgres"] != before["postgres"]
            assert after["valkey"] != before["valkey"]
            assert after["seaweedfs"]["s3"] != before["seaweedfs"]["s3"]
            assert after["seaweedfs"]["master"] == before["seaweedfs"]["master"]
            with psycopg.connect(stack.pg_admin_url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            assert stack.s3.client().list_buckets()["Buckets"] == []
        saved = read_stack_file(state)
        assert saved is not None and saved["ports"] == after
    finally:
        for sock in squatters:
            sock.close()


def test_connecting_to_a_stopped_server_fails_fast(state: Path) -> None:
    with PostgresServer(state, "pw", durable=False) as pg, ValkeyServer(state) as valkey:
        pg_url, redis_url = pg.admin_url, valkey.url
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_url, connect_timeout=3)
    with (
        pytest.raises(redis.ConnectionError),
        redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3) as client,
    ):
        client.ping()
    assert time.monotonic() - started < 10


def test_a_failed_start_names_the_server_and_quotes_its_log(state: Path) -> None:
    server = ValkeyServer(state, maxmemory="not-a-size")
    with pytest.raises(ServerStartError) as failure:
        server.start()
    message = str(failure.value)
    assert message.startswith("valkey failed to start")
    assert str(state / "logs" / "valkey.log") in message
    assert "not-a-size" in message  # valkey's own complaint, quoted from the log
    assert not server.is_running()


def test_a_wrong_password_on_an_existing_cluster_is_reported(state: Path) -> None:
    PostgresServer(state, "right", durable=False).start().stop()
    with pytest.raises(ServerStartError, match="password was rejected"):
        PostgresServer(state, "wrong", durable=False, start_timeout=20).start()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from market_assets.devstack import DevStack
    with DevStack(sys.argv[1], durable=False):
        print("ready", flush=True)
        time.sleep(110)
    """
)


@pytest.mark.parametrize(
    "sig",
    [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
    ids=["ctrl-c", "sigterm", "sigkill"],
)
def test_servers_die_with_the_stack_process(state: Path, sig: signal.Signals) -> None:
    """Ctrl-C and SIGTERM unwind the with-block; SIGKILL leaves it to the parent-death signal."""
    owner = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(state)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready"
        pids = _server_pids(state)
        assert len(pids) == 3 and all(process_is_alive(pid) for pid in pids)
        owner.send_signal(sig)
        code = owner.wait(30)
        expected = {signal.SIGINT: -signal.SIGINT, signal.SIGTERM: 128 + signal.SIGTERM}
        assert code == expected.get(sig, -signal.SIGKILL)
        assert _wait_gone(pids) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        saved = read_stack_file(state)
        if saved is not None:  # a killed weed leaves its Unix sockets in /tmp
            ports = saved["ports"]["seaweedfs"]
            # a dying multi-threaded process shows as a zombie before its sockets close
            _wait_port_closed(ports["s3"])
            remove_stale_sockets(ports.values())


def test_session_fixtures_give_working_servers(
    pg_admin_url: str, redis_url: str, s3_server: S3Endpoint
) -> None:
    with psycopg.connect(pg_admin_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with redis.Redis.from_url(redis_url, socket_connect_timeout=5) as client:
        assert client.ping()
    assert isinstance(s3_server.client().list_buckets()["Buckets"], list)
