"""Landing files from a terminal: process what is pending, retry a rejected file.

The landing sensor claims new file versions in the ledger and requests runs for exactly their
partitions; these operations do the same work on demand, in this process, with the runs
recorded in the Dagster instance like any run (`market-assets landing process | retry`):

* `process_pending`: every version the ledger has not recorded, claimed as the sensor claims
  them (malformed ones recorded as `rejected` with their reason), then materialised;
* `retry_file`: one version scanned again with the current vendor mappings (after a fix in
  the file named by MARKET_ASSETS_LANDING_VENDORS); still malformed, its row keeps `rejected`
  with the new reason and nothing runs; readable, it becomes `processed`, its unassignable rows
  are quarantined once, and exactly its partitions are materialised.

Runs are planned as the sensor plans them (core/run_plan.py: one run per session date and
contiguous block of symbols). The caller passes the asset definitions (the CLI takes them
from the code location), so this service does not import the Dagster definitions it runs.
Each partition's bars come from its symbol's configured source (the universe's `source`, or
MARKET_ASSETS_SOURCE), as in the sensor's runs: `other_sources` names the symbols whose
source is not `landing`, whose runs therefore do not read the file.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dagster import AssetsDefinition, DagsterInstance, materialize

from market_assets.composition import definitions_resources
from market_assets.core import settings
from market_assets.core.families import daily_family
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.run_plan import RunWindow, plan_touched_periods, plan_touched_runs
from market_assets.core.universe import UnknownSymbolError, default_universe
from market_assets.masters.registration import symbols_set_of
from market_assets.ohlcv.landing_ledger import (
    LandingFile,
    Rescan,
    discover_new_files,
    find_file,
    partitions_of,
    record_files,
    rescan_file,
)
from market_assets.operations.backfill import console_run_config, register_symbols
from resources.postgres import PostgresResource
from resources.sources.base import SourceError
from resources.sources.landing import LANDING_PREFIX, FileStore

TRIGGER_TAG = "market-assets/trigger"


@dataclass(frozen=True)
class RunOutcome:
    window: RunWindow
    run_id: str
    success: bool


@dataclass
class LandingRuns:
    """The runs that materialised some files' partitions, and symbols not read from files."""

    runs: list[RunOutcome] = field(default_factory=list)
    other_sources: dict[str, str] = field(default_factory=dict)  # symbol -> its source

    @property
    def success(self) -> bool:
        return all(r.success for r in self.runs)


def _other_sources(symbols: Iterable[str]) -> dict[str, str]:
    override = settings.env(settings.SOURCE_OVERRIDE)
    universe = default_universe()
    out: dict[str, str] = {}
    for symbol in sorted(set(symbols)):
        try:
            source = override or universe.resolve(symbol).source
        except UnknownSymbolError:
            continue
        if source != "landing":
            out[symbol] = source
    return out


def materialise_partitions(
    instance: DagsterInstance,
    assets: Sequence[AssetsDefinition],
    partitions: Iterable[tuple[dt.date, str]],
    daily_assets: Sequence[AssetsDefinition] = (),
    family_assets: Mapping[str, Sequence[AssetsDefinition]] | None = None,
) -> LandingRuns:
    """Exactly these (session_date, symbol) partitions, one run per date and symbol block; a
    daily-base symbol's sessions run in the daily family (`daily_assets`), one run per year
    and block of symbols, and a symbol of a family declared in the universe file in that
    family (`family_assets`, by family name), one run per date key and block (without them
    those sessions are left to the landing sensor)."""
    touched: dict[str, set[dt.date]] = defaultdict(set)
    for day, symbol in partitions:
        touched[symbol].add(day)
    if not touched:
        return LandingRuns()
    register_symbols(instance, sorted(touched))
    family = daily_family()
    by_set: dict[str, dict[str, set[dt.date]]] = defaultdict(dict)
    for symbol, days in touched.items():
        by_set[symbols_set_of(symbol)][symbol] = days
    daily = by_set.pop(family.symbols_set, {})
    intraday = by_set.pop(SYMBOLS_PARTITIONS, {})
    outcome = LandingRuns(other_sources=_other_sources(touched))
    plans: list[tuple[Sequence[AssetsDefinition], RunWindow, dict[str, str]]] = []
    registered = list(instance.get_dynamic_partitions(SYMBOLS_PARTITIONS))
    for window in plan_touched_runs(intraday, registered):
        plans.append((assets, window, window.range_tags()))
    if daily and daily_assets:
        registered = list(instance.get_dynamic_partitions(family.symbols_set))
        for window in plan_touched_periods(family, daily, registered):
            plans.append((daily_assets, window, window.range_tags(family)))
    declared = {f.symbols_set: f for f in default_universe().families}
    for name, members in sorted(by_set.items()):
        own = declared.get(name)
        if own is None or own.name not in (family_assets or {}):
            continue
        registered = list(instance.get_dynamic_partitions(name))
        for window in plan_touched_periods(own, members, registered):
            plans.append((family_assets[own.name], window, window.range_tags(own)))  # type: ignore[index]
    for run_assets, window, tags in plans:
        result = materialize(
            run_assets,
            instance=instance,
            resources=definitions_resources(),
            tags={**tags, TRIGGER_TAG: "landing"},
            run_config=console_run_config(),
            raise_on_error=False,
        )
        outcome.runs.append(RunOutcome(window, result.run_id, result.success))
    return outcome


@dataclass(frozen=True)
class Claimed:
    """A pending version as `process_pending` recorded it."""

    file: LandingFile
    error: str | None  # None: processed
    partitions: list[tuple[dt.date, str]]


def process_pending(
    instance: DagsterInstance,
    assets: Sequence[AssetsDefinition],
    store: FileStore,
    postgres: PostgresResource,
    daily_assets: Sequence[AssetsDefinition] = (),
    family_assets: Mapping[str, Sequence[AssetsDefinition]] | None = None,
) -> tuple[list[Claimed], LandingRuns]:
    """Claim every pending version (as the sensor does) and materialise their partitions."""
    files = discover_new_files(store, postgres, LANDING_PREFIX)
    claimed: list[Claimed] = []
    for f in files:
        try:
            claimed.append(Claimed(f, None, partitions_of(f)))
        except SourceError as exc:
            if exc.retryable:
                raise
            claimed.append(Claimed(f, str(exc), []))
    with postgres.transaction() as conn:
        record_files(conn, [c.file for c in claimed if c.error is None], "processed")
        for c in claimed:
            if c.error is not None:
                record_files(conn, [c.file], "rejected", error=c.error, scan=False)
    runs = materialise_partitions(
        instance,
        assets,
        (p for c in claimed for p in c.partitions),
        daily_assets,
        family_assets,
    )
    return claimed, runs


class LandingFileNotFoundError(ValueError):
    """The key names no file of the landing zone."""


def retry_file(
    instance: DagsterInstance,
    assets: Sequence[AssetsDefinition],
    store: FileStore,
    postgres: PostgresResource,
    key: str,
    daily_assets: Sequence[AssetsDefinition] = (),
    family_assets: Mapping[str, Sequence[AssetsDefinition]] | None = None,
) -> tuple[Rescan, LandingRuns]:
    """Scan the file's current version again with the current mappings; materialise its
    partitions when it is readable now (nothing runs when it is still malformed)."""
    if not key.startswith(LANDING_PREFIX):
        raise LandingFileNotFoundError(
            f"{key!r} is not a landing file key (keys start with {LANDING_PREFIX!r})"
        )
    file = find_file(store, key)
    if file is None:
        raise LandingFileNotFoundError(f"no landing file {key!r} in the landing zone")
    rescan = rescan_file(postgres, file)
    if not rescan.processed:
        return rescan, LandingRuns()
    runs = materialise_partitions(instance, assets, rescan.partitions, daily_assets, family_assets)
    return rescan, runs
