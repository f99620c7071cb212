"""Declarative automation: downstream assets follow raw_bars, never past a missing parent or a
failed blocking check.

raw_bars and its blocking checks are stand-ins with the real keys and check names (they say
pass or fail on demand, without S3 or a vendor); db_bars, bar_rollups and bar_snapshots are
the project's own definitions with their real automation conditions, evaluated by Dagster's
own evaluator against a real (temporary) instance, tick after tick.
"""

import datetime as dt
from collections.abc import Iterator

import pytest
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    Definitions,
    MaterializeResult,
    ResourceDefinition,
    asset,
    evaluate_automation_conditions,
    instance_for_test,
    materialize,
    multi_asset_check,
)
from dagster._core.definitions.declarative_automation.automation_condition_tester import (
    EvaluateAutomationConditionsResult,
)

from market_assets.core.partition_keys import partition_key
from market_assets.defs.ohlcv.bar_rollups import bar_rollups
from market_assets.defs.ohlcv.bar_snapshots import bar_snapshots
from market_assets.defs.ohlcv.checks import RAW_SPECS
from market_assets.defs.ohlcv.db_bars import db_bars
from market_assets.defs.ohlcv.partitions import bar_partitions

# Real time, as the daemon evaluates: check evaluations count as new relative to the clock.
TODAY = dt.datetime.now(dt.UTC).date()
RECENT = [(TODAY - dt.timedelta(days=n)).isoformat() for n in (1, 2, 3)]
SYMBOLS = ["USDJPY", "EURUSD", "7203"]
FAILING: set[str] = set()  # partition keys whose blocking checks fail in the stand-in


@asset(name="raw_bars", partitions_def=bar_partitions, group_name="ohlcv")
def raw_bars_stand_in(context: AssetExecutionContext) -> MaterializeResult:
    return MaterializeResult()


@multi_asset_check(specs=RAW_SPECS)
def raw_checks_stand_in(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
    keys = context.op_execution_context.partition_keys
    bad = any(str(k) in FAILING for k in keys)
    for spec in RAW_SPECS:
        yield AssetCheckResult(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=not (bad and spec.blocking),
            severity=AssetCheckSeverity.ERROR,
        )


DEFS = Definitions(
    assets=[raw_bars_stand_in, db_bars, bar_rollups, bar_snapshots],
    asset_checks=[raw_checks_stand_in],
    # never executed here: the downstream assets are only evaluated, not run
    resources={k: ResourceDefinition.none_resource() for k in ("s3", "postgres", "redis")},
)
DB_BARS = AssetKey("db_bars")


class Ticks:
    """Successive evaluations sharing one cursor, as the automation sensor does."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self.cursor = None

    def __call__(self) -> EvaluateAutomationConditionsResult:
        result = evaluate_automation_conditions(DEFS, self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        return result


@pytest.fixture
def ticks() -> Iterator[Ticks]:
    FAILING.clear()
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("symbols", SYMBOLS)
        tick = Ticks(instance)
        assert tick().total_requested == 0  # nothing exists yet: no parent, nothing to follow
        yield tick


def _raw(ticks: Ticks, day: str, symbol: str, passes: bool = True) -> str:
    key = str(partition_key(day, symbol))
    if not passes:
        FAILING.add(key)
    materialize(
        [raw_bars_stand_in, raw_checks_stand_in],
        instance=ticks.instance,
        partition_key=key,
        raise_on_error=False,
    )
    return key


def _requested(result: EvaluateAutomationConditionsResult, key: str = "db_bars") -> set[str]:
    return {str(k) for k in result.get_requested_partitions(AssetKey(key))}


def test_a_checked_parent_partition_brings_its_descendants(ticks: Ticks) -> None:
    key = _raw(ticks, RECENT[0], "USDJPY")
    result = ticks()
    # the whole chain in one tick: rollups and snapshots follow db_bars being requested
    assert _requested(result) == {key}
    assert _requested(result, "bar_rollups") == {key}
    assert _requested(result, "bar_snapshots") == {key}
    assert ticks().total_requested == 0  # handled: asked once, not on every tick


def test_a_failed_blocking_check_holds_the_partition_back_for_good(ticks: Ticks) -> None:
    bad = _raw(ticks, RECENT[0], "EURUSD", passes=False)
    assert ticks().total_requested == 0
    # a later batch whose checks pass releases its own partitions, not the failed one
    good = _raw(ticks, RECENT[1], "USDJPY")
    assert _requested(ticks()) == {good}
    assert bad not in _requested(ticks())


def test_a_missing_parent_is_never_followed(ticks: Ticks) -> None:
    _raw(ticks, RECENT[0], "USDJPY")
    ticks()
    # a new symbol makes recent partitions newly missing; without raw_bars they wait
    ticks.instance.add_dynamic_partitions("symbols", ["6758"])
    result = ticks()
    assert result.total_requested == 0
    key = _raw(ticks, RECENT[2], "6758")
    assert _requested(ticks()) == {key}


def test_an_old_partition_backfilled_alone_is_followed(ticks: Ticks) -> None:
    """A backfill or re-fetch of raw_bars alone, years back: the update is followed."""
    key = _raw(ticks, "2021-06-01", "7203")
    assert _requested(ticks()) == {key}


def test_a_parent_without_passed_checks_is_not_followed(ticks: Ticks) -> None:
    """raw_bars written but its checks not run (deselected, or still running): wait."""
    key = str(partition_key(RECENT[0], "USDJPY"))
    materialize([raw_bars_stand_in], instance=ticks.instance, partition_key=key)
    assert ticks().total_requested == 0
    _raw(ticks, RECENT[0], "USDJPY")  # again, with its checks
    assert _requested(ticks()) == {key}
