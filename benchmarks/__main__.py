"""`python -m benchmarks [--smoke] [--only NAME ...] [--json PATH]`.

Prints one JSON object per benchmark on stdout, then a summary object. Everything else
(Dagster logs, warnings, server output) goes to stderr or the servers' log files: stdout is
rebound to stderr at the file-descriptor level while benchmarks run, so a library that prints
cannot corrupt the machine-readable stream.

Exit status: 0 when every benchmark ran, whether or not its targets were met (a missed target
is a finding, reported as ``"target_met": false``); 1 when a benchmark raised; 2 when the
servers could not be started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from types import FrameType
from typing import IO, Any

from benchmarks import RESULT_KEYS
from benchmarks.stack import BenchStack, Store

# name -> (module, stores it needs); the order is the order of the run.
BENCHMARKS: dict[str, tuple[str, tuple[Store, ...]]] = {
    "upsert": ("benchmarks.upsert", ("postgres",)),
    "latest_bars": ("benchmarks.latest_bars", ("postgres", "redis")),
    "s3_read": ("benchmarks.s3_read", ("s3",)),
    "redis_memory": ("benchmarks.redis_memory", ("redis",)),
    "backfill": ("benchmarks.backfill", ("postgres", "redis", "s3")),
    "chart": ("benchmarks.chart", ("postgres", "redis")),
    "event_log": ("benchmarks.event_log", ("postgres",)),
    # Starts its own `market-assets dev` stack (benchmarks/devsession.py): no shared store.
    "daemon_backfill": ("benchmarks.daemon_backfill", ()),
    # Issue 15's scale scenario, on its own `market-assets dev` stack too.
    "scale": ("benchmarks.scale", ()),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Speed targets of the OHLCV pipeline, each against a naive baseline.",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="small sizes (about a minute): proves it runs"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only these ({', '.join(BENCHMARKS)})",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the JSON lines to PATH")
    return parser.parse_args(argv)


class Emitter:
    """Writes each JSON line to the real stdout (and to --json PATH) as soon as it exists."""

    def __init__(self, stream: IO[str], path: str | None) -> None:
        self.stream: IO[str] | None = stream
        self.file = open(path, "w", encoding="utf-8") if path else None

    def emit(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), allow_nan=False, default=str)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()
        if self.stream is not None:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except BrokenPipeError:  # e.g. `| head -1`: the reader left; keep running
                self.stream = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _claim_stdout() -> IO[str]:
    """A private handle on the real stdout; fd 1 (and sys.stdout) then point at stderr."""
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return real


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with BenchStack` block: servers stop


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def environment(stack: BenchStack | None) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "servers": stack.describe() if stack is not None else None,
    }


def _error_record(name: str, mode: str, exc: BaseException, elapsed: float) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(RESULT_KEYS)
    record.update(
        benchmark=name,
        mode=mode,
        target_met=False,
        targets=[],
        metrics={},
        baseline={},
        ratios={},
        repeats=0,
        params={},
        notes=[],
        elapsed_s=round(elapsed, 2),
        error=f"{type(exc).__name__}: {exc}",
    )
    return record


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    mode = "smoke" if args.smoke else "full"
    out = Emitter(_claim_stdout(), args.json)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.perf_counter()
    stores = {s for n in names for s in BENCHMARKS[n][1]}
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    stack: BenchStack | None = None
    try:
        try:
            stack = BenchStack(stores).__enter__()
        except Exception as exc:
            traceback.print_exc()
            out.emit({"summary": True, "mode": mode, "error": f"servers: {exc}", "exit_code": 2})
            return 2
        try:
            for name in names:
                print(f"[benchmarks] {name} ({mode}) ...", file=sys.stderr, flush=True)
                load_before = _loadavg()
                t0 = time.perf_counter()
                try:
                    module = importlib.import_module(BENCHMARKS[name][0])
                    record = module.run(stack, args.smoke).as_dict()
                except Exception as exc:
                    traceback.print_exc()
                    errors.append(name)
                    record = _error_record(name, mode, exc, time.perf_counter() - t0)
                # Other processes' load is the main source of noise here: say how much there was.
                record["loadavg_1m"] = {"before": load_before, "after": _loadavg()}
                records.append(record)
                out.emit(record)
        finally:
            stack.__exit__(None, None, None)
        targets = [t for r in records for t in r["targets"]]
        code = 1 if errors else 0
        out.emit(
            {
                "summary": True,
                "mode": mode,
                "benchmarks": names,
                "errors": errors,
                "targets_met": sum(1 for t in targets if t["met"]),
                "targets_total": len(targets),
                "all_targets_met": bool(targets) and all(t["met"] for t in targets),
                "missed": [
                    f"{r['benchmark']}: {t['name']}"
                    for r in records
                    for t in r["targets"]
                    if not t["met"]
                ],
                "elapsed_s": round(time.perf_counter() - started, 2),
                "environment": environment(stack),
                "exit_code": code,
            }
        )
        return code
    finally:
        out.close()


if __name__ == "__main__":
    sys.exit(main())
