"""The upsert benchmark's peer: the same rows loaded with ADBC (`adbc-driver-postgresql`).

A peer, unlike the naive `to_sql` baseline, is what a careful engineer would reach for
instead of the project's own encoder: Arrow in, libpq binary COPY out, all in C. It runs on
the server and database the project's path uses, as the same role (the URL carries
``options=-c role=ma_writer``, which libpq, and so ADBC, honours like psycopg does), with the
same session settings that matter (search_path on the benchmark's schema, UTC), and the same
server-side SQL read from ``sql/queries/bars/``: only the client side differs.

Two shapes, matching the project's two load paths:

* `upsert`: `adbc_ingest` into a temporary staging table, then the project's
  ``bars/upsert_from_stage`` (``INSERT ... ON CONFLICT DO UPDATE`` with per-partition counts),
  one transaction, the staging table dropped before commit (the project's is ``ON COMMIT
  DROP``);
* `append`: `adbc_ingest(mode="append")` straight into ``ohlcv_bars``, what the project's
  pipeline path does for partitions that hold no rows yet.

Every call starts from the pandas frame (the project's path does too), so the Arrow
conversion is part of the peer's time; `arrow_table` alone is timed by the benchmark so a
reader can take it out. ADBC is a benchmark-only dependency (the ``bench`` extra), imported
when a peer is opened.
"""

from __future__ import annotations

import importlib.metadata
from types import TracebackType
from typing import Any

import pandas as pd
import pyarrow as pa

from market_assets.core.bars import BAR_COLUMNS
from market_assets.core.identifiers import validate_sql_identifier
from resources.postgres import conninfo_for
from resources.queries import query

STAGING = "stage_bars"  # the name bars/upsert_from_stage.sql reads
INSTALL_HINT = "pip install -c constraints.txt -e '.[bench]'"


def driver_version() -> str:
    return importlib.metadata.version("adbc-driver-postgresql")


def arrow_table(bars: pd.DataFrame) -> pa.Table:
    """The bar columns as an Arrow table (strings, timestamp[ns, UTC], date32, float64)."""
    return pa.Table.from_pandas(bars[list(BAR_COLUMNS)], preserve_index=False)


class AdbcPeer:
    """One ADBC connection acting as the URL's role on `schema`; a context manager."""

    def __init__(self, url: str, schema: str) -> None:
        try:
            import adbc_driver_postgresql.dbapi as adbc
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                f"the ADBC peer needs adbc-driver-postgresql: {INSTALL_HINT}"
            ) from exc
        validate_sql_identifier(schema)
        self.schema = schema
        self._conn: Any = adbc.connect(conninfo_for(url))
        with self._conn.cursor() as cur:
            # Bound, not formatted (libpq placeholders); settings kept for the session.
            cur.execute(
                "SELECT set_config('search_path', $1, false), set_config('timezone', 'UTC', false)",
                (f"{schema}, public",),
            )
            cur.fetchall()
        self._conn.commit()

    def __enter__(self) -> AdbcPeer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def current_role(self) -> str:
        """The role the peer's statements run as (must be the project's writer role)."""
        with self._conn.cursor() as cur:
            cur.execute("SELECT current_user")
            row = cur.fetchone()
        self._conn.rollback()
        return str(row[0]) if row else "?"

    def upsert(self, bars: pd.DataFrame) -> int:
        """Stage by `adbc_ingest` (temporary table) and run the project's upsert; commit."""
        table = arrow_table(bars)
        try:
            with self._conn.cursor() as cur:
                cur.adbc_ingest(STAGING, table, mode="create", temporary=True)
                cur.execute(query("bars/upsert_from_stage"))
                counts = cur.fetchall()
                cur.execute("DROP TABLE stage_bars")  # what ON COMMIT DROP does for the project
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()
        return sum(int(ins) + int(rev) for _s, _d, ins, rev in counts)

    def append(self, bars: pd.DataFrame) -> int:
        """`adbc_ingest(mode="append")` straight into ``ohlcv_bars``; commit."""
        table = arrow_table(bars)
        try:
            with self._conn.cursor() as cur:
                rows = cur.adbc_ingest(
                    "ohlcv_bars", table, mode="append", db_schema_name=self.schema
                )
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()
        return int(rows)

    def stage_only(self, bars: pd.DataFrame) -> None:
        """`adbc_ingest` into the temporary staging table and roll back: client + COPY."""
        table = arrow_table(bars)
        try:
            with self._conn.cursor() as cur:
                cur.adbc_ingest(STAGING, table, mode="create", temporary=True)
        finally:
            self._conn.rollback()
