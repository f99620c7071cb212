"""The one Definitions object of the code location.

Resources come from market_assets.store_resources (the single environment-to-resource
mapping); they read secrets through EnvVar at run time, so loading these definitions opens no
connection and needs no secret (`dg check defs` works on a clean checkout).
"""

from __future__ import annotations

from dagster import Definitions

from market_assets.assets.ohlcv import OHLCV_ASSETS
from market_assets.checks.bars import BAR_CHECKS
from market_assets.store_resources import source_resource, store_resources

defs = Definitions(
    assets=OHLCV_ASSETS,
    asset_checks=BAR_CHECKS,
    resources={**store_resources(), "sources": source_resource()},
)
