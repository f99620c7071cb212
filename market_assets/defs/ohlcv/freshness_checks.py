"""One freshness check per market (`freshness_tokyo`, `freshness_new_york`, `freshness_fx`).

How Dagster runs them: they are unpartitioned checks of db_bars, evaluated inside its step
(`check_specs` of the db_bars multi-asset; see market_assets/defs/ohlcv/checks.py for why checks
live in their assets' steps). They ask about the newest session, not about the partitions of
a run, so
- each carries `AutomationCondition.cron_tick_passed` at its market's deadline (local time,
  Mon-Fri): the automation sensor then launches a check-only run of that one check right after
  the deadline, with no partitions, which is what such a run needs (db_bars is subsettable:
  nothing is materialised); and
- like every check of db_bars they also ride along in each OHLCV run, so a session loaded
  late turns the check green in the run that loads it.
They are not blocking (a late market must not stop the others) and fail with ERROR severity;
the names start with `freshness` so that the alerting sensor can pick their failures.

Symbols checked: the scheduled ones (active company-master equities and the universe's other
instruments) that are registered as partitions, as the market schedules choose them (in the
intraday family's set or a declared family's; the daily family's are not checked).
"""

import datetime as dt
from collections.abc import Iterable, Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AutomationCondition,
    DagsterInstance,
)

from market_assets.core import names
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.quality_config import Deadline
from market_assets.core.universe import default_universe
from market_assets.defs.ohlcv.check_results import to_check_result
from market_assets.quality.evaluation import record_metrics
from market_assets.quality.freshness import CHECK_NAMES, check_freshness, market_symbols
from resources.postgres import PostgresResource


def utc_now() -> dt.datetime:
    """The checks' clock (tests replace it)."""
    return dt.datetime.now(dt.UTC)


def scheduled_registered_symbols(
    instance: DagsterInstance, postgres: PostgresResource
) -> list[str]:
    """The symbols the market schedules choose that are registered as partitions (all markets):
    in the intraday family's set, or in a family declared in the universe file (its symbols
    left the intraday set, not the markets' deadlines)."""
    from market_assets.masters.registration import active_company_codes, scheduled_symbols

    registered = set(instance.get_dynamic_partitions(SYMBOLS_PARTITIONS))
    for family in default_universe().families:
        registered.update(instance.get_dynamic_partitions(family.symbols_set))
    return [s for s in scheduled_symbols(active_company_codes(postgres)) if s in registered]


def _freshness_spec(deadline: Deadline) -> AssetCheckSpec:
    cron = f"{deadline.time.minute} {deadline.time.hour} * * 1-5"
    return AssetCheckSpec(
        check_name(deadline),
        asset=AssetKey(names.DB_BARS),
        description=f"The newest {deadline.calendar} session is in the database by"
        f" {deadline.describe()} on the session date (every scheduled symbol).",
        automation_condition=AutomationCondition.cron_tick_passed(
            cron, cron_timezone=deadline.timezone
        ),
    )


def check_name(deadline: Deadline) -> str:
    return CHECK_NAMES.get(deadline.calendar, f"freshness_{deadline.calendar.lower()}")


DEADLINES_BY_CHECK = {check_name(d): d for d in default_universe().quality.deadlines.values()}
FRESHNESS_SPECS = [_freshness_spec(d) for d in DEADLINES_BY_CHECK.values()]


def freshness_results(
    selected: Iterable[str], instance: DagsterInstance, postgres: PostgresResource, run_id: str
) -> Iterator[AssetCheckResult]:
    """The freshness checks of `selected`, as of now."""
    names = sorted(n for n in selected if n in DEADLINES_BY_CHECK)
    if not names:
        return
    now = utc_now()
    wanted = scheduled_registered_symbols(instance, postgres)  # once for every market
    outcomes = []
    for name in names:
        deadline = DEADLINES_BY_CHECK[name]
        symbols = market_symbols(wanted, deadline.calendar)
        outcomes.append(check_freshness(postgres, deadline, symbols, now))
    record_metrics(postgres, outcomes, run_id, [])
    yield from (to_check_result(o) for o in outcomes)
