"""The company sync: the source's list of companies applied to the master in one transaction.

Order of events, and why:

1. A `running` row in company_sync_log, committed on its own, so that any failure later (the
   API, a malformed page, the database) leaves a `failed` row with the error.
2. The fetch, completely, before the database is touched: an HTTP error on page 7 of 9 must
   not produce a master made of six pages.
3. One transaction: records judged against the code tables as they are now, new / changed /
   reactivated companies upserted, companies the source no longer lists marked inactive
   (never deleted: their bars and history stay), every change recorded in company_changes,
   bad records quarantined, the log row completed. Any error rolls all of it back and the
   previous master stays as it was.

A source that suddenly lists far fewer companies is more likely truncated than a market
crash: above `max_deactivation_ratio` of the active companies the sync refuses to run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from market_assets.core import names
from market_assets.core.universe import symbol_for_jquants_code
from market_assets.masters.records import (
    CONTENT_FIELDS,
    CompanyRow,
    KnownCodes,
    Rejected,
    judge_records,
)
from resources.postgres import PostgresResource
from resources.queries import query

ASSET = names.COMPANIES
MAX_ERROR_CHARS = 2000
MIN_ACTIVE_FOR_RATIO_GUARD = 20


class SyncAbortedError(RuntimeError):
    """The sync refused to apply what the source delivered; nothing was changed."""


@dataclass(frozen=True)
class CompanyChange:
    """One company's change: `before` / `after` are rows as JSON-ready dicts."""

    code: str
    change: str  # new | updated | reactivated | deactivated
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class SyncResult:
    sync_id: int
    source: str
    source_rows: int = 0
    new: int = 0
    updated: int = 0  # includes reactivated companies
    reactivated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    reference_date: dt.date | None = None
    changes: list[CompanyChange] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    active_codes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "new": self.new,
            "updated": self.updated,
            "reactivated": self.reactivated,
            "deactivated": self.deactivated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
        }


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row.items()
    }


def _row_dict(row: CompanyRow) -> dict[str, Any]:
    return {**_jsonable(asdict(row)), "is_active": True}


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _known_codes(conn: psycopg.Connection) -> KnownCodes:
    tables: dict[str, set[str]] = {"markets": set(), "sector17": set(), "sector33": set()}
    for table, code in conn.execute(query("masters/known_codes")).fetchall():
        tables[table].add(code)
    return KnownCodes(**{k: frozenset(v) for k, v in tables.items()})


def _existing(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    cur = conn.execute(query("masters/companies_for_sync"))
    names = [d.name for d in cur.description or []]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def _columns(rows: Sequence[CompanyRow], names: Iterable[str]) -> dict[str, list[Any]]:
    return {n: [getattr(r, n) for r in rows] for n in names}


def _quarantine_params(
    rejected: Sequence[Rejected], *, source: str, sync_id: int, run_id: str | None
) -> list[dict[str, Any]]:
    params = []
    for item in rejected:
        data = item.record if isinstance(item.record, Mapping) else {"value": item.record}
        try:
            symbol = symbol_for_jquants_code(item.code) if item.code else None
        except ValueError:
            symbol = None
        params.append(
            {
                "run_id": run_id,
                "asset": ASSET,
                "partition_key": None,
                "symbol": symbol,
                "session_date": None,
                "source_ref": f"{source}#sync-{sync_id}",
                "rule": item.rule,
                "reason": item.reason,
                # Round trip through JSON text: what arrived, kept readable whatever its types.
                "row_data": Jsonb(json.loads(json.dumps(data, default=str, ensure_ascii=False))),
            }
        )
    return params


def apply_companies(
    conn: psycopg.Connection,
    records: Sequence[Any],
    *,
    sync_id: int,
    source: str,
    run_id: str | None = None,
    max_deactivation_ratio: float = 0.5,
) -> SyncResult:
    """Apply `records` inside the caller's transaction; raises SyncAbortedError to refuse."""
    conn.execute(query("masters/lock_sync"))
    result = SyncResult(sync_id=sync_id, source=source, source_rows=len(records))
    if not records:
        raise SyncAbortedError(
            f"{source} listed no companies; refusing to deactivate the whole master"
        )
    judged = judge_records(records, _known_codes(conn))
    result.rejected = judged.rejected
    result.quarantined = len(judged.rejected)
    if not judged.rows:
        reasons = sorted({f"{r.rule}: {r.reason}" for r in judged.rejected})[:3]
        raise SyncAbortedError(
            f"none of the {len(records)} records from {source} is usable; first reasons: "
            + "; ".join(reasons)
        )
    existing = _existing(conn)
    upserts: list[CompanyRow] = []
    unchanged: list[CompanyRow] = []
    for row in judged.rows:
        before = existing.get(row.code)
        if before is None:
            result.new += 1
            result.changes.append(CompanyChange(row.code, "new", None, _row_dict(row)))
            upserts.append(row)
        elif not before["is_active"]:
            result.reactivated += 1
            result.changes.append(
                CompanyChange(row.code, "reactivated", _jsonable(before), _row_dict(row))
            )
            upserts.append(row)
        elif tuple(before[f] for f in CONTENT_FIELDS) != row.content():
            result.changes.append(
                CompanyChange(row.code, "updated", _jsonable(before), _row_dict(row))
            )
            upserts.append(row)
        else:
            unchanged.append(row)
    result.updated = len(upserts) - result.new
    result.unchanged = len(unchanged)

    listed = {r.code for r in judged.rows} | judged.held_codes
    active_before = [c for c, r in existing.items() if r["is_active"]]
    gone = sorted(c for c in active_before if c not in listed)
    if len(active_before) >= MIN_ACTIVE_FOR_RATIO_GUARD and len(
        gone
    ) > max_deactivation_ratio * len(active_before):
        raise SyncAbortedError(
            f"{source} would deactivate {len(gone)} of {len(active_before)} active companies "
            f"(more than {max_deactivation_ratio:.0%}); the source looks truncated"
        )
    for code in gone:
        before = _jsonable(existing[code])
        result.changes.append(
            CompanyChange(code, "deactivated", before, {**before, "is_active": False})
        )
    result.deactivated = len(gone)

    if upserts:
        conn.execute(
            query("masters/upsert_companies"),
            _columns(upserts, ["code", "reference_date", *CONTENT_FIELDS]),
        )
    if unchanged:
        conn.execute(
            query("masters/touch_reference_dates"),
            _columns(unchanged, ["code", "reference_date"]),
        )
    if gone:
        conn.execute(query("masters/deactivate_companies"), {"codes": gone})
    if result.changes:
        conn.execute(
            query("masters/insert_company_changes"),
            {
                "sync_id": sync_id,
                "code": [c.code for c in result.changes],
                "change": [c.change for c in result.changes],
                "before": [None if c.before is None else Jsonb(c.before) for c in result.changes],
                "after": [None if c.after is None else Jsonb(c.after) for c in result.changes],
            },
        )
    if judged.rejected:
        with conn.cursor() as cur:
            cur.executemany(
                query("logs/insert_quarantine"),
                _quarantine_params(judged.rejected, source=source, sync_id=sync_id, run_id=run_id),
            )
    result.reference_date = max(r.reference_date for r in judged.rows)
    result.active_codes = [r[0] for r in conn.execute(query("masters/active_codes")).fetchall()]
    conn.execute(query("masters/finish_sync_log"), _log_params(result, "success", None))
    return result


def _log_params(result: SyncResult, status: str, error: str | None) -> dict[str, Any]:
    return {
        "sync_id": result.sync_id,
        "status": status,
        "source_rows": result.source_rows,
        "new": result.new,
        "updated": result.updated,
        "deactivated": result.deactivated,
        "unchanged": result.unchanged,
        "quarantined": result.quarantined,
        "reference_date": result.reference_date,
        "error": error,
    }


def start_sync_log(postgres: PostgresResource, source: str, run_id: str | None) -> int:
    with postgres.transaction() as conn:
        row = conn.execute(
            query("masters/start_sync_log"), {"run_id": run_id, "source": source}
        ).fetchone()
    assert row is not None
    return int(row[0])


def fail_sync_log(
    postgres: PostgresResource, sync_id: int, source: str, exc: BaseException
) -> None:
    """Record the failure; counts stay zero because nothing was applied."""
    with postgres.transaction() as conn:
        conn.execute(
            query("masters/finish_sync_log"),
            _log_params(SyncResult(sync_id=sync_id, source=source), "failed", _error_text(exc)),
        )


def sync_companies(
    postgres: PostgresResource,
    fetch: Callable[[], Sequence[Any]],
    *,
    source: str,
    run_id: str | None = None,
    max_deactivation_ratio: float = 0.5,
) -> SyncResult:
    """Log, fetch everything, apply in one transaction; on any error log it and re-raise."""
    sync_id = start_sync_log(postgres, source, run_id)
    try:
        records = list(fetch())
        with postgres.transaction() as conn:
            return apply_companies(
                conn,
                records,
                sync_id=sync_id,
                source=source,
                run_id=run_id,
                max_deactivation_ratio=max_deactivation_ratio,
            )
    except Exception as exc:
        try:
            fail_sync_log(postgres, sync_id, source, exc)
        except Exception as log_exc:  # the database may be the thing that failed
            exc.add_note(f"the sync log could not record the failure: {log_exc}")
        raise
