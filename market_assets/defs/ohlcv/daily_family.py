"""The daily family's assets: D1, W1 and MN1 bases by year x symbol (core/families.py).

Three assets, sharing the intraday family's services and tables: `daily_raw_bars` (S3, one
object per year and symbol, `ohlcv/timeframe=D1/year=2004/symbol=X/bars.parquet`),
`daily_db_bars` (the same `ohlcv_bars` table) and `daily_snapshots` (Redis). No rollups asset:
a daily base's W1 and MN1 are views over `ohlcv_daily` UNION the D1-base rows (migration 0010),
so nothing is refreshed. A run's year keys expand to the sessions of those years on each
symbol's calendar up to today (`core.listing.clip_periods`): the services work on those sessions as
they do on the intraday family's days, and a year before a symbol's first session holds no
session, so it is skipped, never failed. Checks are the intraday family's, per session,
reported on these assets. The body is family_assets.build_family_assets, which the families
declared in the universe file share; the descriptions here are the daily family's own.
"""

from market_assets.core.timeframes import Timeframe
from market_assets.defs.ohlcv.family_assets import FamilyDescriptions, build_family_assets
from market_assets.defs.ohlcv.partitions import DAILY_FAMILY, daily_bar_partitions
from market_assets.ohlcv.bar_reads import RELATIONS
from market_assets.ohlcv.snapshots import DEFAULT_BARS

GROUP = f"ohlcv_{DAILY_FAMILY.name}"
DESCRIPTIONS = FamilyDescriptions(
    raw="""D1, W1 and MN1 base bars per year and symbol, as Parquet (zstd) in S3, one
object per partition at `<bucket>/<prefix>ohlcv/timeframe=<TF>/year=<YYYY>/symbol=<SYMBOL>/
bars.parquet`; a run rewrites the year's sessions it fetched over the object's others.""",
    db=f"""D1, W1 and MN1 base bars in `<schema>.{RELATIONS[Timeframe.M1]}`
(the intraday family's table), each year's sessions replaced in one transaction from its S3
object.""",
    snapshots=f"""The latest {DEFAULT_BARS} bars per daily-base symbol and timeframe (its
base and coarser) in Redis, as the intraday family's bar_snapshots publishes them.""",
    job="Every daily-family asset (and its checks) for a batch of year x symbol partitions.",
)
DAILY = build_family_assets(DAILY_FAMILY, daily_bar_partitions, DESCRIPTIONS)
DAILY_RAW_BARS, DAILY_DB_BARS, DAILY_SNAPSHOTS = DAILY.raw_key, DAILY.db_key, DAILY.snapshots_key
daily_raw_bars, daily_db_bars, daily_snapshots = DAILY.assets
DAILY_ASSETS = DAILY.assets
daily_job = DAILY.job
