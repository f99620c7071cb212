"""`market-assets dev`: the whole stack and the Dagster UI, with one command."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console

from market_assets.core import settings as s
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.devstack.process import ManagedServer
from market_assets.devstack.supervisor import Supervisor

console = Console()
errors = Console(stderr=True)


def dev(
    port: Annotated[int, typer.Option(help="Dagster webserver port.")] = 3000,
    host: Annotated[str, typer.Option(help="Webserver bind address.")] = "127.0.0.1",
    seed_days: Annotated[
        int, typer.Option(help="Recent days to materialise on first start (0: none).")
    ] = 5,
    ui: Annotated[bool, typer.Option(help="Start the Dagster UI (off: servers only).")] = True,
    chart_port: Annotated[
        int, typer.Option(help="Port of the chart page (`market-assets chart`; 0: off).")
    ] = 8050,
) -> None:
    """Start PostgreSQL, Valkey and SeaweedFS (unless the environment names servers), apply
    the migrations, seed recent data, serve the chart page and run the Dagster webserver and
    daemon; Ctrl-C stops all.
    """
    from market_assets.devstack.environment import stack_environment

    state = s.state_dir()
    state.mkdir(parents=True, exist_ok=True)
    console.print(f"state folder: {state}")
    with stack_environment(state) as env:
        env.apply()
        dagster_home = prepare_dagster_home(state)
        for name in env.started:
            console.print(f"[green]started[/] embedded {name}")
        console.print(f"database dialect: {env.dialect}")
        _seed(dagster_home, seed_days)
        with _supervised(env.servers), _chart_server(host, chart_port):
            if not ui:
                console.print("servers are up; press Ctrl-C to stop")
                _wait_forever()
                return
            _run_dagster(dagster_home, host, port)


def _supervised(servers: list[ManagedServer]) -> Supervisor:
    """Watch the embedded servers: a dead one is named and restarted; after repeated failures
    the whole stack stops (SIGTERM to ourselves unwinds it like Ctrl-C)."""

    def report(message: str) -> None:
        errors.print(f"[yellow]stack:[/] {message}")

    def give_up(message: str) -> None:
        errors.print(f"[red]stack stopped:[/] {message}")
        os.kill(os.getpid(), signal.SIGTERM)

    return Supervisor(servers, report, give_up)


@contextlib.contextmanager
def _chart_server(host: str, port: int) -> Iterator[None]:
    """The chart page beside the UI (reader role), in a thread of this process; a port that
    is taken costs the charts, not the stack (`market-assets chart --port N` still works)."""
    if port == 0:
        yield
        return
    from market_assets.cli.chart import start_chart_server

    try:
        server, source = start_chart_server(host, port)
    except OSError as exc:
        errors.print(f"[yellow]charts not served on {host}:{port}[/]: {exc}")
        yield
        return
    server.start_background()
    console.print(f"charts on {server.url} (or `market-assets chart` in another terminal)")
    try:
        yield
    finally:
        server.stop()
        source.close()


def stack_run(
    command: Annotated[list[str], typer.Argument(help="The command to run inside the stack.")],
    seed_days: Annotated[int, typer.Option(help="Recent days to materialise first.")] = 0,
) -> None:
    """Start the stack (as `dev` does, without the UI), run COMMAND with its environment, stop
    everything and exit with COMMAND's status: `market-assets stack-run -- market-assets check ...`.

    When a stack already runs on the state folder (`dev` in another terminal), COMMAND runs
    inside that one, with its environment (nothing is started, seeded or stopped).
    """
    from market_assets.devstack.discovery import apply_running_stack, stack_owner_pid
    from market_assets.devstack.environment import stack_environment

    state = s.state_dir()
    joined = dict(os.environ)
    if apply_running_stack(state, "all", joined) is not None:
        errors.print(
            f"using the dev stack already running on {state} (pid {stack_owner_pid(state)})",
            style="dim",
        )
        raise typer.Exit(subprocess.call(command, env=joined))
    state.mkdir(parents=True, exist_ok=True)
    with stack_environment(state) as env:
        env.apply()
        dagster_home = prepare_dagster_home(state)
        _seed(dagster_home, seed_days)
        code = subprocess.call(command, env=os.environ.copy())
    raise typer.Exit(code)


def prepare_dagster_home(state: os.PathLike[str] | str) -> str:
    """DAGSTER_HOME with the project's dagster.yaml (runs and events in PostgreSQL)."""
    home = os.environ.get(s.DAGSTER_HOME) or os.path.join(state, "dagster_home")
    os.makedirs(home, exist_ok=True)
    shutil.copyfile(s.PROJECT_ROOT / "dagster.yaml", os.path.join(home, "dagster.yaml"))
    os.environ[s.DAGSTER_HOME] = home
    return home


def _seed(dagster_home: str, days: int) -> None:
    from dagster import DagsterInstance

    from market_assets.cli.code_location import master_assets, ohlcv_assets
    from market_assets.cli.progress import partition_progress
    from market_assets.operations.seed import (
        register_universe_symbols,
        seed_recent_sessions,
        sync_company_master,
    )

    with DagsterInstance.get() as instance:
        fresh = not instance.get_dynamic_partitions(SYMBOLS_PARTITIONS)
        register_universe_symbols(instance)
        if fresh and days > 0:
            console.print(f"seeding the last {days} days for every universe symbol ...")
            with partition_progress(console, "seeding") as bar:
                ok = seed_recent_sessions(instance, ohlcv_assets(), days, progress=bar)
            console.print("[green]seeded[/]" if ok else "[red]seeding failed[/] (see the UI)")
        if fresh:
            ok = sync_company_master(instance, master_assets())
            console.print("[green]company master synced[/]" if ok else "[red]master sync failed[/]")


def dagster_dev_command(host: str, port: int) -> list[str]:
    """`dg dev` (webserver and daemon) on the project's workspace (the workspace file names
    its own working directory, so any folder will do). With `-w` it runs Dagster's own dev
    server directly (`dagster dev` is superseded by it); the daemon-path benchmark starts the
    same command, so it measures this."""
    return [
        sys.executable,
        "-c",
        "import sys; from dagster_dg_cli.cli import main; sys.argv[0] = 'dg'; sys.exit(main())",
        "dev",
        "-w",
        str(s.PROJECT_ROOT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]


def _run_dagster(dagster_home: str, host: str, port: int) -> None:
    command = dagster_dev_command(host, port)
    console.print(f"Dagster UI on http://{host}:{port} (Ctrl-C stops everything)")
    _install_stop_handlers()
    from market_assets.devstack.process import parent_death_signal

    # Its own process group: whatever `dagster dev` starts (webserver, daemon, gRPC code
    # servers, run workers) stays in it even when orphaned, so one killpg sweeps it all. The
    # working folder is DAGSTER_HOME, so Dagster does not warn about the project's dagster.yaml
    # (the workspace file names its own working directory).
    death_signal = parent_death_signal(signal.SIGINT)

    def child_setup() -> None:
        # Started from a background shell we ignore SIGINT, and a child would inherit that:
        # `dagster dev` maps SIGTERM to its SIGINT handler, so it could not be stopped at all.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if death_signal is not None:
            death_signal()

    child = subprocess.Popen(
        command,
        cwd=dagster_home,
        env=os.environ.copy(),
        start_new_session=True,
        preexec_fn=child_setup,
    )
    try:
        child.wait()
    except BaseException:
        # Ctrl-C, or SIGTERM turned into SystemExit by the stack: stop the UI and the daemon
        # (SIGINT lets `dagster dev` shut its own children down) before the servers go.
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
        if not isinstance(sys.exc_info()[1], KeyboardInterrupt):
            raise
    finally:
        _sweep_process_group(child.pid)


def _sweep_process_group(pgid: int) -> None:
    """Stop what `dagster dev` left behind in its group (a gRPC code server orphaned by a
    crash kept running before): SIGTERM, a grace period, then SIGKILL."""
    import time

    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _stop_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _install_stop_handlers() -> None:
    """Ctrl-C and SIGTERM must stop everything. A Dagster run in this process (the seeding)
    leaves SIGTERM ignored, and a shell starting us in the background ignores SIGINT, so the
    handlers are set again here, just before waiting."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_signal)


def _wait_forever() -> None:
    _install_stop_handlers()
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
