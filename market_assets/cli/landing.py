"""`market-assets landing list | retry KEY | process`: the landing ledger from a terminal.

`list` shows every file version the ledger holds (and the versions still pending, which the
ledger has not recorded), newest first; `retry KEY` scans a rejected file again with the
current vendor mappings and materialises its partitions when it is readable now; `process`
does what the landing sensor does, now. The runs are recorded in the Dagster instance like
any run; the ledger is written as the writer role.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="Landing files: list the ledger, retry a rejected file, process pending files.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
# Lines are never wrapped (soft_wrap): keys and reasons stay whole for grep and for scripts.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

FIELDS = ("file", "etag", "vendor", "status", "rows", "unassigned", "error", "first_seen")
FORMATS = ("table", "csv", "json")
PENDING = "pending"


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _records(status: str | None, limit: int) -> list[dict[str, Any]]:
    from market_assets.composition import landing_store, postgres_resource
    from market_assets.ohlcv.landing_ledger import discover_new_files, list_files

    postgres = postgres_resource("writer", live=True)
    try:
        records: list[dict[str, Any]] = []
        if status in (None, PENDING):
            pending = sorted(
                discover_new_files(landing_store(), postgres),
                key=lambda f: (f.last_modified, f.key),
                reverse=True,
            )
            records += [
                dict(
                    zip(
                        FIELDS,
                        (f.key, f.etag, f.vendor, PENDING, None, None, None, None),
                        strict=True,
                    )
                )
                for f in pending[:limit]
            ]
        if status != PENDING:
            for e in list_files(postgres, status, max(0, limit - len(records))):
                values = (e.file_key, e.etag, e.vendor, e.status, e.rows_total)
                values += (e.rows_unassigned, e.error, _iso(e.first_seen))
                records.append(dict(zip(FIELDS, values, strict=True)))
    finally:
        postgres.close()
    return records


def _to_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in records:
        writer.writerow(["" if r[f] is None else r[f] for f in FIELDS])
    return out.getvalue()


@app.command("list")
def list_command(
    status: Annotated[
        str | None,
        typer.Option(
            help="Only this status: pending, discovered, processing, processed, rejected."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N versions.")] = 100,
    output: Annotated[
        str, typer.Option("--format", help="table (rich), csv (header + one file a line) or json.")
    ] = "table",
) -> None:
    """File versions, newest first: pending (not yet in the ledger) first, then the ledger's.

    rows is the file's row count, unassigned the rows no partition could take (quarantined
    when the version was recorded), first_seen when the ledger recorded it (UTC).
    """
    from market_assets.ohlcv.landing_ledger import STATUSES

    chosen = output.lower()
    if chosen not in FORMATS:
        raise typer.BadParameter(f"{output!r} is not one of {', '.join(FORMATS)}", "--format")
    if status is not None and status not in (PENDING, *STATUSES):
        raise typer.BadParameter(
            f"{status!r} is not one of {', '.join((PENDING, *STATUSES))}", param_hint="--status"
        )
    records = _records(status, limit)
    if chosen == "csv":
        typer.echo(_to_csv(records), nl=False)
        return
    if chosen == "json":
        typer.echo(json.dumps(records, indent=1, ensure_ascii=False))
        return
    table = Table()
    for name in ("file", "vendor", "status", "rows", "unassigned", "first seen (UTC)", "error"):
        table.add_column(name, overflow="fold")  # a key or a reason is never cut short
    colours = {"rejected": "red", "processed": "green", PENDING: "yellow"}
    for r in records:
        colour = colours.get(r["status"], "white")
        table.add_row(
            escape(r["file"]),
            escape(r["vendor"]),
            f"[{colour}]{r['status']}[/]",
            "" if r["rows"] is None else str(r["rows"]),
            "" if r["unassigned"] is None else str(r["unassigned"]),
            r["first_seen"] or "",
            escape(r["error"] or ""),
        )
    console.print(table)
    console.print(f"{len(records)} file versions", style="dim")


def _print_runs(runs: Any) -> None:
    for symbol, source in sorted(runs.other_sources.items()):
        errors.print(
            f"[yellow]note[/]: {escape(symbol)} takes its bars from its source {source!r}, not "
            "from landing files (universe `source`, or MARKET_ASSETS_SOURCE=landing)"
        )
    for run in runs.runs:
        w = run.window
        mark = "[green]ok[/]" if run.success else "[red]failed[/]"
        console.print(
            f"{mark} {w.start} x {escape(w.first_symbol)}..{escape(w.last_symbol)} "
            f"(run {run.run_id})"
        )
    console.print(f"{len(runs.runs)} runs")


@app.command("retry")
def retry(
    key: Annotated[str, typer.Argument(help="The file's key, e.g. landing/acme/2024-03-11.csv.")],
) -> None:
    """Scan a rejected file again with the current vendor mappings; when it is readable now,
    record it and materialise exactly its partitions. Still malformed: the new reason, one
    line, and exit status 1."""
    from dagster import DagsterInstance

    from market_assets.cli.code_location import (
        daily_assets,
        declared_family_assets,
        ohlcv_assets,
    )
    from market_assets.composition import landing_store, postgres_resource
    from market_assets.operations.landing import retry_file

    postgres = postgres_resource("writer", live=True)
    try:
        with DagsterInstance.get() as instance:
            rescan, runs = retry_file(
                instance,
                ohlcv_assets(),
                landing_store(),
                postgres,
                key,
                daily_assets(),
                declared_family_assets(),
            )
    finally:
        postgres.close()
    was = rescan.previous_status or PENDING
    if rescan.previous_error:
        errors.print(f"was {was}: {escape(rescan.previous_error)}", style="dim")
    if rescan.error is not None:
        typer.echo(f"market-assets: still rejected: {rescan.error}", err=True)
        raise typer.Exit(1)
    console.print(
        f"{escape(key)}: {was} -> processed, {len(rescan.partitions)} partitions, "
        f"{rescan.quarantined} rows quarantined (no partition)"
    )
    _print_runs(runs)
    if not runs.success:
        raise typer.Exit(1)


@app.command("process")
def process() -> None:
    """Process every pending file version now (those the ledger has not recorded), as the
    landing sensor would: one run per session date and block of symbols. Exit status 1 when a
    file was rejected or a run failed."""
    from dagster import DagsterInstance

    from market_assets.cli.code_location import (
        daily_assets,
        declared_family_assets,
        ohlcv_assets,
    )
    from market_assets.composition import landing_store, postgres_resource
    from market_assets.operations.landing import process_pending

    postgres = postgres_resource("writer", live=True)
    try:
        with DagsterInstance.get() as instance:
            claimed, runs = process_pending(
                instance,
                ohlcv_assets(),
                landing_store(),
                postgres,
                daily_assets(),
                declared_family_assets(),
            )
    finally:
        postgres.close()
    for c in claimed:
        if c.error is None:
            console.print(f"processed {escape(c.file.key)}: {len(c.partitions)} partitions")
        else:
            console.print(f"[red]rejected[/] {escape(c.error)}")
    if not claimed:
        console.print("no pending landing files")
    _print_runs(runs)
    if any(c.error is not None for c in claimed) or not runs.success:
        raise typer.Exit(1)
