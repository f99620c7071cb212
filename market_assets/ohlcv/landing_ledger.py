"""The landing-zone ledger: every version of every dropped file is accounted for exactly once.

`landing_files` holds one row per (file_key, etag). A sensor calls `discover_new_files` (the
versions with no row yet), records them as `discovered` (the claim: the next tick will not see
them again), requests runs for `partitions_of(file)`, and records `processed` or `rejected`
when the run is done. A file replaced under the same key has a new etag and is therefore a new
version, processed again; because the newest file covering a partition supplies all of its
rows (see resources/sources/landing.py), re-landing a corrected file rewrites exactly the
partitions it covers.

Rows that no partition can take (unknown vendor symbols, rows without any time) are written to
`quarantine` (asset `landing`, source_ref = file key) when a version is first recorded, so the
row count of a file always adds up: rows in its partitions + rows quarantined here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from market_assets.ohlcv.collection_log import write_quarantine
from resources.postgres import PostgresResource
from resources.queries import query
from resources.s3 import S3Resource
from resources.sources.base import SourceError
from resources.sources.landing import (
    LANDING_PREFIX,
    FileStore,
    LandingFile,
    LandingScan,
    LandingSource,
    LocalFileStore,
    S3FileStore,
    scan_file,
)

__all__ = [
    "LandingFile",
    "LocalFileStore",
    "S3FileStore",
    "discover_new_files",
    "partitions_of",
    "record_files",
    "record_rejected",
    "scan_of",
    "store_of",
]

STATUSES = ("discovered", "processing", "processed", "rejected")
ASSET = "landing"

_scan_cache: dict[tuple[int, str, str], LandingScan] = {}


def store_of(store_or_s3: FileStore | S3Resource) -> FileStore:
    """An S3Resource becomes an S3FileStore; a FileStore is used as is."""
    return S3FileStore(store_or_s3) if isinstance(store_or_s3, S3Resource) else store_or_s3


def discover_new_files(
    store_or_s3: FileStore | S3Resource,
    postgres: PostgresResource,
    prefix: str = LANDING_PREFIX,
) -> list[LandingFile]:
    """File versions under `prefix` whose (key, etag) the ledger has not recorded, by key."""
    files = store_of(store_or_s3).list(prefix)
    if not files:
        return []
    with postgres.connection() as conn:
        known = {
            (k, e)
            for k, e in conn.execute(
                query("landing/known_versions"), {"keys": [f.key for f in files]}
            ).fetchall()
        }
    return [f for f in files if (f.key, f.etag) not in known]


def scan_of(file: LandingFile) -> LandingScan:
    """The file's scan, read once per process per version (sensor ticks re-ask often)."""
    cache_key = (id(file.store), file.key, file.etag)
    if cache_key not in _scan_cache:
        if len(_scan_cache) > 256:
            _scan_cache.clear()
        _scan_cache[cache_key] = scan_file(file)
    return _scan_cache[cache_key]


def partitions_of(file: LandingFile) -> list[tuple[dt.date, str]]:
    """The (session_date, symbol) partitions the file covers; SourceError if it is malformed."""
    return scan_of(file).partitions()


def record_rejected(
    postgres: PostgresResource, sources: Iterable[object], run_id: str | None = None
) -> list[str]:
    """Ledger rows `rejected` (with the reason) for the malformed files a run's sources skipped.

    The sources are those a run built; only LandingSources have files to account for. A version
    the sensor already rejected is updated in place, never counted twice. Returns the keys.
    """
    rejected = [
        entry
        for source in sources
        if isinstance(source, LandingSource)
        for entry in source.rejected.values()
    ]
    if not rejected:
        return []
    with postgres.transaction() as conn:
        for file, reason in rejected:
            record_files(conn, [file], "rejected", error=reason, run_id=run_id, scan=False)
    return [file.key for file, _ in rejected]


def record_files(
    conn: psycopg.Connection,
    files: Sequence[LandingFile],
    status: str,
    *,
    error: str | None = None,
    run_id: str | None = None,
    scan: bool = True,
) -> list[int]:
    """Insert or update each version's ledger row; returns the ledger ids.

    With `scan` (the default) the file is read (once per process) to fill partitions, row
    counts and issues; a malformed file is then recorded as `rejected` with the SourceError's
    message whatever `status` was asked. Unassignable rows are quarantined only when the row is
    first inserted, so recording a version twice never quarantines its rows twice.
    """
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {STATUSES}")
    ids: list[int] = []
    for f in files:
        file_status, file_error, found = status, error, None
        if scan:
            try:
                found = scan_of(f)
            except SourceError as exc:
                file_status, file_error = "rejected", str(exc)
        params: dict[str, Any] = {
            "file_key": f.key,
            "etag": f.etag,
            "size_bytes": f.size,
            "checksum": found.checksum if found else None,
            "vendor": f.vendor or "unknown",
            "status": file_status,
            "partitions": Jsonb(
                [[d.isoformat(), s] for d, s in found.partitions()] if found else []
            ),
            "rows_total": found.rows_total if found else None,
            "rows_unassigned": len(found.unassigned) if found else None,
            "issues": Jsonb(found.issues if found else []),
            "error": file_error,
            "run_id": run_id,
        }
        row = conn.execute(query("landing/upsert_file"), params).fetchone()
        assert row is not None
        ids.append(int(row[0]))
        if row[1] and found is not None and not found.unassigned.empty:
            for symbol, rows in found.unassigned.groupby("symbol", sort=True):
                write_quarantine(
                    conn,
                    rows,
                    asset=ASSET,
                    partition_key=None,
                    symbol=str(symbol),
                    session_date=None,
                    source_ref=f.key,
                    run_id=run_id,
                )
    return ids
