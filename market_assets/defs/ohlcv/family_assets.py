"""The assets of a family other than the intraday one: raw bars, db bars, (rollups,) snapshots.

The daily family (daily_family.py) and every family declared in the universe file are built
here, so they share one body: the services and tables of the intraday family, run over the
sessions their date keys expand to on each symbol's calendar (`core.listing.clip_periods`, up to
today), with the intraday family's checks reported on their own assets. Names carry the
family (`<name>_raw_bars`, `<name>_db_bars`, `<name>_rollups`, `<name>_snapshots`, group
`ohlcv_<name>`, job `ohlcv_<name>_family`), so the intraday assets keep their keys. A family
carrying an intraday base (M1..H4) gets a rollups asset refreshing the coarser timeframes of
what it loaded, as bar_rollups does; a family of D1/W1/MN1 bases has none (its W1 and MN1 are
views). S3 keeps one object per partition of the family's grain (core/storage_layout.py).
A run tagged `market-assets/sessions=<first>..<last>` (the schedules' runs after a session's
close) works on those sessions of its periods only; the periods' other sessions stay stored.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Failure,
    MaterializeResult,
    MetadataValue,
    MultiPartitionsDefinition,
    define_asset_job,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from market_assets.core.families import DateGrain, Family
from market_assets.core.listing import ListedParts, clip_periods
from market_assets.core.partition_keys import BarPartition
from market_assets.core.run_plan import SESSIONS_TAG, SessionWindowError, session_window
from market_assets.core.settings import StoreSettings
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import Instrument, UnknownSymbolError, default_universe
from market_assets.defs.ohlcv import metadata as md
from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.automation import FOLLOW_PARENT
from market_assets.defs.ohlcv.bar_rollups import definition_metadata
from market_assets.defs.ohlcv.checks import (
    RAW_SPECS,
    RECONCILIATION_SPEC,
    ROLLUP_SPECS,
    SNAPSHOT_SPEC,
    raw_bars_results,
    reconciliation_results,
    rollup_results,
    snapshot_results,
)
from market_assets.defs.ohlcv.partition_metadata import add_per_partition
from market_assets.defs.ohlcv.raw_bars import batch_metadata, skipped_figures, skipped_result
from market_assets.defs.ohlcv.selection import materializing, selected_checks
from market_assets.ohlcv.bar_reads import RELATIONS
from market_assets.ohlcv.collect import PartitionOutcome, collect_raw_bars
from market_assets.ohlcv.load import load_db_bars
from market_assets.ohlcv.publish import publish_symbols
from market_assets.ohlcv.rollups import refresh_rollups
from market_assets.ohlcv.snapshots import DEFAULT_BARS
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource

_PERIOD_WORD = {DateGrain.DAY: "day", DateGrain.MONTH: "month", DateGrain.YEAR: "year"}


def specs_for(specs: Iterable[AssetCheckSpec], key: AssetKey) -> list[AssetCheckSpec]:
    """The intraday family's checks, on this family's asset."""
    return [
        AssetCheckSpec(s.name, asset=key, blocking=s.blocking, description=s.description)
        for s in specs
    ]


def results_on(key: AssetKey, results: Iterable[AssetCheckResult]) -> Iterator[AssetCheckResult]:
    """Check results the shared evaluators report on the intraday asset, moved to `key`."""
    for r in results:
        yield AssetCheckResult(
            asset_key=key,
            check_name=r.check_name,
            passed=r.passed,
            severity=r.severity,
            metadata=r.metadata,
        )


def family_run_sessions(
    context: AssetExecutionContext, family: Family, partitions_def: MultiPartitionsDefinition
) -> list[BarPartition]:
    """The sessions of the run's date key x symbol range, up to today (UTC), inside each
    symbol's listing window."""
    return family_run_listed(context, family, partitions_def).parts


def family_run_listed(
    context: AssetExecutionContext, family: Family, partitions_def: MultiPartitionsDefinition
) -> ListedParts:
    """The run's sessions (`family_run_sessions`) and its keys skipped whole, with why; a
    run tagged with a session window (the schedules' `SESSIONS_TAG`) keeps only those sessions
    of its periods, and fails if none of them lies in its partitions."""
    if not (context.has_partition_key or context.has_partition_key_range):
        raise Failure(
            description=f"this step works on the {_PERIOD_WORD[family.grain]} x symbol"
            " partitions of its run"
        )
    keys = partitions_def.get_partition_keys_in_range(
        context.partition_key_range, dynamic_partitions_store=context.instance
    )
    universe = default_universe()

    def instrument_of(symbol: str) -> Instrument:
        try:
            return universe.resolve(symbol)
        except UnknownSymbolError as exc:
            raise Failure(description=str(exc)) from None

    today = dt.datetime.now(dt.UTC).date()
    try:
        window = session_window(context.run.tags)
    except SessionWindowError as exc:  # a wrong tag stays wrong: no retry
        raise Failure(description=str(exc), allow_retries=False) from None
    listed = clip_periods(family, keys, instrument_of, until=today, window=window)
    if window is not None and keys and not listed.parts and not listed.skipped:
        raise Failure(
            description=f"the run's {SESSIONS_TAG} {window[0]}..{window[1]} holds no session"
            f" of its partitions ({keys[0]} .. {keys[-1]})",
            allow_retries=False,
        )
    return listed


def period_metadata(
    family: Family, outcomes: list[PartitionOutcome]
) -> dict[str, dict[str, MetadataValue]]:
    """Each partition's own figures: rows written and sessions held back, summed; a
    partition with sessions before the symbol's first data counts them and, when that is all
    it holds, says so (`skipped`)."""
    rows: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    skipped: dict[str, list[str]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    for o in outcomes:
        key = family.key_of(o.partition)
        rows[key] += o.entry.rows_written
        held[key] += int(o.held_back)
        total[key] += 1
        if o.skipped:
            skipped[key].append(o.skipped)
    meta = {}
    for k in rows:
        figures = {"sessions_held_back": held[k]}
        if skipped[k]:
            figures["sessions_skipped"] = len(skipped[k])
        meta[k] = md.partition_rows(rows[k], **figures)
        if skipped[k] and len(skipped[k]) == total[k]:
            meta[k].update(md.skipped(skipped[k][0]))
    return meta


@dataclass(frozen=True)
class FamilyDescriptions:
    raw: str
    db: str
    snapshots: str
    job: str
    rollups: str = ""


def declared_descriptions(family: Family) -> FamilyDescriptions:
    """The descriptions of a declared family's assets, from its bases and grain."""
    bases = ", ".join(family.bases)
    period = _PERIOD_WORD[family.grain]
    field = {"day": "date", "month": "month", "year": "year"}[period]
    keys = " (weekdays)" if family.days.value == "weekdays" else ""
    return FamilyDescriptions(
        raw=f"""{bases} base bars of the `{family.name}` family per {period}{keys} and symbol,
as Parquet (zstd) in S3, one object per partition at `<bucket>/<prefix>ohlcv/timeframe=<TF>/
{field}=<KEY>/symbol=<SYMBOL>/bars.parquet`, from {family.start}.""",
        db=f"""{bases} base bars of the `{family.name}` family in
`<schema>.{RELATIONS[Timeframe.M1]}` (the intraday family's table), each partition's sessions
replaced in one transaction from its S3 object.""",
        rollups=f"""The coarser timeframes of the `{family.name}` family's bars, refreshed for
the weeks a run loaded (the relations bar_rollups fills).""",
        snapshots=f"""The latest {DEFAULT_BARS} bars per `{family.name}`-family symbol and
timeframe (its base and coarser) in Redis, as bar_snapshots publishes them.""",
        job=f"Every {family.name}-family asset (and its checks) for a batch of {period} x"
        " symbol partitions.",
    )


@dataclass(frozen=True)
class FamilyAssets:
    family: Family
    partitions_def: MultiPartitionsDefinition
    assets: list[AssetsDefinition]
    job: UnresolvedAssetJobDefinition
    raw_key: AssetKey
    db_key: AssetKey
    snapshots_key: AssetKey


def build_family_assets(
    family: Family,
    partitions_def: MultiPartitionsDefinition,
    descriptions: FamilyDescriptions | None = None,
) -> FamilyAssets:
    """A family's assets and job (see the module docstring)."""
    text = descriptions or declared_descriptions(family)
    group = f"ohlcv_{family.name}"
    raw_key = AssetKey(f"{family.name}_raw_bars")
    db_key = AssetKey(f"{family.name}_db_bars")
    rollups_key = AssetKey(f"{family.name}_rollups")
    snapshots_key = AssetKey(f"{family.name}_snapshots")
    with_rollups = any(tf.is_intraday for tf in family.bases)

    def sessions(context: AssetExecutionContext) -> list[BarPartition]:
        return family_run_sessions(context, family, partitions_def)

    @ohlcv_asset(
        raw_key,
        description=text.raw,
        kinds={"s3", "parquet"},
        check_specs=specs_for(RAW_SPECS, raw_key),
        metadata=md.bar_table_definition(),
        partitions_def=partitions_def,
        group_name=group,
    )
    def raw_bars(
        context: AssetExecutionContext,
        sources: BarSourcesResource,
        s3: S3Resource,
        postgres: PostgresResource,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        listed = family_run_listed(context, family, partitions_def)
        parts = listed.parts
        if materializing(context, raw_key) and listed.skipped and not parts:
            yield skipped_result(context, raw_key, listed.skipped)
        elif materializing(context, raw_key):
            result = collect_raw_bars(parts, sources, s3, postgres, context.run_id)
            for key in result.rejected_files:
                context.log.warning(f"landing file {key} rejected (see landing_files); skipped")
            keys = [s3.full_key(o.object_key) for o in result.outcomes if o.object_key]
            meta = batch_metadata(result.outcomes, s3.bucket, sorted(set(keys)))
            if result.held and len(result.held) == len(result.outcomes):
                raise Failure(
                    description=f"every session of this run was held back ({len(result.held)})",
                    metadata=meta,
                )
            for o in result.held:
                context.log.warning(f"held back {o.entry.partition_key}: {o.entry.error}")
            per_partition = period_metadata(family, result.outcomes)
            per_partition.update({key: md.skipped(why) for key, why in listed.skipped.items()})
            meta.update(skipped_figures(listed.skipped, result.outcomes))
            meta.update(add_per_partition(context, raw_key, per_partition))
            yield MaterializeResult(asset_key=raw_key, metadata=meta)
            before_first = {o.partition for o in result.outcomes if o.skipped}
            parts = [p for p in parts if p not in before_first]  # nothing to check there
        checks = selected_checks(context, raw_key)
        yield from results_on(
            raw_key,
            raw_bars_results(checks, parts, s3, postgres, context.run_id, context.log.exception),
        )

    @ohlcv_asset(
        db_key,
        description=text.db,
        kinds={"postgres", "timescale"},
        check_specs=specs_for([RECONCILIATION_SPEC], db_key),
        metadata=md.bar_table_definition(
            md.qualified(StoreSettings.from_env().pg_schema, RELATIONS[Timeframe.M1])
        ),
        deps=[raw_key],
        automation_condition=FOLLOW_PARENT,
        partitions_def=partitions_def,
        group_name=group,
    )
    def db_bars(
        context: AssetExecutionContext, s3: S3Resource, postgres: PostgresResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        parts = sessions(context)
        if materializing(context, db_key):
            outcome = load_db_bars(parts, s3, postgres, context.run_id)
            for part in outcome.held:
                context.log.warning(f"not loading {part.key}: {raw_key.path[-1]} held it back")
            figures = {
                **outcome.figures,
                "partitions_loaded": len(outcome.loaded),
                "partitions_held_back": len(outcome.held),
            }
            yield MaterializeResult(asset_key=db_key, metadata=md.batch_figures(figures))
        checks = selected_checks(context, db_key)
        yield from results_on(
            db_key, reconciliation_results(checks, parts, s3, postgres, context.run_id)
        )

    assets = [raw_bars, db_bars]
    parent = db_key
    if with_rollups:

        @ohlcv_asset(
            rollups_key,
            description=text.rollups,
            kinds={"postgres", "timescale"},
            check_specs=specs_for(ROLLUP_SPECS, rollups_key),
            metadata=definition_metadata(StoreSettings.from_env().pg_schema),
            deps=[db_key],
            automation_condition=FOLLOW_PARENT,
            partitions_def=partitions_def,
            group_name=group,
        )
        def rollups(
            context: AssetExecutionContext, postgres: PostgresResource
        ) -> Iterator[MaterializeResult | AssetCheckResult]:
            parts = sessions(context)
            if materializing(context, rollups_key):
                figures = refresh_rollups(postgres, parts)
                yield MaterializeResult(asset_key=rollups_key, metadata=md.batch_figures(figures))
            checks = selected_checks(context, rollups_key)
            yield from results_on(
                rollups_key, rollup_results(checks, parts, postgres, context.run_id)
            )

        assets.append(rollups)
        parent = rollups_key

    @ohlcv_asset(
        snapshots_key,
        description=text.snapshots,
        kinds={"redis"},
        check_specs=specs_for([SNAPSHOT_SPEC], snapshots_key),
        deps=[parent],
        automation_condition=FOLLOW_PARENT,
        partitions_def=partitions_def,
        group_name=group,
    )
    def snapshots(
        context: AssetExecutionContext, postgres: PostgresResource, redis: RedisResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        parts = sessions(context)
        if materializing(context, snapshots_key):
            symbols = sorted({p.symbol for p in parts})
            figures = publish_symbols(postgres, redis, symbols, DEFAULT_BARS)
            yield MaterializeResult(asset_key=snapshots_key, metadata=md.batch_figures(figures))
        checks = selected_checks(context, snapshots_key)
        yield from results_on(
            snapshots_key, snapshot_results(checks, parts, postgres, redis, context.run_id)
        )

    assets.append(snapshots)
    job = define_asset_job(
        f"ohlcv_{family.name}_family",
        selection=AssetSelection.assets(*assets),
        partitions_def=partitions_def,
        description=text.job,
    )
    return FamilyAssets(family, partitions_def, assets, job, raw_key, db_key, snapshots_key)
