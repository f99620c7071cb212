"""Every Redis key the project writes, named in one place.

Keys are built only from validated identifiers, so a hostile symbol cannot address another
key space; the optional prefix isolates tests and deployments that share one server.
"""

from __future__ import annotations

from market_assets.core.identifiers import validate_symbol


def snapshot_key(symbol: str, timeframe: str, prefix: str = "") -> str:
    return f"{prefix}ohlcv:{validate_symbol(symbol)}:{validate_symbol(timeframe)}"


def snapshot_info_key(symbol: str, timeframe: str, prefix: str = "") -> str:
    return f"{snapshot_key(symbol, timeframe, prefix)}:info"


def company_key(code: str, prefix: str = "") -> str:
    return f"{prefix}master:company:{validate_symbol(code)}"


def company_list_key(name: str, prefix: str = "") -> str:
    return f"{prefix}master:companies:{validate_symbol(name)}"


def master_table_key(table: str, prefix: str = "") -> str:
    return f"{prefix}master:table:{validate_symbol(table.upper())}"
