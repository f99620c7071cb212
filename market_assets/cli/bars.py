"""`market-assets bars SYMBOL TIMEFRAME`: read bars through Redis -> database -> S3."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from market_assets.read.reader import BarReader

console = Console()
errors = Console(stderr=True)
DEFAULT_LAST = 20


def _when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _calendar(symbol: str) -> str | None:
    from market_assets.core.universe import default_universe

    try:
        return default_universe().resolve(symbol).calendar
    except LookupError:
        return None  # a symbol outside the universe: bars without session dates


def _write_plot(
    path: Path,
    reader: BarReader,
    frame: pd.DataFrame,
    symbol: str,
    timeframe: str,
    start: str | None,
    end: str | None,
    last: int | None,
    adjusted: bool,
) -> None:
    """The chart of the bars just read (the same page as `market-assets chart`), one file."""
    from market_assets.charts.page import write_standalone
    from market_assets.charts.payload import calendar_of, with_quality
    from market_assets.charts.request import ChartRequest
    from market_assets.core.identifiers import validate_symbol
    from market_assets.core.timeframes import Timeframe

    request = ChartRequest(
        validate_symbol(symbol),
        Timeframe.parse(timeframe),
        _when(start),
        _when(end),
        last,
        adjusted,
    )
    payload = with_quality(reader, frame, request, calendar_of(symbol))
    write_standalone(path, payload)
    errors.print(f"chart written to {path}", style="dim")


def bars(
    symbol: str,
    timeframe: str,
    last: Annotated[
        int | None,
        typer.Option(
            help="The latest N bars (default 20 without --start); with --start, the last N "
            "bars of the window (default: the whole window)."
        ),
    ] = None,
    start: Annotated[str | None, typer.Option(help="From (ISO time, UTC if no offset).")] = None,
    end: Annotated[str | None, typer.Option(help="Until, exclusive.")] = None,
    output: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (rich), csv (header + one bar a line) or json (a list of objects).",
        ),
    ] = "table",
    csv: Annotated[bool, typer.Option(hidden=True, help="Same as --format csv.")] = False,
    adjusted: Annotated[
        bool, typer.Option(help="Split- and dividend-adjusted prices (raw by default).")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also write the bars as a chart (candlesticks, volume, quality strip) to this "
            "self-contained HTML file (opens offline).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Print bars and which store answered (reader role, stores from the environment).

    csv and json have the fields ts (ISO 8601 UTC), session_date, open, high, low, close,
    volume; the summary line then goes to stderr, so stdout holds only the data.
    """
    from market_assets.cli import bar_formats
    from market_assets.core.timeframes import Timeframe
    from market_assets.read.adjusted import read_adjusted
    from market_assets.read.reader import BarReader

    chosen = "csv" if csv else output.lower()
    if chosen not in bar_formats.FORMATS:
        raise typer.BadParameter(
            f"{output!r} is not one of {', '.join(bar_formats.FORMATS)}", param_hint="--format"
        )
    if last is None and start is None:  # `--end T` alone: the 20 bars before T
        last = DEFAULT_LAST
    if plot is not None and plot.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(f"{plot} must end in .html", param_hint="--plot")
    reader = BarReader.from_env()
    try:
        if adjusted:
            tf = Timeframe.parse(timeframe)
            frame = read_adjusted(reader, symbol, tf, _when(start), _when(end), last)
        else:
            frame = reader.get(symbol, timeframe, _when(start), _when(end), last)
        if plot is not None:
            _write_plot(plot, reader, frame, symbol, timeframe, start, end, last, adjusted)
    finally:
        reader.close()
    kind = "adjusted" if adjusted else "raw"
    layer = frame.attrs.get("layer")
    summary = f"{len(frame)} {kind} bars from [bold]{layer}[/]"
    for store, reason in reader.skipped:
        summary += f"\n[yellow]skipped {store}[/]: {escape(reason)}"
    if chosen == "csv":
        typer.echo(bar_formats.to_csv(frame, _calendar(symbol)), nl=False)
        errors.print(summary, style="dim")
        return
    if chosen == "json":
        typer.echo(bar_formats.to_json(frame, _calendar(symbol)), nl=False)
        errors.print(summary, style="dim")
        return
    table = Table("ts (UTC)", "open", "high", "low", "close", "volume")
    for ts, row in frame.iterrows():
        table.add_row(
            str(ts),
            *(f"{row[c]:.6g}" for c in ("open", "high", "low", "close")),
            f"{row['volume']:.0f}",
        )
    console.print(table)
    console.print(summary, style="dim")
