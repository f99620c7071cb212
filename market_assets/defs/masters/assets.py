"""The company master as assets: markets, sector17, sector33 and companies.

Not partitioned: the master is the current state of each company (one row per code), and a
daily partition would promise a per-date snapshot that the tables do not keep. History is
kept another way, at finer grain than days: every new / updated / reactivated / deactivated
company is a row in company_changes (before and after), every sync a row in company_sync_log,
and companies are never deleted. A re-run of any day is therefore a plain re-sync.

`companies` is the one place that registers `symbols` partitions of the OHLCV assets (active
companies plus the universe's non-company symbols; see market_assets.masters.registration),
after its transaction has committed, so a partition never names a company that a rollback
removed.
"""

from collections import Counter
from collections.abc import Iterable

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from market_assets.masters.cache import invalidate
from market_assets.masters.code_tables import upsert_code_table
from market_assets.masters.registration import register_symbols
from market_assets.masters.sync import CompanyChange, sync_companies
from resources.errors import StoreUnavailableError
from resources.masters.resource import MasterSourceResource
from resources.postgres import PostgresResource
from resources.redis import RedisResource

GROUP = "masters"


def _invalidate(
    context: AssetExecutionContext,
    redis: RedisResource,
    changes: Iterable[CompanyChange] = (),
    tables: Iterable[str] = (),
) -> dict[str, MetadataValue]:
    """Drop the changed cache keys; Redis being down is a warning (TTLs bound staleness)."""
    try:
        keys = invalidate(redis, changes, tables)
    except StoreUnavailableError as exc:
        context.log.warning(f"cache not invalidated, entries expire by their TTL: {exc}")
        return {"cache_invalidation": MetadataValue.text(f"failed: {exc}")}
    return {"cache_keys_invalidated": MetadataValue.int(len(keys))}


def _code_table_asset(table: str, description: str) -> AssetsDefinition:
    @asset(
        name=table,
        group_name=GROUP,
        kinds={"postgres"},
        code_version="1",
        description=description,
    )
    def _code_table(
        context: AssetExecutionContext,
        postgres: PostgresResource,
        redis: RedisResource,
        master_source: MasterSourceResource,
    ) -> MaterializeResult:
        rows = master_source.code_tables()[table]
        with postgres.transaction() as conn:
            result = upsert_code_table(conn, table, rows)
        metadata: dict[str, MetadataValue] = {
            "rows": MetadataValue.int(result.rows),
            "inserted": MetadataValue.int(len(result.inserted)),
            "updated": MetadataValue.int(len(result.updated)),
            "not_in_source": MetadataValue.json(result.not_in_source),
        }
        metadata.update(_invalidate(context, redis, tables=[table] if result.changed else []))
        return MaterializeResult(metadata=metadata)

    return _code_table


markets = _code_table_asset(
    "markets", "Market segment codes (0111 Prime, 0112 Standard, 0113 Growth, ...), JA and EN."
)
sector17 = _code_table_asset("sector17", "TOPIX-17 sector codes with Japanese and English names.")
sector33 = _code_table_asset("sector33", "TSE 33 sector codes with Japanese and English names.")


class CompanySyncConfig(Config):
    max_deactivation_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Refuse a sync that would deactivate more than this share of the active "
        "companies (a truncated source); raise it for a known mass delisting.",
    )


@asset(
    deps=[markets, sector17, sector33],
    group_name=GROUP,
    kinds={"postgres", "redis"},
    code_version="1",
    description="Listed companies (J-Quants codes), synced in one transaction: upserted, "
    "missing ones deactivated (never deleted), bad records quarantined; registers the "
    "`symbols` partitions of the OHLCV assets.",
)
def companies(
    context: AssetExecutionContext,
    config: CompanySyncConfig,
    postgres: PostgresResource,
    redis: RedisResource,
    master_source: MasterSourceResource,
) -> MaterializeResult:
    result = sync_companies(
        postgres,
        master_source.fetch_companies,
        source=master_source.source_name,
        run_id=context.run_id,
        max_deactivation_ratio=config.max_deactivation_ratio,
    )
    if result.quarantined:
        rules = Counter(r.rule for r in result.rejected)
        context.log.warning(f"{result.quarantined} records quarantined: {dict(rules)}")
    added = register_symbols(context.instance, result.active_codes)
    metadata: dict[str, MetadataValue] = {
        name: MetadataValue.int(count) for name, count in result.counts().items()
    }
    metadata.update(
        {
            "sync_id": MetadataValue.int(result.sync_id),
            "source": MetadataValue.text(result.source),
            "source_rows": MetadataValue.int(result.source_rows),
            "reference_date": MetadataValue.text(str(result.reference_date)),
            "active_companies": MetadataValue.int(len(result.active_codes)),
            "symbols_added": MetadataValue.json(added),
            "quarantine_rules": MetadataValue.json(dict(Counter(r.rule for r in result.rejected))),
        }
    )
    metadata.update(_invalidate(context, redis, changes=result.changes))
    return MaterializeResult(metadata=metadata)


MASTER_ASSETS = [markets, sector17, sector33, companies]
