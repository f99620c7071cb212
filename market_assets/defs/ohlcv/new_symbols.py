"""New symbols: a company the master lists as active gets its partition and its recent history.

Two ways a symbol can be new, both handled here:

- an active company (or a non-company universe symbol) that is not yet a `symbols` partition,
  e.g. the master was changed outside the `companies` asset; the sensor adds the partition;
- a company the `companies` asset has just registered itself (it adds partitions after its
  transaction): the partition exists, but nobody asked for its history. These are found in
  `company_changes` (`new` or `reactivated`) after the cursor, the last change id handled.

The cursor only moves forward, and the run keys name the symbol and the date range, so a tick
that is repeated (daemon restart before the cursor was saved) launches nothing twice. On the
first tick the cursor starts at the newest change: what the master held before the sensor was
switched on is the backfill's business, not a burst of runs.
"""

import datetime as dt
import json

from dagster import (
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from market_assets.core.calendars import CalendarError, sessions_in_range
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.run_plan import capped_windows
from market_assets.core.settings import automation_enabled, new_symbol_sessions
from market_assets.core.universe import default_universe, symbol_for_jquants_code
from market_assets.defs.ohlcv.jobs import ohlcv_job
from market_assets.defs.ohlcv.partitions import daily_symbols, symbols
from market_assets.masters.registration import (
    active_company_codes,
    scheduled_symbols,
    symbols_set_of,
)
from resources.postgres import PostgresResource
from resources.queries import query


def recent_sessions(calendar: str, today: dt.date, count: int) -> list[dt.date]:
    """The last `count` sessions that closed before `today` (today's is the schedule's)."""
    start = today - dt.timedelta(days=count * 2 + 14)  # weekends and holidays included
    try:
        days = sessions_in_range(calendar, start, today - dt.timedelta(days=1))
    except CalendarError:
        return []
    return days[-count:]


def history_requests(
    new: list[str], registered: list[str], today: dt.date, count: int
) -> list[RunRequest]:
    """Runs per calendar and contiguous block of new symbols (capped in size), over their
    recent sessions; symbols whose listing window misses those sessions get none."""
    requests = []
    universe = default_universe()
    for calendar, chosen in sorted(universe.by_calendar(new).items()):
        days = recent_sessions(calendar, today, count)
        # Not for a symbol delisted before (or listed after) those sessions: no new runs.
        chosen = [
            s for s in chosen if days and not universe.resolve(s).outside_listing(days[0], days[-1])
        ]
        if not days or not chosen:
            continue
        for window in capped_windows(days[0], days[-1], chosen, registered):
            requests.append(
                RunRequest(
                    run_key=f"new_symbol:{window.first_symbol}-{window.last_symbol}:"
                    f"{window.start}:{window.end}",
                    tags={**window.range_tags(), "market-assets/trigger": "new_symbol"},
                )
            )
    return requests


def _activated_since(postgres: PostgresResource, after_id: int | None) -> tuple[list[str], int]:
    """(symbols activated after the change id, the newest change id)."""
    with postgres.connection() as conn:
        last = int(conn.execute(query("masters/last_change_id")).fetchone()[0])  # type: ignore[index]
        rows = []
        if after_id is not None:
            rows = conn.execute(query("masters/activated_since"), {"after_id": after_id}).fetchall()
        conn.rollback()
    return sorted({symbol_for_jquants_code(code) for _, code in rows}), last


@sensor(
    job=ohlcv_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING
    if automation_enabled()
    else DefaultSensorStatus.STOPPED,
    description="Active companies not yet partitioned, or just registered: add the symbol "
    "partition and request its recent sessions (MARKET_ASSETS_NEW_SYMBOL_SESSIONS).",
)
def new_symbols_sensor(
    context: SensorEvaluationContext, postgres: PostgresResource
) -> SensorResult | SkipReason:
    cursor = json.loads(context.cursor) if context.cursor else {}
    activated, last_change = _activated_since(postgres, cursor.get("change_id"))
    registered = list(context.instance.get_dynamic_partitions(SYMBOLS_PARTITIONS))
    have = set(registered)
    scheduled = scheduled_symbols(active_company_codes(postgres))
    # Symbols of the other families (daily bases, families declared in the universe file)
    # belong to their family's set (its period schedules fetch them): only registered here.
    others: dict[str, list[str]] = {}
    for s in sorted(set(scheduled) | set(activated)):
        name = symbols_set_of(s)
        if name != SYMBOLS_PARTITIONS:
            others.setdefault(name, []).append(s)
    elsewhere = {s for members in others.values() for s in members}
    adds = []
    for name in sorted(others):
        have_there = set(context.instance.get_dynamic_partitions(name))
        missing_there = [s for s in others[name] if s not in have_there]
        if missing_there:
            set_def = daily_symbols if name == daily_symbols.name else None
            set_def = set_def or DynamicPartitionsDefinition(name=name)
            adds.append(set_def.build_add_request(missing_there))
    missing = [s for s in scheduled if s not in have and s not in elsewhere]
    new = sorted((set(missing) | set(activated)) - elsewhere)
    new_cursor = json.dumps({"change_id": last_change})
    if not new:
        if adds:
            return SensorResult(dynamic_partitions_requests=adds, cursor=new_cursor)
        context.update_cursor(new_cursor)
        return SkipReason("no new active symbol")
    today = dt.datetime.now(dt.UTC).date()
    requests = history_requests(new, registered + missing, today, new_symbol_sessions())
    context.log.info(f"new symbols {new}: {len(requests)} history runs")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=([symbols.build_add_request(missing)] if missing else [])
        + adds,
        cursor=new_cursor,
    )
