"""The CLI's assets come unbound, so operations can pass `definitions_resources()` themselves."""

from __future__ import annotations

from market_assets.cli.code_location import master_assets, ohlcv_assets
from market_assets.core.names import MASTER_ASSET_NAMES, OHLCV_ASSET_NAMES


def test_assets_have_no_bound_resources() -> None:
    """`materialize(assets, resources=...)` refuses a resource key an asset already binds
    (DagsterInvalidInvocationError): first-start seeding and `backfill` failed on it."""
    for assets, names in (
        (ohlcv_assets(), OHLCV_ASSET_NAMES),
        (master_assets(), MASTER_ASSET_NAMES),
    ):
        assert [key.to_user_string() for a in assets for key in a.keys] == list(names)
        assert all(not a.resource_defs for a in assets)
