"""Names of the assets and checks, as plain strings: the one place they are spelled.

Dagster definitions turn them into `AssetKey`s (market_assets/defs/ohlcv/checks.py); services
write them into the collection log, quality metrics and quarantine; the CLI resolves assets by
them. Renaming one here renames it everywhere, which is why nothing else spells them.
"""

RAW_BARS = "raw_bars"
DB_BARS = "db_bars"
BAR_ROLLUPS = "bar_rollups"
BAR_SNAPSHOTS = "bar_snapshots"
OHLCV_ASSET_NAMES = (RAW_BARS, DB_BARS, BAR_ROLLUPS, BAR_SNAPSHOTS)  # in dependency order
# The daily family (D1, W1, MN1 bases; year x symbol partitions, core/families.py)
DAILY_RAW_BARS = "daily_raw_bars"
DAILY_DB_BARS = "daily_db_bars"
DAILY_SNAPSHOTS = "daily_snapshots"
DAILY_ASSET_NAMES = (DAILY_RAW_BARS, DAILY_DB_BARS, DAILY_SNAPSHOTS)  # in dependency order

MARKETS = "markets"
SECTOR17 = "sector17"
SECTOR33 = "sector33"
COMPANIES = "companies"
MASTER_ASSET_NAMES = (MARKETS, SECTOR17, SECTOR33, COMPANIES)

# Checks of raw_bars
SCHEMA_CONTRACT = "schema_contract"
OHLC_SANITY = "ohlc_sanity"
UNIQUE_SYMBOL_TIMEFRAME_TS = "unique_symbol_timeframe_ts"
SESSION_CONTINUITY = "session_continuity"
ROW_COUNT = "row_count"
EXPECTATION_SUITE = "expectation_suite"
# Check of db_bars (the freshness checks are named per market: quality/freshness.py)
S3_DB_RECONCILIATION = "s3_db_reconciliation"
# Checks of bar_rollups
D1_EQUALS_M1_AGGREGATE = "d1_equals_m1_aggregate"
H1_EQUALS_M1_AGGREGATE = "h1_equals_m1_aggregate"
# Check of bar_snapshots
SNAPSHOT_MATCHES_DATABASE = "snapshot_matches_database"
