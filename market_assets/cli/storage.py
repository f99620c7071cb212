"""`market-assets storage migrate-layout`: what is stored, moved to the current layout.

The logic is market_assets/operations/layout_migration.py; this prints its plan or summary.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    help="S3 storage: move stored objects to the current layout.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(soft_wrap=True)


@app.command("migrate-layout")
def migrate_layout(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would move; change nothing.")
    ] = False,
    symbol: Annotated[
        list[str] | None,
        typer.Option("--symbol", "-s", help="Only this symbol (repeatable; default: all)."),
    ] = None,
) -> None:
    """Merge the day objects of D1/W1/MN1-base symbols into their daily family's year objects,
    verify, delete them (bucket versioning keeps them), and record the years in Dagster."""
    from dagster import DagsterInstance

    from market_assets.cli.progress import partition_progress
    from market_assets.composition import postgres_resource, s3_resource
    from market_assets.operations.layout_migration import migrate_layout as run

    s3 = s3_resource(live=True)
    if dry_run:
        summary = run(s3, symbols=symbol, dry_run=True)
        for move in summary.moves:
            console.print(
                f"would move {len(move.day_keys)} day objects -> {escape(move.object_key)}"
            )
    else:
        postgres = postgres_resource("writer", live=True)
        try:
            with (
                DagsterInstance.get() as instance,
                partition_progress(console, "migrate-layout") as bar,
            ):
                summary = run(
                    s3, symbols=symbol, postgres=postgres, instance=instance, progress=bar
                )
        finally:
            postgres.close()
    for key in summary.skipped:
        console.print(f"[dim]left alone (no daily-base symbol): {escape(key)}[/]")
    console.print(
        ("dry run: " if dry_run else "")
        + ", ".join(f"{k}={v}" for k, v in summary.figures().items())
    )
