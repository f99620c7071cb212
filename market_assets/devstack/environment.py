"""From running servers to the environment every process of the stack reads.

`market-assets dev` starts only what the environment does not already name, bootstraps the
database, and hands the resulting variables to `dagster dev` (and to the seeding run), so the
webserver, the daemon and every run see the same stores.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from market_assets.core import settings as s
from market_assets.db import bootstrap, migrate
from market_assets.devstack.process import ManagedServer
from market_assets.devstack.seaweed import S3Endpoint
from market_assets.devstack.secrets import load_or_create_role_passwords

MARKET_DB = "market"
DAGSTER_DB = "dagster"


@dataclass
class StackEnvironment:
    variables: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    servers: list[ManagedServer] = field(default_factory=list)  # the embedded ones, to watch
    dialect: str = "postgres"

    def apply(self) -> None:
        os.environ.update(self.variables)


def _given(name: str) -> str | None:
    return s.env(name)


@contextlib.contextmanager
def stack_environment(state: Path, *, durable: bool = True) -> Iterator[StackEnvironment]:
    """Start what is missing, bootstrap and migrate; yields the variables to export."""
    cfg = s.StoreSettings.from_env()
    want_pg = not _given(s.PG_URL)
    want_redis = not _given(s.REDIS_URL)
    want_s3 = not _given(s.S3_ENDPOINT) and not _given(s.S3_ACCESS_KEY)
    services = [
        name
        for name, wanted in (("postgres", want_pg), ("valkey", want_redis), ("seaweed", want_s3))
        if wanted
    ]
    env = StackEnvironment()
    with contextlib.ExitStack() as stack:
        server = _start_servers(stack, state / "servers", services, durable, cfg.s3_bucket)
        env.started = services
        env.servers = server.servers() if server is not None else []
        if want_pg:
            assert server is not None
            passwords = load_or_create_role_passwords(state)
            admin = server.pg_admin_url
            bootstrap.ensure_roles(admin, passwords)
            bootstrap.ensure_database(admin, MARKET_DB, bootstrap.OWNER)
            bootstrap.ensure_database(admin, DAGSTER_DB, bootstrap.DAGSTER)
            market_admin = bootstrap.with_credentials(
                admin, "postgres", _password(admin), database=MARKET_DB
            )
            bootstrap.ensure_extensions(market_admin)
            bootstrap.ensure_schema(market_admin, cfg.pg_schema)

            def as_role(role: str, password: str, database: str = MARKET_DB) -> str:
                return bootstrap.with_credentials(admin, role, password, database=database)

            env.variables.update(
                {
                    s.PG_ADMIN_URL: market_admin,
                    s.PG_OWNER_URL: as_role(bootstrap.OWNER, passwords.owner),
                    s.PG_URL: as_role(bootstrap.WRITER, passwords.writer),
                    s.PG_READER_URL: as_role(bootstrap.READER, passwords.reader),
                }
            )
            # A Dagster instance on a server of its own (DAGSTER_PG_URL given) is kept, so a
            # crash of the data store need not stop the orchestrator; else the embedded one.
            if not _given(s.DAGSTER_PG_URL):
                env.variables[s.DAGSTER_PG_URL] = as_role(
                    bootstrap.DAGSTER, passwords.dagster, DAGSTER_DB
                ).replace("postgresql://", "postgresql+psycopg2://", 1)
        if want_redis:
            assert server is not None
            env.variables[s.REDIS_URL] = server.redis_url
        if want_s3:
            assert server is not None
            env.variables.update(
                {
                    s.S3_ENDPOINT: server.s3.endpoint_url,
                    s.S3_ACCESS_KEY: server.s3.access_key,
                    s.S3_SECRET_KEY: server.s3.secret_key,
                    s.S3_REGION: server.s3.region,
                    s.S3_BUCKET: cfg.s3_bucket,
                }
            )
        owner_url = env.variables.get(s.PG_OWNER_URL) or _given(s.PG_OWNER_URL)
        if owner_url:
            env.dialect = migrate.upgrade(owner_url, cfg.pg_schema)
            if want_pg:
                # The embedded database is a sandbox: keep every bar unless told otherwise.
                os.environ.setdefault(s.RETENTION_M1, "off")
            apply_configured_policies(owner_url, cfg.pg_schema, env.dialect)
        yield env


class _Servers:
    """The subset of embedded servers that runs, with DevStack's address properties."""

    def __init__(self) -> None:
        self.pg_admin_url = ""
        self.redis_url = ""
        self.s3: S3Endpoint | None = None
        self.started: list[ManagedServer] = []

    def servers(self) -> list[ManagedServer]:
        return list(self.started)


def _start_servers(
    stack: contextlib.ExitStack, folder: Path, services: list[str], durable: bool, bucket: str
) -> Any:
    """The whole DevStack (ports remembered, one lock) when nothing is given; otherwise only
    the missing servers, each on a free port under the same folder."""
    from market_assets.devstack.postgres import PostgresServer
    from market_assets.devstack.stack import DevStack, StackState
    from market_assets.devstack.valkey import ValkeyServer

    if not services:
        return None
    if len(services) == 3:
        return stack.enter_context(DevStack(folder, durable=durable, buckets=[bucket]))
    from market_assets.devstack.seaweed import SeaweedServer

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    creds = StackState.load(folder / "stack.json")
    if not (folder / "stack.json").exists():
        _write_private(
            folder / "stack.json",
            json.dumps(
                {
                    "postgres": {"password": creds.postgres_password},
                    "s3": {"access_key": creds.s3_access_key, "secret_key": creds.s3_secret_key},
                }
            ),
        )
    servers = _Servers()
    if "postgres" in services:
        pg = stack.enter_context(
            PostgresServer(folder, creds.postgres_password, durable=durable).start()
        )
        servers.pg_admin_url = pg.admin_url
        servers.started.append(pg)
    if "valkey" in services:
        valkey = stack.enter_context(ValkeyServer(folder).start())
        servers.redis_url = valkey.url
        servers.started.append(valkey)
    if "seaweed" in services:
        weed = stack.enter_context(
            SeaweedServer(folder, creds.s3_access_key, creds.s3_secret_key).start()
        )
        servers.started.append(weed)
        weed.ensure_bucket(bucket)
        servers.s3 = weed.endpoint
    return servers


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def apply_configured_policies(owner_url: str, schema: str, dialect: str) -> list[str]:
    import psycopg

    from market_assets.db.policies import PolicySettings, apply_policies
    from resources.postgres import conninfo_for

    with psycopg.connect(conninfo_for(owner_url), autocommit=True) as conn:
        conn.execute("SELECT set_config('search_path', %s, false)", (f"{schema}, public",))
        return apply_policies(conn, dialect, PolicySettings.from_env())


def _password(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).password or "")
