"""PostgreSQL / TimescaleDB: one connection pool per resource, bounded waits, bulk upserts.

Why a pool of psycopg 3 connections and not SQLAlchemy: the hot path is COPY (binary, encoded
column-wise with numpy) into a staging table or straight into a table, then one
`INSERT ... ON CONFLICT`, which SQLAlchemy does not speak. The PGlite
TimescaleDB server used in tests accepts one connection at a time and crashes on COPY, so the
pool size and the bulk mode (`copy` or `unnest` of arrays) are configuration, detected when
left on `auto`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import psycopg
from dagster import ConfigurableResource, InitResourceContext
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import Field, PrivateAttr

from market_assets.core.identifiers import validate_sql_identifier
from resources import pg_binary
from resources.errors import StoreUnavailableError, url_address

BulkMode = Literal["auto", "copy", "unnest"]

# PostgreSQL type names for staging columns, chosen from pandas dtypes; the allow-list keeps
# type names out of user input.
_PG_TYPES = {"text", "float8", "int8", "int4", "bool", "date", "timestamptz", "jsonb"}


@dataclass(frozen=True)
class Capabilities:
    """What the server can do, detected once per resource."""

    server_version: str
    timescaledb_version: str | None
    timescaledb_license: str | None
    is_pglite: bool

    @property
    def timescaledb(self) -> bool:
        return self.timescaledb_version is not None

    @property
    def community_features(self) -> bool:
        """Compression and continuous aggregates need the community (TSL) licence."""
        return self.timescaledb and self.timescaledb_license == "timescale"

    @property
    def dialect(self) -> str:
        return "timescale" if self.community_features else "postgres"

    @property
    def supports_copy(self) -> bool:
        return not self.is_pglite


def conninfo_for(url: str) -> str:
    """A libpq URL from what users write (SQLAlchemy-style driver suffixes removed)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


class PostgresResource(ConfigurableResource):
    """The project's PostgreSQL or TimescaleDB database, in one schema."""

    url: str = Field(description="libpq URL of the role this resource acts as (EnvVar).")
    schema_name: str = Field(default="market", description="Schema holding every table.")
    pool_max_size: int = Field(default=4, ge=1, description="1 for the PGlite server.")
    connect_timeout_s: int = Field(default=5, ge=1, le=60)
    statement_timeout_ms: int = Field(default=300_000, ge=0)
    lock_timeout_ms: int = Field(default=30_000, ge=0)
    bulk_mode: BulkMode = Field(default="auto", description="copy, unnest, or auto-detect.")
    application_name: str = "market-assets"

    _pool: ConnectionPool | None = PrivateAttr(default=None)
    _caps: Capabilities | None = PrivateAttr(default=None)

    # -- lifecycle -------------------------------------------------------------------------
    def setup_for_execution(self, context: InitResourceContext) -> None:
        validate_sql_identifier(self.schema_name)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @property
    def address(self) -> str:
        return url_address(conninfo_for(self.url))

    def _configure(self, conn: psycopg.Connection) -> None:
        # set_config takes parameters, unlike SET, so nothing is formatted into SQL.
        conn.execute(
            "SELECT set_config('search_path', %s, false),"
            " set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false),"
            " set_config('timezone', 'UTC', false)",
            (
                f"{self.schema_name}, public",
                str(self.statement_timeout_ms),
                str(self.lock_timeout_ms),
            ),
        )
        conn.commit()

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "connect_timeout": self.connect_timeout_s,
            "application_name": self.application_name,
        }

    def _get_pool(self) -> ConnectionPool:
        if self._pool is None:
            validate_sql_identifier(self.schema_name)
            self._pool = ConnectionPool(
                conninfo_for(self.url),
                kwargs=self._connect_kwargs(),
                min_size=0,
                max_size=self.pool_max_size,
                open=True,
                configure=self._configure,
                check=ConnectionPool.check_connection,
                timeout=self.connect_timeout_s + 2,
                reconnect_timeout=self.connect_timeout_s,
                name=f"market-assets-{self.schema_name}",
            )
        return self._pool

    def _unavailable(self, cause: BaseException) -> StoreUnavailableError:
        # A pool timeout hides the reason; one direct attempt names it.
        reason: BaseException | str = cause
        if isinstance(cause, PoolTimeout):
            try:
                psycopg.connect(conninfo_for(self.url), **self._connect_kwargs()).close()
            except psycopg.Error as exc:
                reason = exc
        return StoreUnavailableError("PostgreSQL", self.address, reason)

    # -- connections -----------------------------------------------------------------------
    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; the caller owns its transactions."""
        try:
            cm = self._get_pool().connection(timeout=self.connect_timeout_s + 2)
            conn = cm.__enter__()
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise self._unavailable(exc) from exc
        try:
            yield conn
        except BaseException as exc:
            if not cm.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            cm.__exit__(None, None, None)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction: committed on success, rolled back on any error."""
        with self.connection() as conn, conn.transaction():
            yield conn

    def health(self) -> dict[str, Any]:
        """What an operator wants to see in `market-assets doctor`: reachability and features."""
        caps = self.capabilities()
        return {
            "store": "PostgreSQL",
            "address": self.address,
            "server_version": caps.server_version,
            "timescaledb": caps.timescaledb_version,
            "license": caps.timescaledb_license,
            "dialect": caps.dialect,
        }

    def capabilities(self, conn: psycopg.Connection | None = None) -> Capabilities:
        """What the server can do, detected once. Callers that hold a connection pass it: with
        a pool of one (the PGlite server) asking on a second connection would wait forever
        for the connection the caller holds. The probe only reads settings, so it is harmless
        inside the caller's transaction."""
        if self._caps is None:
            if conn is not None:
                self._caps = detect_capabilities(conn)
            else:
                with self.connection() as own:
                    self._caps = detect_capabilities(own)
                    own.rollback()
        return self._caps

    def effective_bulk_mode(
        self, conn: psycopg.Connection | None = None
    ) -> Literal["copy", "unnest"]:
        if self.bulk_mode != "auto":
            return self.bulk_mode
        return "copy" if self.capabilities(conn).supports_copy else "unnest"

    # -- bulk loading ----------------------------------------------------------------------
    def load_staging(
        self,
        conn: psycopg.Connection,
        staging: str,
        frame: pd.DataFrame,
        types: dict[str, str],
    ) -> int:
        """Create a temporary table `staging` with `types` and fill it with `frame`.

        The staging table dies with the transaction; see `copy_frame` for how rows travel.
        """
        validate_sql_identifier(staging)
        _check_types(types)
        col_defs = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c])) for c in types
        )
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
                sql.Identifier(staging), col_defs
            )
        )
        return self.copy_frame(conn, staging, frame, types)

    def copy_frame(
        self,
        conn: psycopg.Connection,
        table: str,
        frame: pd.DataFrame,
        types: dict[str, str],
    ) -> int:
        """Append `frame[types]` to an existing `table` in one statement; returns the rows.

        COPY (binary, encoded column-wise by `resources.pg_binary`) is the fast path; servers
        without COPY (PGlite) get one INSERT of unnested arrays. NaN/NaT/None arrive as NULL,
        so the table's NOT NULL constraints refuse them rather than storing a made-up value.
        """
        validate_sql_identifier(table)
        _check_types(types)
        if frame.empty:
            return 0
        columns = list(types)
        ident_cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        if self.effective_bulk_mode(conn) == "copy":
            statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.Identifier(table), ident_cols
            )
            with conn.cursor().copy(statement) as copy:
                if all(t in pg_binary.SUPPORTED_TYPES for t in types.values()):
                    for chunk in pg_binary.binary_copy_chunks(frame, types):
                        copy.write(chunk)
                else:  # e.g. jsonb: psycopg adapts those values row by row
                    copy.set_types([types[c] for c in columns])
                    for row in _rows(frame, columns):
                        copy.write_row(row)
        else:
            arrays = [_column_values(frame[c]) for c in columns]
            unnest_args = sql.SQL(", ").join(
                sql.SQL("%s::{}[]").format(sql.SQL(types[c])) for c in columns
            )
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({})").format(
                    sql.Identifier(table), ident_cols, unnest_args
                ),
                arrays,
            )
        return len(frame)

    def execute_query(
        self, conn: psycopg.Connection, statement: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one named statement text with bound parameters and return its rows, if any."""
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def detect_capabilities(conn: psycopg.Connection) -> Capabilities:
    row = conn.execute(
        "SELECT current_setting('server_version'), version(),"
        " (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
        " current_setting('timescaledb.license', true)"
    ).fetchone()
    assert row is not None
    server_version, version_text, ts_version, licence = row
    is_pglite = "emscripten" in version_text.lower() or "wasm" in version_text.lower()
    return Capabilities(
        server_version=server_version,
        timescaledb_version=ts_version,
        timescaledb_license=licence if ts_version else None,
        is_pglite=is_pglite,
    )


def _check_types(types: dict[str, str]) -> None:
    for name, pg_type in types.items():
        validate_sql_identifier(name)
        if pg_type not in _PG_TYPES:
            raise ValueError(f"unsupported staging type {pg_type!r} for column {name!r}")


def _column_values(series: pd.Series) -> list[Any]:
    """A column as Python values psycopg adapts, NaN/NaT as NULL."""
    if pd.api.types.is_datetime64_any_dtype(series):
        ns = series.astype("datetime64[ns, UTC]" if series.dt.tz else "datetime64[ns]")
        if (ns.dropna().array.asi8 % 1000).any():
            raise ValueError(
                f"column {series.name!r} has sub-microsecond timestamps, which PostgreSQL "
                "cannot store; round them explicitly before loading"
            )
        return [None if pd.isna(v) else v.to_pydatetime() for v in series]
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype="float64")
        return [None if np.isnan(v) else float(v) for v in values]
    return [
        None if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))) else v
        for v in series.tolist()
    ]


def _rows(frame: pd.DataFrame, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    return zip(*(_column_values(frame[c]) for c in columns), strict=True)
