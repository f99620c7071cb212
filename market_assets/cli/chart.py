"""`market-assets chart`: candlestick charts of the stored bars in a browser, on localhost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from market_assets.charts.server import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    from market_assets.charts.payload import ChartSource
    from market_assets.charts.server import ChartServer

console = Console()
errors = Console(stderr=True)


def start_chart_server(host: str, port: int) -> tuple[ChartServer, ChartSource]:
    """A ChartServer over a reader of the environment's stores (reader role), not yet serving."""
    from market_assets.charts.payload import ChartSource
    from market_assets.charts.server import ChartServer
    from market_assets.read.reader import BarReader

    source = ChartSource(BarReader.from_env())
    try:
        return ChartServer(source.payload, host, port), source
    except OSError:
        source.close()
        raise


def chart(
    host: Annotated[str, typer.Option(help="Bind address (localhost only by default).")] = (
        DEFAULT_HOST
    ),
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = DEFAULT_PORT,
) -> None:
    """Serve the chart page: pick a symbol, timeframe and range; candlesticks with volume, raw
    or adjusted, the store that answered, read statistics and a data-quality strip. Reads go
    through get_ohlcv's chain (reader role). Ctrl-C stops it."""
    server, source = start_chart_server(host, port)
    console.print(f"charts on [bold]{server.url}[/] (Ctrl-C stops)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        errors.print(f"[yellow]listening on {host}: anyone who reaches it can read the bars[/]")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        source.close()
