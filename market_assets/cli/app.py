"""`market-assets`: the operator's command line (typer + rich)."""

from __future__ import annotations

import typer

from market_assets.cli import bars as bars_cli
from market_assets.cli import check as check_cli
from market_assets.cli import companies as companies_cli
from market_assets.cli import db as db_cli
from market_assets.cli import dev as dev_cli
from market_assets.cli import doctor as doctor_cli
from market_assets.cli import operations as operations_cli

app = typer.Typer(
    name="market-assets",
    help="Market data assets: embedded stack, migrations, reads, checks and backfills.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.add_typer(db_cli.app, name="db")
app.add_typer(companies_cli.app, name="companies")
app.command("doctor")(doctor_cli.doctor)
app.command("dev")(dev_cli.dev)
app.command("stack-run")(dev_cli.stack_run)
app.command("bars")(bars_cli.bars)
app.command("check")(check_cli.check)
app.command("backfill")(operations_cli.backfill)
app.command("rebuild")(operations_cli.rebuild)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
