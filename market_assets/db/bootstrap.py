"""Cluster-level set-up that migrations cannot do: roles, databases, extensions, schemas.

Run with a superuser (admin) URL by `market-assets db bootstrap` and by the dev stack. After
it, migrations run as the owner role, the pipeline as the writer and reads as the reader, so
that neither the pipeline nor a reader can alter the schema.

Role passwords are given by the caller (generated and kept in the state folder by the dev
stack, or from the environment); ALTER/CREATE ROLE cannot take bind parameters, so passwords
go through psycopg's `sql.Literal`, which quotes them server-side-safe, and are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from market_assets.core.identifiers import validate_sql_identifier
from resources.errors import StoreUnavailableError, url_address
from resources.postgres import conninfo_for

OWNER, WRITER, READER, DAGSTER = "ma_owner", "ma_writer", "ma_reader", "ma_dagster"
EXTENSIONS = ("timescaledb", "pg_trgm")


@dataclass(frozen=True)
class RolePasswords:
    owner: str
    writer: str
    reader: str
    dagster: str

    def items(self) -> list[tuple[str, str]]:
        return [
            (OWNER, self.owner),
            (WRITER, self.writer),
            (READER, self.reader),
            (DAGSTER, self.dagster),
        ]


def _connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    try:
        return psycopg.connect(conninfo_for(url), autocommit=autocommit, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError("PostgreSQL", url_address(conninfo_for(url)), exc) from exc


def ensure_roles(admin_url: str, passwords: RolePasswords) -> None:
    """Create the four login roles, or reset their passwords to the given ones."""
    with _connect(admin_url) as conn:
        for role, password in passwords.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
                )
            )


def ensure_database(admin_url: str, database: str, owner: str) -> bool:
    """Create `database` owned by `owner` if missing; returns whether it was created."""
    validate_sql_identifier(database)
    with _connect(admin_url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            return False
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )
        return True


def ensure_extensions(admin_url: str, wanted: tuple[str, ...] = EXTENSIONS) -> list[str]:
    """Create each wanted extension the server offers; returns those present afterwards."""
    present: list[str] = []
    with _connect(admin_url) as conn:
        for name in wanted:
            available = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)
            ).fetchone()
            if available:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name))
                )
                present.append(name)
    return present


def ensure_schema(admin_url: str, schema: str) -> None:
    """The project schema, owned by the owner role, with privileges for writer and reader.

    Default privileges make every table the owner creates later readable by the reader and
    writable (DML only) by the writer, so migrations need no GRANTs of their own.
    """
    validate_sql_identifier(schema)
    s = sql.Identifier(schema)
    owner, writer, reader = (sql.Identifier(r) for r in (OWNER, WRITER, READER))
    statements = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(s, owner),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}, {}").format(s, writer, reader),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(owner, s, writer),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(owner, s, reader),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
            "GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(owner, s, writer),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
            s, writer
        ),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, reader),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, writer),
    ]
    with _connect(admin_url) as conn:
        for statement in statements:
            conn.execute(statement)


def drop_schema(admin_url: str, schema: str) -> None:
    validate_sql_identifier(schema)
    with _connect(admin_url) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def with_credentials(url: str, user: str, password: str, database: str | None = None) -> str:
    """The same server as `url`, as another role (and optionally another database)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(conninfo_for(url))
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))
