"""`market-assets backfill` and `market-assets rebuild`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console

console = Console()

SymbolsOpt = Annotated[
    list[str] | None, typer.Option("--symbols", "-s", help="Symbols (default: the universe).")
]


def _symbols(chosen: list[str] | None) -> list[str]:
    from market_assets.core.universe import default_universe

    return chosen or default_universe().symbols(active_only=True)


def backfill(
    start: Annotated[str, typer.Option(help="First session date.")],
    end: Annotated[str, typer.Option(help="Last session date, inclusive.")],
    symbols: SymbolsOpt = None,
    days_per_run: Annotated[int, typer.Option(help="Dates per run.")] = 366,
) -> None:
    """Materialise a range in a few batched runs (recorded in the Dagster instance)."""
    from dagster import DagsterInstance

    from market_assets.cli.code_location import ohlcv_assets
    from market_assets.cli.progress import partition_progress
    from market_assets.operations.backfill import run_backfill

    with DagsterInstance.get() as instance, partition_progress(console, "backfill") as bar:
        outcomes = run_backfill(
            instance,
            ohlcv_assets(),
            dt.date.fromisoformat(start),
            dt.date.fromisoformat(end),
            _symbols(symbols),
            days_per_run,
            progress=bar,
        )
    for window, ok in outcomes:
        mark = "[green]ok[/]" if ok else "[red]failed[/]"
        console.print(
            f"{mark} {window.start}..{window.end} x {window.first_symbol}..{window.last_symbol}"
        )
    console.print(f"{len(outcomes)} runs")
    if not all(ok for _, ok in outcomes):
        raise typer.Exit(1)


def rebuild(
    start: Annotated[str, typer.Option(help="First session date.")],
    end: Annotated[str, typer.Option(help="Last session date, inclusive.")],
    symbols: SymbolsOpt = None,
) -> None:
    """Restore the database and Redis of a range from S3 (the system of record)."""
    from market_assets.cli.progress import partition_progress
    from market_assets.composition import postgres_resource, redis_resource, s3_resource
    from market_assets.operations.rebuild import rebuild as do_rebuild

    postgres, redis = postgres_resource("writer", live=True), redis_resource(live=True)
    try:
        with partition_progress(console, "rebuild") as bar:
            figures = do_rebuild(
                s3_resource(live=True),
                postgres,
                redis,
                dt.date.fromisoformat(start),
                dt.date.fromisoformat(end),
                _symbols(symbols),
                progress=bar,
            )
    finally:
        postgres.close()
        redis.close()
    console.print(", ".join(f"{k}={v}" for k, v in figures.items()))
