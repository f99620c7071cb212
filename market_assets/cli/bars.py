"""`market-assets bars SYMBOL TIMEFRAME`: read bars through Redis -> database -> S3."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def bars(
    symbol: str,
    timeframe: str,
    last: Annotated[int | None, typer.Option(help="The latest N bars.")] = 20,
    start: Annotated[str | None, typer.Option(help="From (ISO time, UTC if no offset).")] = None,
    end: Annotated[str | None, typer.Option(help="Until, exclusive.")] = None,
    csv: Annotated[bool, typer.Option(help="Print CSV instead of a table.")] = False,
    adjusted: Annotated[
        bool, typer.Option(help="Split- and dividend-adjusted prices (raw by default).")
    ] = False,
) -> None:
    """Print bars and which store answered (reader role, stores from the environment)."""
    from market_assets.core.timeframes import Timeframe
    from market_assets.read.adjusted import read_adjusted
    from market_assets.read.reader import BarReader

    reader = BarReader.from_env()
    try:
        if adjusted:
            tf = Timeframe.parse(timeframe)
            frame = read_adjusted(reader, symbol, tf, _when(start), _when(end), last)
        else:
            frame = reader.get(symbol, timeframe, _when(start), _when(end), last)
    finally:
        reader.close()
    if csv:
        typer.echo(frame.to_csv())
    else:
        table = Table("ts (UTC)", "open", "high", "low", "close", "volume")
        for ts, row in frame.iterrows():
            table.add_row(
                str(ts),
                *(f"{row[c]:.6g}" for c in ("open", "high", "low", "close")),
                f"{row['volume']:.0f}",
            )
        console.print(table)
    kind = "adjusted" if adjusted else "raw"
    layer = frame.attrs.get("layer")
    console.print(f"{len(frame)} {kind} bars from [bold]{layer}[/]", style="dim")
