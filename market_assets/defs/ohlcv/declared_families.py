"""The Dagster definitions of the families declared in the universe file (`families:`).

Each gets its assets and job (family_assets.build_family_assets, as the daily family) and a
schedule per market (daily_schedules.family_schedules); its partitions are
partitions.PARTITIONS_BY_FAMILY's. The shipped universe declares none, so nothing here is
defined unless a user's file (MARKET_ASSETS_UNIVERSE) declares a family.
"""

from market_assets.defs.ohlcv.daily_schedules import family_schedules
from market_assets.defs.ohlcv.family_assets import FamilyAssets, build_family_assets
from market_assets.defs.ohlcv.partitions import DECLARED_FAMILIES, PARTITIONS_BY_FAMILY

DECLARED: dict[str, FamilyAssets] = {
    f.name: build_family_assets(f, PARTITIONS_BY_FAMILY[f.name]) for f in DECLARED_FAMILIES
}
DECLARED_ASSETS = [a for built in DECLARED.values() for a in built.assets]
DECLARED_JOBS = [built.job for built in DECLARED.values()]
DECLARED_SCHEDULES = [s for built in DECLARED.values() for s in family_schedules(built)]
