"""`python -m benchmarks --smoke` runs end to end and speaks the promised JSON.

Timings are never asserted: this machine (and CI's) is shared and noisy, and a benchmark that
misses a target still exits 0 by design. What is checked is the contract other tools rely
on: one JSON object per benchmark on stdout, the same lines in the --json file, the expected
keys and types, and a final summary line.

When the test session uses existing servers (``MARKET_ASSETS_TEST_*``), the benchmarks are
pointed at the same ones (``MARKET_ASSETS_BENCH_*``), so the second pass of scripts/test.sh
exercises them against PostgreSQL 15 and Redis 7 too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import RESULT_KEYS
from benchmarks.__main__ import BENCHMARKS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
TARGET_KEYS = {"name", "value", "op", "threshold", "unit", "met"}
SUMMARY_KEYS = {
    "summary",
    "mode",
    "benchmarks",
    "errors",
    "targets_met",
    "targets_total",
    "all_targets_met",
    "missed",
    "elapsed_s",
    "environment",
    "exit_code",
}
ENV_MAP = {
    "MARKET_ASSETS_TEST_PG_ADMIN_URL": "MARKET_ASSETS_BENCH_PG_ADMIN_URL",
    "MARKET_ASSETS_TEST_REDIS_URL": "MARKET_ASSETS_BENCH_REDIS_URL",
    "MARKET_ASSETS_TEST_S3_ENDPOINT": "MARKET_ASSETS_BENCH_S3_ENDPOINT",
    "MARKET_ASSETS_TEST_S3_ACCESS_KEY": "MARKET_ASSETS_BENCH_S3_ACCESS_KEY",
    "MARKET_ASSETS_TEST_S3_SECRET_KEY": "MARKET_ASSETS_BENCH_S3_SECRET_KEY",
    "MARKET_ASSETS_TEST_S3_REGION": "MARKET_ASSETS_BENCH_S3_REGION",
}


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_ASSETS_BENCH_")}
    for test_name, bench_name in ENV_MAP.items():
        if os.environ.get(test_name):
            env[bench_name] = os.environ[test_name]
    return env


def test_smoke_run_prints_one_json_line_per_benchmark(tmp_path: Path) -> None:
    out_file = tmp_path / "bench.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out_file)],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-6000:]}"

    lines = proc.stdout.splitlines()
    records = [json.loads(line) for line in lines]  # every stdout line is JSON
    assert out_file.read_text().splitlines() == lines

    *benches, summary = records
    assert [r["benchmark"] for r in benches] == list(BENCHMARKS)
    for record in benches:
        assert set(RESULT_KEYS) <= record.keys(), record["benchmark"]
        assert "error" not in record, record.get("error")
        assert record["mode"] == "smoke"
        assert isinstance(record["target_met"], bool)
        assert record["targets"], f"{record['benchmark']} states no target"
        for target in record["targets"]:
            assert TARGET_KEYS <= target.keys()
            assert isinstance(target["met"], bool)
        assert record["target_met"] == all(t["met"] for t in record["targets"])
        assert record["metrics"] and record["baseline"] and record["ratios"]
        assert isinstance(record["repeats"], int) and record["repeats"] >= 1
        assert isinstance(record["elapsed_s"], int | float)

    assert SUMMARY_KEYS <= summary.keys()
    assert summary["summary"] is True and summary["mode"] == "smoke"
    assert summary["errors"] == [] and summary["exit_code"] == 0
    assert summary["benchmarks"] == list(BENCHMARKS)
    assert summary["targets_total"] == sum(len(r["targets"]) for r in benches)
    assert summary["targets_met"] == sum(t["met"] for r in benches for t in r["targets"])

    backfill = next(r for r in benches if r["benchmark"] == "backfill")
    assert [row["scale"] for row in backfill["scaling"]] == ["1x", "4x", "16x"]

    # The ADBC peer ran in the same run, as the pipeline's role, beside the baseline.
    upsert = next(r for r in benches if r["benchmark"] == "upsert")
    assert upsert["params"]["peer_role"] == "ma_writer"
    assert upsert["peer"]["driver"] == "adbc-driver-postgresql"
    for key in ("rows_per_s", "append_rows_per_s"):
        assert isinstance(upsert["peer"][key], float)
    assert {"vs_adbc_upsert", "vs_adbc_append"} <= upsert["ratios"].keys()

    # The chart page beside its plotly.js peer (the bench extra): the same candles drawn.
    chart = next(r for r in benches if r["benchmark"] == "chart")
    assert chart["peer"]["candles_drawn"] == chart["metrics"]["candles_drawn"]
    assert chart["metrics"]["library_bytes"] < chart["peer"]["library_bytes"]
    assert {"project_vs_plotly_peer_cold", "project_vs_plotly_peer_warm"} <= chart["ratios"].keys()

    # The UI's backfill through the daemon: one run per symbol (Dagster 1.13 fixes the
    # dimension with fewer selected values), the same bars as the in-process peer, and
    # nothing of its dev stack (servers, webserver, daemon, code servers, workers) left alive.
    daemon = next(r for r in benches if r["benchmark"] == "daemon_backfill")
    symbols, partitions = daemon["params"]["symbols"], daemon["params"]["partitions"]
    assert daemon["metrics"]["runs"] == len(symbols) == len(daemon["metrics"]["per_run"])
    assert sum(run["partitions"] for run in daemon["metrics"]["per_run"]) == partitions
    assert daemon["metrics"]["rows"] == daemon["baseline"]["rows"] > 0
    assert daemon["metrics"]["events"] > 0
    assert daemon["params"]["leftover_processes"] == []

    # The scale scenario: the synthetic master synced whole (nothing quarantined), every
    # company registered in the daily family's set, each asset's keys from the definitions
    # equal to the family arithmetic, and nothing of its dev stack left alive.
    scale = next(r for r in benches if r["benchmark"] == "scale")
    companies = scale["params"]["companies"]
    sync = scale["metrics"]["master_sync"]
    assert sync["success"] and sync["quarantined"] == 0
    assert sync["active_companies"] == companies == scale["metrics"]["daily_symbols"]
    assert scale["baseline"]["daily_symbols"] == scale["params"]["baseline_companies"] < companies
    keys = scale["metrics"]["partition_keys"]
    assert {"raw_bars", "daily_raw_bars"} <= keys.keys()
    for row in keys.values():
        assert row["keys"] == row["arithmetic_keys"] == row["enumerated_keys"]
    assert keys["daily_raw_bars"]["symbols"] == companies
    assert scale["metrics"]["daily_run"]["finished"] is True
    assert scale["metrics"]["launch_to_first_run"]["partitions"] == companies
    assert scale["params"]["leftover_processes"] == []


def test_only_runs_the_named_benchmark_and_unknown_names_are_refused() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope"],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2 and "invalid choice" in refused.stderr
    assert refused.stdout == ""
