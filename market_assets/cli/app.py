"""`market-assets`: the operator's command line (typer + rich).

Two things happen for every command, here rather than in each one:

* when no store URL is in the environment and a dev stack runs on the state folder
  (`MARKET_ASSETS_HOME`, another terminal's `market-assets dev`), its stores are used, with the
  database role the command needs (market_assets/devstack/discovery.py);
* an error ends the command with one line on stderr and exit status 1; `--debug` shows the
  traceback instead (tracebacks may quote data, and rarely help an operator).
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from market_assets.cli import bars as bars_cli
from market_assets.cli import chart as chart_cli
from market_assets.cli import check as check_cli
from market_assets.cli import companies as companies_cli
from market_assets.cli import db as db_cli
from market_assets.cli import dev as dev_cli
from market_assets.cli import doctor as doctor_cli
from market_assets.cli import env as env_cli
from market_assets.cli import landing as landing_cli
from market_assets.cli import operations as operations_cli
from market_assets.cli import storage as storage_cli
from market_assets.core import settings as s
from market_assets.devstack.discovery import StackRole, apply_running_stack

app = typer.Typer(
    name="market-assets",
    help="Market data assets: embedded stack, migrations, reads, checks and backfills.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.add_typer(db_cli.app, name="db")
app.add_typer(companies_cli.app, name="companies")
app.add_typer(landing_cli.app, name="landing")
app.add_typer(storage_cli.app, name="storage")
app.command("doctor")(doctor_cli.doctor)
app.command("dev")(dev_cli.dev)
app.command("stack-run")(dev_cli.stack_run)
app.command("bars")(bars_cli.bars)
app.command("chart")(chart_cli.chart)
app.command("check")(check_cli.check)
app.command("backfill")(operations_cli.backfill)
app.command("rebuild")(operations_cli.rebuild)
app.command("env")(env_cli.env)

#: The database role each command gets from a running dev stack. `dev` and `stack-run` are
#: absent: they start a stack (stack-run joins a running one itself, with every role).
COMMAND_ROLES: dict[str, StackRole] = {
    "bars": "reader",
    "chart": "reader",
    "companies": "reader",
    "doctor": "reader",
    "env": "reader",  # `env --owner` asks for the owner itself
    "check": "writer",  # records its results in data_quality_metrics
    "backfill": "writer",
    "rebuild": "writer",
    "landing": "writer",  # writes the ledger, runs in the stack's instance
    "storage": "writer",  # rewrites S3 objects, records materializations in the instance
    "db": "owner",
}


@dataclass
class CliState:
    """What the global options and the stack discovery decided, for the commands (ctx.obj)."""

    debug: bool = False
    stack_found: bool = False


_state = CliState()


@app.callback()
def _global(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show the traceback, not one line.")
    ] = False,
) -> None:
    """Market data assets: embedded stack, migrations, reads, checks and backfills."""
    _state.debug = debug
    ctx.obj = _state
    _configure_logging(debug)
    role = COMMAND_ROLES.get(ctx.invoked_subcommand or "")
    if role is not None:
        _state.stack_found = apply_running_stack(s.state_dir(), role) is not None


def _configure_logging(debug: bool) -> None:
    """Quiet by default: a skipped store is reported by the command itself (bars' summary
    line, or its one-line error), and the pool's reconnect chatter repeats that error.
    `--debug` shows every warning, with the logger's name."""
    if debug:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    logging.getLogger("market_assets.read").setLevel(logging.ERROR)


_SECRET_PATTERNS = (
    (re.compile(r"(\w[\w+.-]*://[^:/@\s]*):[^@\s]*@"), r"\1:***@"),  # scheme://user:pw@
    (re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE), r"\1***"),  # conninfo
)


def error_line(exc: BaseException) -> str:
    """One line for an error: its message (with the class when the message alone is unclear),
    whitespace collapsed and anything that looks like a password masked."""
    message = " ".join(str(exc).split())
    if not message or not isinstance(exc, RuntimeError | ValueError | OSError):
        message = f"{type(exc).__name__}: {message}".rstrip(": ")
    for pattern, replacement in _SECRET_PATTERNS:
        message = pattern.sub(replacement, message)
    return message


def main() -> None:
    try:
        app()
    except Exception as exc:  # SystemExit (typer.Exit, usage errors) passes through
        if _state.debug:
            raise
        typer.echo(f"market-assets: error: {error_line(exc)} (--debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
