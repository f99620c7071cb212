"""Active companies become symbol partitions of the OHLCV assets, each in its family's set.

The company sync is the one place that adds symbols: each active company under its canonical
symbol ('72030' -> '7203', '25935' stays), plus the universe file's active instruments that
are not Tokyo equities (FX pairs, indices, foreign equities), which no master lists.
Partitions are only ever added: a company that becomes inactive keeps its partition, so its
bars stay visible and backfillable; it stops being *scheduled* because schedules take their
symbols from `scheduled_symbols`, not from the partition list.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterInstance

from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.universe import (
    InstrumentKind,
    Universe,
    UnknownSymbolError,
    default_universe,
    symbol_for_jquants_code,
)
from resources.postgres import PostgresResource
from resources.queries import query


def non_company_symbols(universe: Universe | None = None) -> list[str]:
    """Active universe instruments that the company master does not cover."""
    u = universe or default_universe()
    return [
        i.symbol
        for i in u.active()
        if not (i.kind is InstrumentKind.EQUITY and i.calendar == "XTKS")
    ]


def scheduled_symbols(active_codes: Iterable[str], universe: Universe | None = None) -> list[str]:
    """Symbols that should get new bars: active companies and the universe's other symbols."""
    wanted = {symbol_for_jquants_code(c) for c in active_codes}
    wanted.update(non_company_symbols(universe))
    return sorted(wanted)


def active_company_codes(postgres: PostgresResource) -> list[str]:
    with postgres.connection() as conn:
        codes = [r[0] for r in conn.execute(query("masters/active_codes")).fetchall()]
        conn.rollback()
    return codes


def register_symbols(
    instance: DagsterInstance, active_codes: Iterable[str], universe: Universe | None = None
) -> list[str]:
    """Add the missing scheduled symbols as dynamic partitions; returns the keys added."""
    return add_symbol_partitions(instance, scheduled_symbols(active_codes, universe), universe)


def symbols_set_of(symbol: str, universe: Universe | None = None) -> str:
    """The dynamic partitions set of the family carrying the symbol's base (an intraday base:
    `symbols`; D1, W1, MN1: `daily_symbols`). A symbol the universe cannot resolve goes to
    `symbols`, as before families, where raw_bars holds it back with the reason."""
    try:
        return (universe or default_universe()).resolve(symbol).family.symbols_set
    except UnknownSymbolError:
        return SYMBOLS_PARTITIONS


def add_symbol_partitions(
    instance: DagsterInstance, symbols: Iterable[str], universe: Universe | None = None
) -> list[str]:
    """Add each symbol that is not yet a partition of its family's set (`symbols_set_of`), in
    the order given (Dagster orders dynamic keys by registration); returns the keys added."""
    u = universe or default_universe()
    by_set: dict[str, list[str]] = {}
    for symbol in dict.fromkeys(symbols):
        by_set.setdefault(symbols_set_of(symbol, u), []).append(symbol)
    added: list[str] = []
    for name, wanted in by_set.items():
        have = set(instance.get_dynamic_partitions(name))
        new = [s for s in wanted if s not in have]
        if new:
            instance.add_dynamic_partitions(name, new)
        added.extend(new)
    return added
