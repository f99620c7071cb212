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

A rejected version stays rejected until an operator retries it (`market-assets landing retry`,
`rescan_file`), typically after fixing its vendor mapping: the same bytes are never seen as
new again. A retry scans it again with the current mappings and updates its row in place; a
version rejected from the start never had rows quarantined (its `rows_unassigned` is NULL),
so the retry that makes it readable quarantines them, once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    default_vendors,
    scan_file,
)

__all__ = [
    "LandingFile",
    "LedgerEntry",
    "LocalFileStore",
    "Rescan",
    "S3FileStore",
    "discover_new_files",
    "find_file",
    "list_files",
    "partitions_of",
    "record_files",
    "record_rejected",
    "rescan_file",
    "scan_of",
    "store_of",
]

STATUSES = ("discovered", "processing", "processed", "rejected")
ASSET = "landing"

_scan_cache: dict[tuple[int, str, str, int], LandingScan] = {}


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


def _cache_key(file: LandingFile) -> tuple[int, str, str, int]:
    # The mappings are part of the key: a fixed MARKET_ASSETS_LANDING_VENDORS file is a new
    # mappings object (default_vendors reloads it), so no scan made with the old one is reused.
    return (id(file.store), file.key, file.etag, id(default_vendors()))


def scan_of(file: LandingFile) -> LandingScan:
    """The file's scan, read once per process per version and mappings (sensor ticks re-ask
    often)."""
    cache_key = _cache_key(file)
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
        if row[1] and found is not None:
            _quarantine_unassigned(conn, found, run_id)
    return ids


def _quarantine_unassigned(conn: psycopg.Connection, found: LandingScan, run_id: str | None) -> int:
    """The rows of a scan that no partition can take, into quarantine; how many."""
    for symbol, rows in found.unassigned.groupby("symbol", sort=True):
        write_quarantine(
            conn,
            rows,
            asset=ASSET,
            partition_key=None,
            symbol=str(symbol),
            session_date=None,
            source_ref=found.file.key,
            run_id=run_id,
        )
    return len(found.unassigned)


# --- what an operator sees and retries (market-assets landing list | retry) -------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One version's ledger row, as `market-assets landing list` shows it."""

    file_key: str
    etag: str
    vendor: str
    status: str
    rows_total: int | None
    rows_unassigned: int | None
    error: str | None
    first_seen: dt.datetime | None
    processed_at: dt.datetime | None


def list_files(
    postgres: PostgresResource, status: str | None = None, limit: int = 100
) -> list[LedgerEntry]:
    """The ledger's versions, newest first, of one status or all."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {STATUSES}")
    with postgres.connection() as conn:
        rows = conn.execute(
            query("landing/list_files"), {"status": status, "limit": limit}
        ).fetchall()
    return [LedgerEntry(*row) for row in rows]


def find_file(store: FileStore, key: str) -> LandingFile | None:
    """The store's current version of the file `key` (None when there is no such file)."""
    return next((f for f in store.list(key) if f.key == key), None)


@dataclass(frozen=True)
class Rescan:
    """What scanning one version again with the current mappings did to its ledger row."""

    file: LandingFile
    previous_status: str | None  # None: the ledger had not recorded the version yet
    previous_error: str | None
    error: str | None  # None: the version is now `processed`
    partitions: list[tuple[dt.date, str]]
    quarantined: int  # rows that no partition can take, quarantined by this rescan

    @property
    def processed(self) -> bool:
        return self.error is None


def rescan_file(postgres: PostgresResource, file: LandingFile, run_id: str | None = None) -> Rescan:
    """Scan one version again with the current vendor mappings and update its ledger row.

    Malformed still: the row stays `rejected` with the new reason. Readable now: the row
    becomes `processed` with the scan's partitions and figures, and the rows no partition can
    take are quarantined unless an earlier successful record of the version already did
    (its `rows_unassigned` is set then; a version rejected from the start has it NULL). The
    row is locked while this is decided, so concurrent retries quarantine once between them.
    A store that cannot be read raises (retryable) and changes nothing.
    """
    found: LandingScan | None = None
    error: str | None = None
    try:
        found = scan_file(file)
    except SourceError as exc:
        if exc.retryable:
            raise
        error = str(exc)
    else:
        _scan_cache[_cache_key(file)] = found  # record_files below reuses this scan
    with postgres.transaction() as conn:
        row = conn.execute(
            query("landing/lock_version"), {"file_key": file.key, "etag": file.etag}
        ).fetchone()
        if row is None:  # not recorded yet: recorded now, as the sensor would
            status = "processed" if found is not None else "rejected"
            record_files(conn, [file], status, error=error, run_id=run_id, scan=found is not None)
            quarantined = len(found.unassigned) if found is not None else 0
            return Rescan(file, None, None, error, found.partitions() if found else [], quarantined)
        row_id, previous_status, previous_error, rows_unassigned = row
        if found is None:
            conn.execute(query("landing/still_rejected"), {"id": row_id, "error": error})
            return Rescan(file, previous_status, previous_error, error, [], 0)
        conn.execute(
            query("landing/rescanned_version"),
            {
                "id": row_id,
                "status": "processed",
                "checksum": found.checksum,
                "vendor": file.vendor or "unknown",
                "partitions": Jsonb([[d.isoformat(), s] for d, s in found.partitions()]),
                "rows_total": found.rows_total,
                "rows_unassigned": len(found.unassigned),
                "issues": Jsonb(found.issues),
            },
        )
        quarantined = _quarantine_unassigned(conn, found, run_id) if rows_unassigned is None else 0
    return Rescan(file, previous_status, previous_error, None, found.partitions(), quarantined)
