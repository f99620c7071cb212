"""`market-assets`: the operator's command line (typer + rich)."""

from __future__ import annotations

import typer

from market_assets.cli import bars as bars_cli
from market_assets.cli import check as check_cli
from market_assets.cli import db as db_cli
from market_assets.cli import dev as dev_cli
from market_assets.cli import doctor as doctor_cli

app = typer.Typer(
    name="market-assets",
    help="Market data assets: embedded stack, migrations, reads, checks and backfills.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.add_typer(db_cli.app, name="db")
app.command("doctor")(doctor_cli.doctor)
app.command("dev")(dev_cli.dev)
app.command("stack-run")(dev_cli.stack_run)
app.command("bars")(bars_cli.bars)
app.command("check")(check_cli.check)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
