"""The servers, schemas and resources of one benchmark run.

By default the run starts its own embedded servers (PostgreSQL 18, Valkey, SeaweedFS) in a
temporary folder and removes them afterwards, so numbers never depend on a developer's data.
Environment variables name existing servers instead (nothing is started for those):

==================================== =============================================
``MARKET_ASSETS_BENCH_PG_ADMIN_URL``  superuser URL of a PostgreSQL server
``MARKET_ASSETS_BENCH_REDIS_URL``     Redis/Valkey URL
``MARKET_ASSETS_BENCH_S3_ENDPOINT``   S3 endpoint URL, with ``..._S3_ACCESS_KEY`` and
                                      ``..._S3_SECRET_KEY`` (else ``AWS_ACCESS_KEY_ID`` /
                                      ``AWS_SECRET_ACCESS_KEY``), ``..._S3_REGION``
==================================== =============================================

Choices, and why:

* the embedded PostgreSQL runs *durable* (fsync and synchronous commit on), unlike the test
  servers: an upsert benchmark on a server that never flushes would flatter the project;
* every benchmark gets a fresh schema in the ``market_assets_bench`` database, migrated as the
  owner role like the tests do, and dropped afterwards; Redis keys and S3 objects get a random
  prefix that is removed afterwards, so an external server is left as it was found;
* the roles (`ma_owner`, `ma_writer`, `ma_reader`) are created when missing but their
  passwords are never touched: the benchmark connects as the superuser and assumes the role
  with ``options=-c role=...`` at connection start. Resetting passwords, as the test fixtures
  do, would lock a dev stack sharing the server out of its own database, and the role
  separation (a writer without DDL rights, SECURITY DEFINER partition creation) is kept.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from market_assets.core.identifiers import validate_sql_identifier
from market_assets.db import bootstrap, migrate
from market_assets.devstack.postgres import PostgresServer
from market_assets.devstack.process import ManagedServer
from market_assets.devstack.seaweed import DEFAULT_REGION, S3Endpoint, SeaweedServer
from market_assets.devstack.valkey import ValkeyServer
from resources.postgres import PostgresResource, conninfo_for
from resources.redis import RedisResource
from resources.s3 import S3Resource

PG_ADMIN_URL_ENV = "MARKET_ASSETS_BENCH_PG_ADMIN_URL"
REDIS_URL_ENV = "MARKET_ASSETS_BENCH_REDIS_URL"
S3_ENDPOINT_ENV = "MARKET_ASSETS_BENCH_S3_ENDPOINT"
S3_ACCESS_KEY_ENV = "MARKET_ASSETS_BENCH_S3_ACCESS_KEY"
S3_SECRET_KEY_ENV = "MARKET_ASSETS_BENCH_S3_SECRET_KEY"
S3_REGION_ENV = "MARKET_ASSETS_BENCH_S3_REGION"

BENCH_DATABASE = "market_assets_bench"
BENCH_BUCKET = "market-assets-bench"
ROLES = (bootstrap.OWNER, bootstrap.WRITER, bootstrap.READER)

Store = Literal["postgres", "redis", "s3"]
Role = Literal["owner", "writer", "reader"]
_ROLE_NAMES: dict[str, str] = {
    "owner": bootstrap.OWNER,
    "writer": bootstrap.WRITER,
    "reader": bootstrap.READER,
}


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def as_role(admin_url: str, role: str) -> str:
    """`admin_url` that acts as `role` from the first statement (``options=-c role=...``)."""
    validate_sql_identifier(role)
    parts = urlsplit(conninfo_for(admin_url))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-c role={role}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def on_database(url: str, database: str) -> str:
    """The same server and user as `url`, on another database."""
    parts = urlsplit(conninfo_for(url))
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


@dataclass(frozen=True)
class BenchSchema:
    """A migrated schema of the bench database and how to reach it as each role."""

    admin_url: str  # superuser, on the bench database
    schema: str
    dialect: str

    def url(self, role: Role) -> str:
        return as_role(self.admin_url, _ROLE_NAMES[role])

    def postgres(self, role: Role = "writer", **overrides: Any) -> PostgresResource:
        """The project's resource acting as `role` on this schema (the writer: the pipeline)."""
        return PostgresResource(url=self.url(role), schema_name=self.schema, **overrides)

    def connect(self, role: Role | None = None) -> psycopg.Connection:
        """An autocommit connection (superuser unless `role`) with search_path on the schema."""
        url = self.admin_url if role is None else self.url(role)
        conn = psycopg.connect(conninfo_for(url), autocommit=True)
        conn.execute("SELECT set_config('search_path', %s, false)", (f"{self.schema}, public",))
        return conn

    def truncate_bars(self) -> None:
        """Empty the bars table and its rollups (setup between repeats, as the superuser)."""
        with self.connect() as conn:
            conn.execute(
                "TRUNCATE ohlcv_bars, ohlcv_m5, ohlcv_m15, ohlcv_m30, ohlcv_h1, ohlcv_h4,"
                " ohlcv_d1, data_collection_log, quarantine"
            )
            conn.execute("ANALYZE ohlcv_bars")


class BenchStack:
    """Servers for the stores a run needs; a context manager that stops what it started."""

    def __init__(self, stores: Iterable[Store], state_dir: Path | None = None) -> None:
        self.stores: set[Store] = set(stores)
        self._state_dir = state_dir
        self._own_dir: Path | None = None
        self._servers: list[ManagedServer] = []
        self.pg_admin_url: str | None = None  # superuser, on the `postgres` database
        self.redis_url: str | None = None
        self.s3_endpoint: S3Endpoint | None = None
        self.embedded: dict[str, bool] = {}
        self.server_versions: dict[str, str] = {}

    @classmethod
    def attach(cls, pg_admin_url: str, redis_url: str, s3_endpoint: S3Endpoint) -> BenchStack:
        """A stack on servers someone else runs and stops (the daemon benchmark's dev stack):
        the bench database, roles and bucket are prepared on them; `stop` stops nothing."""
        stack = cls(("postgres", "redis", "s3"))
        stack.pg_admin_url = pg_admin_url
        stack.redis_url = redis_url
        stack.s3_endpoint = s3_endpoint
        stack.embedded = {"postgres": False, "redis": False, "s3": False}
        stack._bootstrap_postgres()
        stack._s3_resource("").ensure_bucket()
        return stack

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> BenchStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _folder(self) -> Path:
        if self._state_dir is not None:
            return self._state_dir
        if self._own_dir is None:
            # mkdtemp, not a pytest/user folder: as root, PostgreSQL runs as another user that
            # must traverse every parent (PostgresServer adds o+x to them).
            self._own_dir = Path(tempfile.mkdtemp(prefix="market-assets-bench-"))
        return self._own_dir

    def start(self) -> None:
        """Launch every embedded server first and wait for them afterwards (overlapping
        start-ups), then bootstrap PostgreSQL and the bucket."""
        pg: PostgresServer | None = None
        valkey: ValkeyServer | None = None
        seaweed: SeaweedServer | None = None
        if "postgres" in self.stores:
            self.pg_admin_url = _env(PG_ADMIN_URL_ENV)
            self.embedded["postgres"] = self.pg_admin_url is None
            if self.pg_admin_url is None:
                pg = PostgresServer(self._folder(), secrets.token_urlsafe(18), durable=True)
        if "redis" in self.stores:
            self.redis_url = _env(REDIS_URL_ENV)
            self.embedded["redis"] = self.redis_url is None
            if self.redis_url is None:
                valkey = ValkeyServer(self._folder(), persistent=False)
        if "s3" in self.stores:
            self.s3_endpoint = self._external_s3()
            self.embedded["s3"] = self.s3_endpoint is None
            if self.s3_endpoint is None:
                seaweed = SeaweedServer(
                    self._folder(), "bench" + secrets.token_hex(6), secrets.token_urlsafe(24)
                )
        launched = [s for s in (seaweed, valkey, pg) if s is not None]  # slowest first
        for server in launched:
            server.launch()
            self._servers.append(server)
        for server in reversed(launched):
            server.wait_ready()
        if pg is not None:
            self.pg_admin_url = pg.admin_url
        if valkey is not None:
            self.redis_url = valkey.url
        if seaweed is not None:
            self.s3_endpoint = seaweed.endpoint
        if self.pg_admin_url is not None:
            self._bootstrap_postgres()
        if self.s3_endpoint is not None:
            self._s3_resource("").ensure_bucket()

    def stop(self) -> None:
        for server in self._servers:
            with contextlib.suppress(Exception):
                server.request_stop()
        for server in self._servers:
            with contextlib.suppress(Exception):
                server.stop()
        self._servers.clear()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    @staticmethod
    def _external_s3() -> S3Endpoint | None:
        endpoint = _env(S3_ENDPOINT_ENV)
        if endpoint is None:
            return None
        access_key = _env(S3_ACCESS_KEY_ENV) or _env("AWS_ACCESS_KEY_ID")
        secret_key = _env(S3_SECRET_KEY_ENV) or _env("AWS_SECRET_ACCESS_KEY")
        if access_key is None or secret_key is None:
            raise RuntimeError(
                f"{S3_ENDPOINT_ENV} is set but no credentials: set {S3_ACCESS_KEY_ENV} and "
                f"{S3_SECRET_KEY_ENV} (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
            )
        region = _env(S3_REGION_ENV) or _env("AWS_REGION") or DEFAULT_REGION
        return S3Endpoint(endpoint, access_key, secret_key, region)

    def _bootstrap_postgres(self) -> None:
        """Roles (created if missing, passwords untouched), the bench database, extensions."""
        assert self.pg_admin_url is not None
        create = sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        with psycopg.connect(conninfo_for(self.pg_admin_url), autocommit=True) as conn:
            existing = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
            for role in ROLES:
                if role not in existing:
                    conn.execute(create.format(sql.Identifier(role)))
            version = conn.execute("SELECT current_setting('server_version')").fetchone()
            self.server_versions["postgres"] = str(version[0]) if version else "?"
        bootstrap.ensure_database(self.pg_admin_url, BENCH_DATABASE, bootstrap.OWNER)
        bootstrap.ensure_extensions(self.bench_admin_url)

    @property
    def bench_admin_url(self) -> str:
        if self.pg_admin_url is None:
            raise RuntimeError("this run has no PostgreSQL server")
        return on_database(self.pg_admin_url, BENCH_DATABASE)

    # -- per-benchmark stores ---------------------------------------------------------------

    @contextlib.contextmanager
    def schema(self, prefix: str = "bench") -> Iterator[BenchSchema]:
        """A fresh schema migrated to head as the owner role; dropped afterwards."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin = self.bench_admin_url
        bootstrap.ensure_schema(admin, name)
        try:
            dialect = migrate.upgrade(as_role(admin, bootstrap.OWNER), name)
            yield BenchSchema(admin_url=admin, schema=name, dialect=dialect)
        finally:
            bootstrap.drop_schema(admin, name)

    @contextlib.contextmanager
    def redis(self, prefix: str = "bench") -> Iterator[RedisResource]:
        """A Redis resource whose keys carry a random prefix, deleted afterwards."""
        if self.redis_url is None:
            raise RuntimeError("this run has no Redis server")
        resource = RedisResource(url=self.redis_url, key_prefix=f"{prefix}:{uuid.uuid4().hex[:8]}:")
        if "redis" not in self.server_versions:
            self.server_versions["redis"] = str(resource.health().get("version"))
        try:
            yield resource
        finally:
            with contextlib.suppress(Exception):
                resource.invalidate("*")
            resource.close()

    def _s3_resource(self, prefix: str) -> S3Resource:
        if self.s3_endpoint is None:
            raise RuntimeError("this run has no S3 endpoint")
        ep = self.s3_endpoint
        return S3Resource(
            bucket=BENCH_BUCKET,
            endpoint_url=ep.endpoint_url,
            access_key_id=ep.access_key,
            secret_access_key=ep.secret_key,
            region=ep.region,
            prefix=prefix,
        )

    @contextlib.contextmanager
    def s3(self, prefix: str = "bench") -> Iterator[S3Resource]:
        """An S3 resource under a random key prefix of the bench bucket, emptied afterwards."""
        resource = self._s3_resource(f"{prefix}-{uuid.uuid4().hex[:8]}")
        try:
            yield resource
        finally:
            with contextlib.suppress(Exception):
                resource.delete_prefix("")

    def describe(self) -> dict[str, Any]:
        """Which servers were used (embedded or external) and their versions."""
        return {
            "embedded": dict(self.embedded),
            "versions": dict(self.server_versions),
            "pg_durable": True if self.embedded.get("postgres") else None,
        }
