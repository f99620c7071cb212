"""The code location's asset definitions, for commands that materialise in this process.

The terminal operations (market_assets/operations/) take the assets they run as arguments so
that services never import Dagster definitions; the CLI, at the top of the house, takes them
from the one `Definitions` object by name.
"""

from __future__ import annotations

from dagster import AssetKey, AssetsDefinition
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from market_assets.core.names import DAILY_ASSET_NAMES, MASTER_ASSET_NAMES, OHLCV_ASSET_NAMES


def _resolve(names: tuple[str, ...], optional: bool = False) -> list[AssetsDefinition]:
    """The definitions as the domains declared them, without the code location's resources.

    `Definitions.resolve_assets_def` returns the assets with the resources bound, and
    `materialize(..., resources=...)` refuses a key bound twice, so the operations (which pass
    `definitions_resources()` themselves) get the unbound definitions from `defs.assets`.
    """
    from market_assets.definitions import defs

    by_key: dict[AssetKey, AssetsDefinition] = {}
    for item in defs.assets or ():
        if isinstance(item, AssetsDefinition):
            by_key.update(dict.fromkeys(item.keys, item))
    found: list[AssetsDefinition] = []
    for name in names:
        if optional and AssetKey(name) not in by_key:
            continue
        assets_def = by_key[AssetKey(name)]
        if assets_def not in found:  # one definition may hold several keys
            found.append(assets_def)
    return found


def ohlcv_assets() -> list[AssetsDefinition]:
    """raw_bars, db_bars, bar_rollups and bar_snapshots (with their checks), in order."""
    return _resolve(OHLCV_ASSET_NAMES)


def daily_assets() -> list[AssetsDefinition]:
    """The daily family's daily_raw_bars, daily_db_bars and daily_snapshots, in order."""
    return _resolve(DAILY_ASSET_NAMES)


def declared_family_assets() -> dict[str, list[AssetsDefinition]]:
    """Each family declared in the universe file: its raw bars, db bars, rollups (when it has
    them) and snapshots, in order, by family name."""
    from market_assets.core.universe import default_universe

    suffixes = ("raw_bars", "db_bars", "rollups", "snapshots")
    return {
        f.name: _resolve(tuple(f"{f.name}_{s}" for s in suffixes), optional=True)
        for f in default_universe().families
    }


def master_assets() -> list[AssetsDefinition]:
    """markets, sector17, sector33 and companies."""
    return _resolve(MASTER_ASSET_NAMES)


def ohlcv_asset_graph() -> BaseAssetGraph:
    """The code location's asset graph, for a backfill submitted to the daemon."""
    from market_assets.definitions import defs

    return defs.resolve_asset_graph()
