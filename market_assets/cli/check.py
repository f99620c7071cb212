"""`market-assets check`: the asset checks of a partition range, from the shell (CI).

Dagster has no command that runs asset checks for a partition range, so this one evaluates the
same checks (market_assets.quality.evaluation) against the configured stores, prints a summary,
writes JUnit XML when asked, and exits 1 on any failure.

Freshness is evaluated as of the end of the range (23:59:59 UTC of END) unless `--as-of` says
otherwise (`--as-of now` for the live state): a historical range then checks its own newest
session, and a CI run over yesterday's seeded sessions does not depend on the hour it runs.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from market_assets.core import names
from market_assets.quality.evaluation import CheckOutcome

console = Console()


def run_checks(
    start: dt.date, end: dt.date, symbols: list[str] | None, as_of: dt.datetime | None = None
) -> list[CheckOutcome]:
    from market_assets.composition import postgres_resource, redis_resource, s3_resource
    from market_assets.core.calendars import sessions_in_range
    from market_assets.core.partition_keys import BarPartition
    from market_assets.core.universe import default_universe
    from market_assets.quality import evaluation as ev
    from market_assets.quality.freshness import check_freshness, market_symbols

    universe = default_universe()
    chosen = symbols or universe.symbols(active_only=True)
    parts = [
        BarPartition(day, symbol)
        for symbol in chosen
        for day in sessions_in_range(universe.resolve(symbol).calendar, start, end)
    ]
    postgres, redis, s3 = (
        postgres_resource("writer", live=True),
        redis_resource(live=True),
        s3_resource(live=True),
    )
    try:
        batch = ev.load_batch(s3, parts)
        outcomes = [
            ev.check_contract(batch),
            ev.check_ohlc_sanity(batch),
            ev.check_unique(batch),
            ev.check_continuity(batch),
            ev.check_row_counts(batch),
            ev.check_expectation_suite(batch, s3, "cli"),
            ev.check_s3_db_reconciliation(batch, postgres),
            ev.check_d1_rollup(batch.parts, postgres),
            ev.check_h1_rollup(batch.parts, postgres),
            ev.check_snapshot_reconciliation(chosen, postgres, redis),
        ]
        moment = as_of or dt.datetime.combine(end, dt.time(23, 59, 59), dt.UTC)
        for deadline in universe.quality.deadlines.values():
            in_market = market_symbols(chosen, deadline.calendar)
            if in_market:
                outcomes.append(check_freshness(postgres, deadline, in_market, moment))
        if batch.missing_objects:
            outcomes.append(
                CheckOutcome(
                    names.RAW_BARS,
                    "partitions_present",
                    False,
                    {"missing": len(batch.missing_objects)},
                    [
                        f"{p.symbol} {p.session_date}: no object in S3"
                        for p in batch.missing_objects
                    ],
                )
            )
        ev.record_metrics(postgres, outcomes, "cli", parts)
        return outcomes
    finally:
        postgres.close()
        redis.close()


def _moment(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    if value == "now":
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--as-of: not an ISO time or 'now': {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("--as-of needs a time zone (e.g. 2024-03-12T17:00+09:00)")
    return moment


def write_junit(outcomes: list[CheckOutcome], path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="market-assets checks",
        tests=str(len(outcomes)),
        failures=str(sum(not o.passed for o in outcomes)),
    )
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=o.asset, name=o.name)
        if not o.passed:
            failure = ET.SubElement(case, "failure", message=o.describe()[:500], type=o.severity)
            failure.text = "\n".join(o.failures)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def check(
    start: Annotated[str, typer.Option(help="First session date (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Last session date, inclusive.")],
    symbols: Annotated[
        list[str] | None, typer.Option("--symbols", "-s", help="Symbols (default: universe).")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Freshness as of this ISO time, or 'now' (default: end of END, UTC)."),
    ] = None,
) -> None:
    """Run the asset checks of the sessions from START to END (inclusive) x symbols; exit 1 on
    any failure."""
    outcomes = run_checks(
        dt.date.fromisoformat(start), dt.date.fromisoformat(end), symbols, _moment(as_of)
    )
    table = Table("asset", "check", "result", "figures", "first failures")
    for o in outcomes:
        figures = ", ".join(f"{k}={v}" for k, v in o.figures.items())
        mark = "[green]pass[/]" if o.passed else f"[red]FAIL ({o.severity})[/]"
        table.add_row(o.asset, o.name, mark, figures, o.describe()[:120])
    console.print(table)
    if junit:
        write_junit(outcomes, junit)
    failed = [o for o in outcomes if not o.passed]
    console.print(f"{len(outcomes) - len(failed)} of {len(outcomes)} checks passed")
    if failed:
        raise typer.Exit(1)
