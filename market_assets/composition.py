"""The one mapping from the environment to resources, for every purpose.

Dagster definitions, the CLI, the terminal operations (backfill, seed, rebuild), the read path
and the benchmarks all build their resources here; the resource classes themselves live in
`resources/`; nothing else decides which resource a key gets. Inside Dagster, secrets are
`EnvVar`s resolved when a run starts, so they never appear in run config, the UI or logs;
outside Dagster (CLI, `get_ohlcv`) the same classes get the values read now (`live=True`).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from dagster import EnvVar

from market_assets.core import settings as s
from resources.masters.jquants_master import DEFAULT_BASE_URL as JQUANTS_DEFAULT_BASE_URL
from resources.masters.resource import MasterSourceResource
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.landing import FileStore, LocalFileStore, S3FileStore
from resources.sources.resource import BarSourcesResource

Role = Literal["writer", "reader", "owner"]
_ROLE_VARS: dict[str, str] = {
    "writer": s.PG_URL,
    "reader": s.PG_READER_URL,
    "owner": s.PG_OWNER_URL,
}


class MissingSettingError(RuntimeError):
    """A required environment variable is not set."""


def _value(name: str, live: bool) -> Any:
    if not live:
        return EnvVar(name)
    value = os.environ.get(name)
    if not value:
        raise MissingSettingError(
            f"{name} is not set: run `market-assets dev` (which sets it) or see README, "
            "'Configuration'"
        )
    return value


def postgres_resource(role: Role = "writer", live: bool = False) -> PostgresResource:
    cfg = s.StoreSettings.from_env()
    return PostgresResource(
        url=_value(_ROLE_VARS[role], live),
        schema_name=cfg.pg_schema,
        bulk_mode=cfg.pg_bulk_mode,  # type: ignore[arg-type]
        pool_max_size=cfg.pg_pool_size,
    )


def redis_resource(live: bool = False) -> RedisResource:
    return RedisResource(
        url=_value(s.REDIS_URL, live), key_prefix=s.StoreSettings.from_env().redis_prefix
    )


def s3_resource(live: bool = False) -> S3Resource:
    cfg = s.StoreSettings.from_env()
    has_keys = bool(os.environ.get(s.S3_ACCESS_KEY)) or not live
    return S3Resource(
        bucket=cfg.s3_bucket,
        endpoint_url=cfg.s3_endpoint,
        access_key_id=_value(s.S3_ACCESS_KEY, live) if has_keys else None,
        secret_access_key=_value(s.S3_SECRET_KEY, live) if has_keys else None,
        region=cfg.s3_region,
        prefix=cfg.s3_prefix,
    )


def store_resources() -> dict[str, Any]:
    """Resources for Dagster definitions (EnvVars, resolved per run)."""
    return {
        "postgres": postgres_resource(),
        "postgres_owner": postgres_resource("owner"),  # maintenance only
        "redis": redis_resource(),
        "s3": s3_resource(),
    }


def _checked_vendor_limits() -> str | None:
    """MARKET_ASSETS_VENDOR_RATE_LIMITS, validated now so a typo fails the code location."""
    s.vendor_limits()
    return s.env(s.VENDOR_RATE_LIMITS)


def _jquants_plan() -> str | None:
    """The J-Quants plan for the master sync, so it spends the bar runs' bucket."""
    limit = s.vendor_limits().get("jquants")
    return limit.plan.removesuffix("rpm") if limit is not None else None


def _rate_limit_redis() -> RedisResource | None:
    """The Redis of the shared vendor buckets; None when no Redis is configured at all (the
    clients then pace per process and warn)."""
    return redis_resource() if os.environ.get(s.REDIS_URL) else None


def source_resource() -> BarSourcesResource:
    """Bar sources; MARKET_ASSETS_SOURCE forces one source for every symbol (dev, tests)."""

    def secret(name: str) -> Any:
        # Only variables that are set become EnvVars: an unset one would fail every run,
        # including runs of symbols that never use that vendor.
        return EnvVar(name) if os.environ.get(name) else None

    return BarSourcesResource(
        generator_seed=int(s.env(s.GENERATOR_SEED, "0") or 0),
        override=s.env(s.SOURCE_OVERRIDE),
        jquants_api_key=secret(s.JQUANTS_API_KEY),
        jquants_refresh_token=secret(s.JQUANTS_REFRESH_TOKEN),
        jquants_mail_address=secret(s.JQUANTS_MAIL_ADDRESS),
        jquants_password=secret(s.JQUANTS_PASSWORD),
        jquants_base_url=s.env(s.JQUANTS_BASE_URL),
        jquants_requests_per_minute=s.jquants_requests_per_minute(),
        vendor_rate_limits=_checked_vendor_limits(),
        rate_limit_redis=_rate_limit_redis(),
        yfinance_base_url=s.env(s.YFINANCE_BASE_URL),
        landing_dir=s.env(s.LANDING_DIR),
        landing_s3=s3_resource(),
    )


def landing_store() -> FileStore:
    """Where the landing zone's files are, as the runs' landing source reads them: the folder
    MARKET_ASSETS_LANDING_DIR when set, else `landing/` in the bucket (values read now)."""
    folder = s.env(s.LANDING_DIR)
    return LocalFileStore(folder) if folder else S3FileStore(s3_resource(live=True))


def master_source_resource() -> MasterSourceResource:
    """The resource from the environment: kind and limits now, secrets as EnvVars.

    An EnvVar is only given for a variable that is set when definitions load: Dagster fails a
    run on an EnvVar whose variable is unset, and v1 needs only some of the four secrets.
    """
    kind = s.env(s.MASTER_SOURCE) or "sample"
    secrets: dict[str, Any] = {
        field: EnvVar(name)
        for field, name in (
            ("api_key", s.JQUANTS_API_KEY),
            ("refresh_token", s.JQUANTS_REFRESH_TOKEN),
            ("mail", s.JQUANTS_MAIL_ADDRESS),
            ("password", s.JQUANTS_PASSWORD),
        )
        if os.environ.get(name)
    }
    return MasterSourceResource(
        kind=kind,  # type: ignore[arg-type]
        base_url=s.env(s.JQUANTS_BASE_URL) or JQUANTS_DEFAULT_BASE_URL,
        requests_per_minute=s.jquants_requests_per_minute(60) or 60,
        rate_limit_plan=_jquants_plan(),
        rate_limit_redis=_rate_limit_redis(),
        **secrets,
    )


def definitions_resources() -> dict[str, Any]:
    """Every resource the code location's definitions use, by key."""
    return {
        **store_resources(),
        "sources": source_resource(),
        "master_source": master_source_resource(),
    }
