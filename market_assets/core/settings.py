"""The name of every environment variable the project reads, and the non-secret knobs' values.

Names are defined here only; values are read here (non-secret knobs, with their defaults) or
by market_assets/composition.py, which turns secrets (URLs with passwords, S3 keys, vendor
credentials) into `dagster.EnvVar`s so that they are resolved at run time and never stored in
run config or printed in the UI. The embedded dev stack sets the variables it serves
(market_assets/devstack/environment.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from market_assets.core.vendor_limits import VendorLimit, parse_vendor_limits, vendor_limit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"

# Names of the environment variables (documented in README.md, "Configuration").
PG_URL = "MARKET_ASSETS_PG_URL"  # writer role: the pipeline
PG_READER_URL = "MARKET_ASSETS_PG_READER_URL"  # reader role: get_ohlcv, CLI reads
PG_OWNER_URL = "MARKET_ASSETS_PG_OWNER_URL"  # owner role: migrations, maintenance
PG_ADMIN_URL = "MARKET_ASSETS_PG_ADMIN_URL"  # superuser, only for `db bootstrap`
PG_SCHEMA = "MARKET_ASSETS_PG_SCHEMA"
PG_BULK_MODE = "MARKET_ASSETS_PG_BULK_MODE"
PG_POOL_SIZE = "MARKET_ASSETS_PG_POOL_SIZE"
REDIS_URL = "MARKET_ASSETS_REDIS_URL"
REDIS_PREFIX = "MARKET_ASSETS_REDIS_PREFIX"
S3_ENDPOINT = "MARKET_ASSETS_S3_ENDPOINT"
S3_BUCKET = "MARKET_ASSETS_S3_BUCKET"
S3_PREFIX = "MARKET_ASSETS_S3_PREFIX"
S3_REGION = "AWS_REGION"
S3_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
S3_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
HOME = "MARKET_ASSETS_HOME"
RETENTION_PREFIX = "MARKET_ASSETS_RETENTION_"  # + a timeframe: M1, M5, ..., D1, W1, MN1
RETENTION_M1 = "MARKET_ASSETS_RETENTION_M1"
COMPRESS_AFTER = "MARKET_ASSETS_COMPRESS_AFTER"
RUN_RETENTION_DAYS = "MARKET_ASSETS_RUN_RETENTION_DAYS"  # failed/canceled runs kept; `off`
DEFAULT_RUN_RETENTION_DAYS = 30
SOURCE_OVERRIDE = "MARKET_ASSETS_SOURCE"
LANDING_DIR = "MARKET_ASSETS_LANDING_DIR"
LANDING_VENDORS = "MARKET_ASSETS_LANDING_VENDORS"  # vendor mappings merged over the shipped ones
GENERATOR_SEED = "MARKET_ASSETS_GENERATOR_SEED"
DAGSTER_PG_URL = "DAGSTER_PG_URL"
DAGSTER_HOME = "DAGSTER_HOME"
AUTOMATION = "MARKET_ASSETS_AUTOMATION"  # `off`: schedules and sensors start stopped
ALERT_WEBHOOK = "MARKET_ASSETS_ALERT_WEBHOOK"  # URL that receives JSON alerts
NEW_SYMBOL_SESSIONS = "MARKET_ASSETS_NEW_SYMBOL_SESSIONS"  # history requested for a new symbol
DEFAULT_NEW_SYMBOL_SESSIONS = 20
# J-Quants, read by both of its users (bar source and company master); the secrets reach
# Dagster resources only as EnvVars. v2 needs the API key; v1 a refresh token, or mail + password.
INTRADAY_START = "MARKET_ASSETS_INTRADAY_START"  # first day of the intraday family (M1..H4)
DAILY_START = "MARKET_ASSETS_DAILY_START"  # first day of the daily family (D1, W1, MN1)
UNIVERSE = "MARKET_ASSETS_UNIVERSE"  # a universe file replacing the packaged one
MASTER_SOURCE = "MARKET_ASSETS_MASTER_SOURCE"  # company master: sample | jquants
YFINANCE_BASE_URL = "YFINANCE_BASE_URL"  # tests point it at a local server
JQUANTS_API_KEY = "JQUANTS_API_KEY"
JQUANTS_REFRESH_TOKEN = "JQUANTS_REFRESH_TOKEN"
JQUANTS_MAIL_ADDRESS = "JQUANTS_MAIL_ADDRESS"
JQUANTS_PASSWORD = "JQUANTS_PASSWORD"
JQUANTS_BASE_URL = "JQUANTS_BASE_URL"  # tests point it at a local server
JQUANTS_REQUESTS_PER_MINUTE = "JQUANTS_REQUESTS_PER_MINUTE"  # the plan's limit (Free 5, Light 60)
# Vendor rate limits shared by every process (`jquants=light,yfinance=120`): vendor_limits().
VENDOR_RATE_LIMITS = "MARKET_ASSETS_VENDOR_RATE_LIMITS"

DEFAULT_SCHEMA = "market"
DEFAULT_BUCKET = "market-data"


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def automation_enabled() -> bool:
    """Schedules and sensors start running unless MARKET_ASSETS_AUTOMATION is off (browser
    tests, a second deployment reading the same stores)."""
    return (env(AUTOMATION, "") or "").lower() not in ("off", "0", "false")


def new_symbol_sessions() -> int:
    """Sessions of history requested for a newly listed symbol (at least one)."""
    raw = env(NEW_SYMBOL_SESSIONS, str(DEFAULT_NEW_SYMBOL_SESSIONS)) or ""
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{NEW_SYMBOL_SESSIONS} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{NEW_SYMBOL_SESSIONS} must be at least 1, got {value}")
    return value


def jquants_requests_per_minute(default: int | None = None) -> int | None:
    """The J-Quants plan's rate limit from JQUANTS_REQUESTS_PER_MINUTE, else `default`.

    One reading for both J-Quants users, since the limit is the account's, not per client."""
    raw = env(JQUANTS_REQUESTS_PER_MINUTE)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"{JQUANTS_REQUESTS_PER_MINUTE} must be a whole number, got {raw!r}"
        ) from None
    if value < 1:
        raise ValueError(f"{JQUANTS_REQUESTS_PER_MINUTE} must be at least 1, got {value}")
    return value


def vendor_limits() -> dict[str, VendorLimit]:
    """Each vendor's plan allowance: MARKET_ASSETS_VENDOR_RATE_LIMITS, and J-Quants' from
    JQUANTS_REQUESTS_PER_MINUTE as before (a number: a custom plan). Giving J-Quants in both
    fails, rather than one silently winning."""
    limits = parse_vendor_limits(env(VENDOR_RATE_LIMITS), setting=VENDOR_RATE_LIMITS)
    rpm = jquants_requests_per_minute()
    if rpm is not None:
        if "jquants" in limits:
            raise ValueError(
                f"J-Quants' rate limit is set twice: {JQUANTS_REQUESTS_PER_MINUTE} and "
                f"jquants= in {VENDOR_RATE_LIMITS}; keep one"
            )
        limits["jquants"] = vendor_limit("jquants", rpm)
    return limits


def state_dir() -> Path:
    """Where the embedded stack keeps its data; survives restarts."""
    return Path(env(HOME) or PROJECT_ROOT / ".market-assets").resolve()


@dataclass(frozen=True)
class StoreSettings:
    """Non-secret store settings with their defaults."""

    pg_schema: str = DEFAULT_SCHEMA
    pg_bulk_mode: str = "auto"
    pg_pool_size: int = 4
    redis_prefix: str = ""
    s3_bucket: str = DEFAULT_BUCKET
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    s3_endpoint: str | None = None

    @classmethod
    def from_env(cls) -> StoreSettings:
        return cls(
            pg_schema=env(PG_SCHEMA, DEFAULT_SCHEMA) or DEFAULT_SCHEMA,
            pg_bulk_mode=env(PG_BULK_MODE, "auto") or "auto",
            pg_pool_size=int(env(PG_POOL_SIZE, "4") or 4),
            redis_prefix=env(REDIS_PREFIX, "") or "",
            s3_bucket=env(S3_BUCKET, DEFAULT_BUCKET) or DEFAULT_BUCKET,
            s3_prefix=env(S3_PREFIX, "") or "",
            s3_region=env(S3_REGION, "us-east-1") or "us-east-1",
            s3_endpoint=env(S3_ENDPOINT),
        )
