"""Moving a daily-base symbol's stored bars from the day layout to its family's period objects.

Before asset families, every symbol's bars were one S3 object per session
(`ohlcv/timeframe=D1/date=2024-03-11/symbol=N225/bars.parquet`, `raw_object_key`). The daily
family (D1, W1, MN1 bases) reads one object per year (`.../timeframe=D1/year=2024/...`,
`period_object_key`) and no longer sees the day objects. This service merges each symbol's day
objects of a year into that year's object, then deletes them.

Rules, and why:
- **The period object wins.** A session that the year object already holds was written by the
  daily family after the day object (the day objects are what was collected before families),
  so its rows are kept; the day object's rows fill only the sessions the year object lacks.
- **Each period is independent** (read the day objects, conditional read-merge-write of the year
  object with `S3Resource.update_parquet`, read it back, delete), so a crash leaves every period
  either untouched, written with its day objects still there (the next run finds them, sees
  their sessions in the year object and only deletes them), or done. A second run finds no day
  object: idempotent.
- **Deleted only after verification**: the year object read back must hold every session of the
  day objects, and each session the day objects supplied must have their checksum. Bucket
  versioning keeps the deleted objects' versions (`S3Resource.object_versions`).
- **The database needs no change.** Migration 0011 kept the rows, and the reconciliation
  compares content per session (`frame_checksum` of S3's rows against the database's), with
  `db_bars`' logged checksum, per session partition key (`2024-03-11|N225`), being a content
  checksum too, not an object key: a migrated session reconciles without a reload.
- **Dagster's history**: the old `raw_bars`/`db_bars` day partitions keep their
  materializations. Given an instance, each migrated year is recorded as a runless
  materialization of `daily_raw_bars` and, when every session of the year object is what
  `db_bars` last loaded, of `daily_db_bars` too, so "backfill missing" skips them;
  `daily_snapshots` (Redis, derived) is not recorded: its next run rebuilds it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from market_assets.core.bars import from_arrow, table_checksum, to_arrow
from market_assets.core.families import DAILY_SYMBOLS_PARTITIONS, DateGrain, daily_family
from market_assets.core.names import DAILY_DB_BARS, DAILY_RAW_BARS
from market_assets.core.partition_keys import partition_key
from market_assets.core.storage_layout import RAW_PREFIX, period_object_key
from market_assets.core.universe import default_universe
from market_assets.operations.progress import ProgressFn, Step, report
from resources.postgres import PostgresResource
from resources.queries import query
from resources.s3 import S3Resource

_DAY_KEY = re.compile(
    rf"^{RAW_PREFIX}/timeframe=(?P<tf>[A-Z0-9]+)/date=(?P<date>\d{{4}}-\d{{2}}-\d{{2}})"
    r"/symbol=(?P<symbol>[^/]+)/bars\.parquet$"
)


class LayoutMigrationError(RuntimeError):
    """A period object did not hold what its day objects held: nothing of it was deleted."""


@dataclass(frozen=True)
class PeriodMove:
    """The day objects of one symbol's period, and the period object they go to."""

    symbol: str
    timeframe: str
    date_key: str
    object_key: str
    day_keys: tuple[str, ...]

    @property
    def partition_key(self) -> str:
        return f"{self.date_key}|{self.symbol}"


@dataclass
class MigrationSummary:
    """What a run found and did (a dry run: what it would do)."""

    objects_read: int = 0
    periods_written: int = 0
    objects_removed: int = 0
    sessions: int = 0  # sessions of the day objects, now in period objects
    sessions_kept: int = 0  # of those, the period object already held (its rows kept)
    skipped: list[str] = field(default_factory=list)  # day objects of no daily-base symbol
    recorded: int = 0  # runless materializations reported to Dagster
    moves: list[PeriodMove] = field(default_factory=list)

    def figures(self) -> dict[str, int]:
        return {
            "objects_read": self.objects_read,
            "periods_written": self.periods_written,
            "objects_removed": self.objects_removed,
            "sessions": self.sessions,
            "sessions_kept": self.sessions_kept,
            "skipped": len(self.skipped),
            "recorded": self.recorded,
        }


def plan_migration(
    s3: S3Resource, symbols: Iterable[str] | None = None
) -> tuple[list[PeriodMove], list[str]]:
    """The periods to move (day objects of daily-base symbols, at their own base timeframe,
    grouped by the daily family's period), and the day objects left alone (another base, or a
    symbol not in the universe: the universe decides the family)."""
    family = daily_family()
    wanted = set(symbols) if symbols else None
    universe = default_universe()
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    skipped: list[str] = []
    listed = s3.list_many([f"{RAW_PREFIX}/timeframe={tf}/date=" for tf in family.bases])
    found = [(o.key, _DAY_KEY.match(o.key)) for o in listed]
    known = universe.known({m["symbol"] for _, m in found if m})
    for key, m in found:
        if m is None:
            skipped.append(key)
            continue
        symbol, tf = m["symbol"], m["tf"]
        if wanted is not None and symbol not in wanted:
            continue
        inst = known.get(symbol)
        if inst is None or inst.family.grain is DateGrain.DAY or str(inst.base_timeframe) != tf:
            skipped.append(key)
            continue
        date_key = family.date_key(dt.date.fromisoformat(m["date"]))
        groups[(symbol, tf, date_key)].append(key)
    moves = [
        PeriodMove(
            symbol,
            tf,
            date_key,
            period_object_key(tf, family.grain, date_key, symbol),
            tuple(sorted(keys)),
        )
        for (symbol, tf, date_key), keys in sorted(groups.items())
    ]
    return moves, sorted(skipped)


def _session_checksums(table: pa.Table) -> dict[dt.date, str]:
    """Each session's content checksum (what `frame_checksum` gives for its rows)."""
    if not table.num_rows:
        return {}
    frame = from_arrow(table)
    return {
        day: table_checksum(to_arrow(rows.reset_index(drop=True), drop_extra=True))
        for day, rows in frame.groupby("session_date", sort=True)
    }


def _move_period(s3: S3Resource, move: PeriodMove) -> tuple[int, int, dict[dt.date, str]]:
    """Merge, verify, delete one period; returns (sessions, sessions kept, the period object's
    checksum per session)."""
    day_tables = s3.read_each(list(move.day_keys))
    schema = day_tables[0].schema.remove_metadata()
    day_rows = pa.concat_tables([t.replace_schema_metadata().cast(schema) for t in day_tables])
    supplied = _session_checksums(day_rows)
    kept: set[dt.date] = set()

    def merge(old: pa.Table | None) -> pa.Table:
        kept.clear()
        if old is None or not old.num_rows:
            merged = day_rows
        else:
            old = old.replace_schema_metadata().select(schema.names).cast(schema)
            have = pc.unique(old.column("session_date").cast(pa.date32()))
            kept.update(d for d in have.to_pylist() if d in supplied)
            extra = day_rows.filter(
                pc.invert(pc.is_in(day_rows.column("session_date").cast(pa.date32()), have))
            )
            merged = pa.concat_tables([old, extra])
        return merged.take(pc.sort_indices(merged, [("ts", "ascending")]))

    def metadata(merged: pa.Table) -> dict[str, str]:
        return {"checksum": table_checksum(merged), "rows": str(merged.num_rows)}

    s3.update_parquet(move.object_key, merge, metadata)
    stored = _session_checksums(s3.read_parquet(move.object_key))
    wrong = [
        day
        for day, checksum in supplied.items()
        if day not in stored or (day not in kept and stored[day] != checksum)
    ]
    if wrong:
        raise LayoutMigrationError(
            f"{move.object_key}: {len(wrong)} session(s) of the day objects not as read"
            f" (first {wrong[0]}); the day objects are kept"
        )
    s3.delete_keys(move.day_keys)
    return len(supplied), len(kept), stored


def _loaded_checksums(postgres: PostgresResource, keys: list[str]) -> dict[str, str]:
    with postgres.connection() as conn:
        rows = conn.execute(query("checks/last_loaded_checksums"), {"keys": keys}).fetchall()
        conn.rollback()
    return {key: checksum or "" for key, checksum in rows}


def _record(
    instance: Any,
    postgres: PostgresResource | None,
    move: PeriodMove,
    stored: dict[dt.date, str],
    sessions: int,
) -> int:
    """Report the migrated year to Dagster as materialized (runless events); returns how many
    were reported. Years before the family's start are no partition of it: none."""
    from dagster import AssetKey, AssetMaterialization

    if move.date_key < daily_family().start_key:
        return 0
    if move.symbol not in instance.get_dynamic_partitions(DAILY_SYMBOLS_PARTITIONS):
        instance.add_dynamic_partitions(DAILY_SYMBOLS_PARTITIONS, [move.symbol])
    meta = {"migrated_from_day_objects": len(move.day_keys), "sessions": sessions}
    assets = [DAILY_RAW_BARS]
    if postgres is not None and stored:
        keys = {partition_key(day, move.symbol): checksum for day, checksum in stored.items()}
        loaded = _loaded_checksums(postgres, list(keys))
        if all(loaded.get(key) == checksum for key, checksum in keys.items()):
            assets.append(DAILY_DB_BARS)
    for asset in assets:
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=AssetKey(asset), partition=move.partition_key, metadata=meta
            )
        )
    return len(assets)


def migrate_layout(
    s3: S3Resource,
    *,
    symbols: Iterable[str] | None = None,
    dry_run: bool = False,
    postgres: PostgresResource | None = None,
    instance: Any = None,
    progress: ProgressFn | None = None,
) -> MigrationSummary:
    """Move every daily-base symbol's day objects (or only `symbols`') into period objects.

    `dry_run` lists the moves and touches nothing. `instance` (a DagsterInstance), when given,
    records each migrated year as materialized; `postgres` lets it record `daily_db_bars` too
    when the database holds what the year object holds."""
    moves, skipped = plan_migration(s3, symbols)
    summary = MigrationSummary(skipped=skipped, moves=moves)
    summary.objects_read = sum(len(m.day_keys) for m in moves)
    if dry_run:
        summary.periods_written = len(moves)
        return summary
    summary.objects_read = 0
    for move in moves:
        sessions, kept, stored = _move_period(s3, move)
        summary.objects_read += len(move.day_keys)
        summary.periods_written += 1
        summary.objects_removed += len(move.day_keys)
        summary.sessions += sessions
        summary.sessions_kept += kept
        if instance is not None:
            summary.recorded += _record(instance, postgres, move, stored, sessions)
        report(
            progress,
            Step(f"{move.date_key} {move.symbol}", 1, len(moves)),
        )
    return summary
