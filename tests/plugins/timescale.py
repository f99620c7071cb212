"""A TimescaleDB server for the `timescale` dialect tests, without a TimescaleDB package.

`timescale_url` is either env MARKET_ASSETS_TEST_TIMESCALE_URL (a real TimescaleDB, or a PGlite
server started by hand) or a PGlite+TimescaleDB socket server (pglite/server.mjs) started once
per session, in memory. That server takes ONE connection at a time: a test must close its
connection (or pool of one) before the next one connects, or the next connect waits in the
server's queue until its connect_timeout.

Without node or pglite/node_modules the tests skip with the reason, except under CI=true,
where a missing TimescaleDB path must fail loudly: a silently skipped dialect is untested.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from market_assets.devstack.pglite import (
    PgliteServer,
    pglite_unavailable_reason,
    start_pglite,
)

URL_ENV = "MARKET_ASSETS_TEST_TIMESCALE_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def pglite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgliteServer | None]:
    """The session's PGlite server, or None when env MARKET_ASSETS_TEST_TIMESCALE_URL is used.

    Its log goes to the session's tmp dir; `server.log_tail()` is handy in assertion messages.
    """
    if os.environ.get(URL_ENV):
        yield None
        return
    reason = pglite_unavailable_reason()
    if reason is not None:
        message = f"TimescaleDB (PGlite) server unavailable: {reason}"
        if _in_ci():
            pytest.fail(f"{message} (CI=true: the timescale tests must not be skipped)")
        pytest.skip(message)
    log_path: Path = tmp_path_factory.mktemp("pglite") / "server.log"
    server = start_pglite(log_path=log_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def timescale_url(pglite_server: PgliteServer | None) -> str:
    """A psycopg URL (superuser, password, sslmode=disable) of a server with timescaledb."""
    if pglite_server is None:
        return os.environ[URL_ENV]
    return pglite_server.url
