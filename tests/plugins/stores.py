"""Store fixtures on top of the running servers: roles, a clean schema per test, resources.

The cluster is bootstrapped once per session (roles, a test database, extensions); every test
that asks for `db` gets its own schema, migrated as the owner role, and resources that act as
the writer, exactly as the pipeline does in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from market_assets.core import settings
from market_assets.db import bootstrap, migrate
from resources.postgres import PostgresResource, conninfo_for
from resources.redis import RedisResource
from resources.s3 import S3Resource

TEST_PASSWORDS = bootstrap.RolePasswords(
    owner="owner-pw", writer="writer-pw", reader="reader-pw", dagster="dagster-pw"
)
TEST_DATABASE = "market_assets_test"


@dataclass(frozen=True)
class PgCluster:
    admin_url: str  # superuser, connected to the test database

    def as_role(self, role: str) -> str:
        password = dict(TEST_PASSWORDS.items())[role]
        return bootstrap.with_credentials(self.admin_url, role, password)

    @property
    def owner_url(self) -> str:
        return self.as_role(bootstrap.OWNER)

    @property
    def writer_url(self) -> str:
        return self.as_role(bootstrap.WRITER)

    @property
    def reader_url(self) -> str:
        return self.as_role(bootstrap.READER)


@dataclass(frozen=True)
class DbTarget:
    cluster: PgCluster
    schema: str
    dialect: str

    @property
    def owner_url(self) -> str:
        return self.cluster.owner_url

    @property
    def writer_url(self) -> str:
        return self.cluster.writer_url

    @property
    def reader_url(self) -> str:
        return self.cluster.reader_url

    def connect(self, url: str | None = None) -> psycopg.Connection:
        conn = psycopg.connect(conninfo_for(url or self.cluster.admin_url), autocommit=True)
        conn.execute("SELECT set_config('search_path', %s, false)", (f"{self.schema}, public",))
        return conn


@pytest.fixture(scope="session")
def pg_cluster(pg_admin_url: str) -> PgCluster:
    bootstrap.ensure_roles(pg_admin_url, TEST_PASSWORDS)
    with psycopg.connect(conninfo_for(pg_admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEST_DATABASE))
        )
    bootstrap.ensure_database(pg_admin_url, TEST_DATABASE, bootstrap.OWNER)
    admin = bootstrap.with_credentials(
        pg_admin_url,
        *_user_password(pg_admin_url),
        database=TEST_DATABASE,
    )
    bootstrap.ensure_extensions(admin)
    return PgCluster(admin_url=admin)


def _user_password(url: str) -> tuple[str, str]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(conninfo_for(url))
    return unquote(parts.username or "postgres"), unquote(parts.password or "")


def new_schema(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def empty_schema(pg_cluster: PgCluster) -> Iterator[DbTarget]:
    """A fresh schema with privileges but no migrations applied."""
    schema = new_schema()
    bootstrap.ensure_schema(pg_cluster.admin_url, schema)
    yield DbTarget(cluster=pg_cluster, schema=schema, dialect="postgres")
    bootstrap.drop_schema(pg_cluster.admin_url, schema)


@pytest.fixture
def db(empty_schema: DbTarget) -> DbTarget:
    """A fresh schema migrated to head as the owner role."""
    dialect = migrate.upgrade(empty_schema.owner_url, empty_schema.schema)
    return DbTarget(cluster=empty_schema.cluster, schema=empty_schema.schema, dialect=dialect)


@pytest.fixture
def postgres(db: DbTarget) -> Iterator[PostgresResource]:
    """The writer's resource on the test schema."""
    resource = PostgresResource(url=db.writer_url, schema_name=db.schema, connect_timeout_s=3)
    yield resource
    resource.close()


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisResource]:
    resource = RedisResource(url=redis_url, key_prefix=f"test:{uuid.uuid4().hex[:8]}:")
    yield resource
    resource.invalidate("*")
    resource.close()


TEST_BUCKET = "market-assets-test"


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:  # type: ignore[no-untyped-def]
    S3Resource(
        bucket=TEST_BUCKET,
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
        region=s3_server.region,
    ).ensure_bucket()
    return TEST_BUCKET


@pytest.fixture
def s3_store(s3_server, s3_bucket: str) -> Iterator[S3Resource]:  # type: ignore[no-untyped-def]
    resource = S3Resource(
        bucket=s3_bucket,
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
        region=s3_server.region,
        prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    yield resource
    resource.delete_prefix("")


def store_environment(
    pg_url: str,
    schema: str,
    redis_store: RedisResource,
    s3_store: S3Resource,
    pg_variable: str = settings.PG_URL,
) -> dict[str, str]:
    """This test's stores as the environment a CLI command reads (the role's URL under
    `pg_variable`), for tests that run commands against the session's servers."""
    return {
        pg_variable: pg_url,
        settings.PG_SCHEMA: schema,
        settings.REDIS_URL: redis_store.url,
        settings.REDIS_PREFIX: redis_store.key_prefix,
        settings.S3_ENDPOINT: str(s3_store.endpoint_url),
        settings.S3_BUCKET: s3_store.bucket,
        settings.S3_PREFIX: s3_store.prefix,
        settings.S3_ACCESS_KEY: str(s3_store.access_key_id),
        settings.S3_SECRET_KEY: str(s3_store.secret_access_key),
        settings.S3_REGION: s3_store.region,
    }
