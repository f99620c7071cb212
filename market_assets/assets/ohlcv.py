"""The OHLCV asset family, in dependency order, for definitions, seeding and backfills."""

from market_assets.assets.bar_rollups import bar_rollups
from market_assets.assets.bar_snapshots import bar_snapshots
from market_assets.assets.db_bars import db_bars
from market_assets.assets.raw_bars import raw_bars

OHLCV_ASSETS = [raw_bars, db_bars, bar_rollups, bar_snapshots]
