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
    days_per_run: Annotated[int, typer.Option(help="Dates per run (--in-process).")] = 366,
    in_process: Annotated[
        bool,
        typer.Option(
            "--in-process",
            help="Run here, outside the daemon and its queue (CI, a machine without a daemon).",
        ),
    ] = False,
    family: Annotated[
        str,
        typer.Option(
            help="Asset family: intraday (M1..H4 bases, by day), daily (D1, W1, MN1 bases, by"
            " year) or one declared in the universe file (`families:`); all but intraday run"
            " here, as with --in-process."
        ),
    ] = "intraday",
) -> None:
    """Backfill a range: submitted to the Dagster daemon like the UI's backfill dialog (its
    queue, limits and retries apply), or run here in a few batched runs with --in-process."""
    from dagster import DagsterInstance

    from market_assets.core.universe import default_universe

    declared = [f.name for f in default_universe().families]
    if family not in ("intraday", "daily", *declared):
        known = ", ".join(["intraday", "daily", *declared])
        raise typer.BadParameter(f"family must be one of {known}, got {family[:20]!r}")
    if family != "intraday":
        _backfill_daily(dt.date.fromisoformat(start), dt.date.fromisoformat(end), symbols, family)
        return
    if not in_process:
        _backfill_through_daemon(
            dt.date.fromisoformat(start), dt.date.fromisoformat(end), _symbols(symbols)
        )
        return

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


def _backfill_daily(
    start: dt.date, end: dt.date, chosen: list[str] | None, name: str = "daily"
) -> None:
    """The daily family's years x symbols (or a declared family's date keys x symbols), in
    this process (the daemon path is intraday's)."""
    from dagster import DagsterInstance

    from market_assets.cli.code_location import daily_assets, declared_family_assets
    from market_assets.cli.progress import partition_progress
    from market_assets.core.families import daily_family
    from market_assets.core.universe import default_universe
    from market_assets.operations.backfill import run_family_backfill

    declared = {f.name: f for f in default_universe().families}
    fam = declared.get(name) or daily_family()
    assets = declared_family_assets()[name] if name in declared else daily_assets()
    with DagsterInstance.get() as instance, partition_progress(console, "backfill") as bar:
        outcomes = run_family_backfill(
            instance, assets, fam, start, end, _symbols(chosen), progress=bar
        )
    for window, ok in outcomes:
        mark = "[green]ok[/]" if ok else "[red]failed[/]"
        console.print(
            f"{mark} {fam.date_key(window.start)}..{fam.date_key(window.end)}"
            f" x {window.first_symbol}..{window.last_symbol}"
        )
    console.print(f"{len(outcomes)} runs")
    if not outcomes:
        console.print(f"no symbol of the {fam.name} family among the chosen ones")
    if not all(ok for _, ok in outcomes):
        raise typer.Exit(1)


def _backfill_through_daemon(start: dt.date, end: dt.date, chosen: list[str]) -> None:
    from dagster import DagsterInstance

    from market_assets.cli.code_location import ohlcv_asset_graph
    from market_assets.cli.progress import partition_progress
    from market_assets.core.names import OHLCV_ASSET_NAMES
    from market_assets.operations.daemon_backfill import (
        daemon_is_live,
        submit_backfill,
        wait_for_backfill,
    )

    with DagsterInstance.get() as instance:
        if not daemon_is_live(instance):
            raise RuntimeError(
                "no Dagster daemon is running for this instance: start `market-assets dev`"
                " (or `dagster-daemon run`), or pass --in-process"
            )
        backfill_id = submit_backfill(
            instance, ohlcv_asset_graph(), OHLCV_ASSET_NAMES, start, end, chosen
        )
        console.print(f"backfill {backfill_id} submitted to the daemon (see the UI's Backfills)")
        with partition_progress(console, "backfill") as bar:
            outcome = wait_for_backfill(instance, backfill_id, bar)
    mark = "[green]ok[/]" if outcome.succeeded else "[red]failed[/]"
    console.print(f"{mark} backfill {backfill_id}: {outcome.status.value}, {outcome.runs} runs")
    if not outcome.succeeded:
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
