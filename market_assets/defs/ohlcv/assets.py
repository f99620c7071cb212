"""The OHLCV asset family, in dependency order, for definitions, seeding and backfills."""

from market_assets.defs.ohlcv.bar_rollups import bar_rollups
from market_assets.defs.ohlcv.bar_snapshots import bar_snapshots
from market_assets.defs.ohlcv.db_bars import db_bars
from market_assets.defs.ohlcv.raw_bars import raw_bars

OHLCV_ASSETS = [raw_bars, db_bars, bar_rollups, bar_snapshots]
