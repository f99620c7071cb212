"""Session fixtures that give tests real servers: PostgreSQL, Valkey/Redis and an S3 API.

Each server is started at most once per test session, lazily (only when a test asks for it),
in a folder from ``tmp_path_factory``, and stopped at session end. When an environment
variable names an existing server, that server is used and nothing is started:

=================================== ===============================================
``MARKET_ASSETS_TEST_PG_ADMIN_URL``  superuser URL of a PostgreSQL server
``MARKET_ASSETS_TEST_REDIS_URL``     Redis/Valkey URL
``MARKET_ASSETS_TEST_S3_ENDPOINT``   S3 endpoint URL, with ``..._S3_ACCESS_KEY``,
                                     ``..._S3_SECRET_KEY`` (else ``AWS_ACCESS_KEY_ID`` /
                                     ``AWS_SECRET_ACCESS_KEY``), ``..._S3_REGION``
=================================== ===============================================

The embedded servers run without durability (no fsync, no Valkey snapshots): a test session
never restarts them, and it makes the suite faster on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from market_assets.devstack.postgres import PostgresServer
from market_assets.devstack.seaweed import DEFAULT_REGION, S3Endpoint, SeaweedServer
from market_assets.devstack.valkey import ValkeyServer

PG_ADMIN_URL_ENV = "MARKET_ASSETS_TEST_PG_ADMIN_URL"
REDIS_URL_ENV = "MARKET_ASSETS_TEST_REDIS_URL"
S3_ENDPOINT_ENV = "MARKET_ASSETS_TEST_S3_ENDPOINT"
S3_ACCESS_KEY_ENV = "MARKET_ASSETS_TEST_S3_ACCESS_KEY"
S3_SECRET_KEY_ENV = "MARKET_ASSETS_TEST_S3_SECRET_KEY"
S3_REGION_ENV = "MARKET_ASSETS_TEST_S3_REGION"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@contextlib.contextmanager
def server_state_dir(factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A fresh state folder for embedded servers: from ``factory``, except when root.

    As root, PostgreSQL runs as another OS user that must be able to traverse every parent
    folder, and pytest resets ``/tmp/pytest-of-root`` to mode 0700 whenever another session
    starts (concurrent runs on one machine made initdb fail half-way). So root gets a folder
    made by `tempfile.mkdtemp` instead, removed afterwards.
    """
    if os.geteuid() != 0:
        yield factory.mktemp(name)
        return
    path = Path(tempfile.mkdtemp(prefix=f"market-assets-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def servers_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The state folder shared by the embedded servers of this session."""
    with server_state_dir(tmp_path_factory, "servers") as path:
        yield path


@pytest.fixture
def devstack_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh state folder for one test that starts its own servers."""
    with server_state_dir(tmp_path_factory, "state") as path:
        yield path


@pytest.fixture(scope="session")
def pg_admin_url(servers_state_dir: Path) -> Iterator[str]:
    """Superuser URL (``postgresql://postgres:<pw>@127.0.0.1:<port>/postgres``)."""
    external = _env(PG_ADMIN_URL_ENV)
    if external is not None:
        yield external
        return
    server = PostgresServer(servers_state_dir, secrets.token_urlsafe(12), durable=False)
    with server:
        yield server.admin_url


@pytest.fixture(scope="session")
def redis_url(servers_state_dir: Path) -> Iterator[str]:
    """Redis-protocol URL (``redis://127.0.0.1:<port>/0``)."""
    external = _env(REDIS_URL_ENV)
    if external is not None:
        yield external
        return
    with ValkeyServer(servers_state_dir, persistent=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def s3_server(servers_state_dir: Path) -> Iterator[S3Endpoint]:
    """An S3 endpoint with credentials that may create buckets."""
    external = _env(S3_ENDPOINT_ENV)
    if external is not None:
        access_key = _env(S3_ACCESS_KEY_ENV) or _env("AWS_ACCESS_KEY_ID")
        secret_key = _env(S3_SECRET_KEY_ENV) or _env("AWS_SECRET_ACCESS_KEY")
        if access_key is None or secret_key is None:
            raise pytest.UsageError(
                f"{S3_ENDPOINT_ENV} is set but no credentials: set {S3_ACCESS_KEY_ENV} and "
                f"{S3_SECRET_KEY_ENV}"
            )
        region = _env(S3_REGION_ENV) or _env("AWS_REGION") or DEFAULT_REGION
        yield S3Endpoint(external, access_key, secret_key, region)
        return
    server = SeaweedServer(
        servers_state_dir, "test" + secrets.token_hex(6), secrets.token_urlsafe(24)
    )
    with server:
        yield server.endpoint
