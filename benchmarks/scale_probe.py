"""In-process measurements of the scale benchmark, each in a fresh interpreter.

`python -m benchmarks.scale_probe COMMAND ...` prints one JSON object on stdout. It runs
against the Dagster instance of DAGSTER_HOME (the dev stack's dagster-postgres instance) and
the stores of the environment, with the scenario's MARKET_ASSETS_UNIVERSE / _DAILY_START /
_INTRADAY_START set by the caller. A subprocess, because the families (and so the partitions
definitions) are fixed when market_assets.defs is first imported: a benchmark process that
imported them earlier with other starts would measure the wrong definitions.

Commands:

* `sync PATH`: the company master sync as `market-assets dev` runs it
  (operations.seed.sync_company_master: `materialize` of the master assets, the code tables
  then `companies`, which registers each active company in its family's symbols set) with
  the master source reading the listed/info file PATH (`sample_path`).
* `keys`: every partitioned asset's partition keys from the loaded definitions and the
  registered dynamic partitions (`get_num_partitions` and the enumerated `get_partition_keys`,
  timed), with each family's start and symbols.
* `tick N`: N evaluations of every asset's automation condition the way the automation
  condition sensor's daemon tick does (Dagster's AutomationConditionEvaluator through
  `evaluate_automation_conditions`, the cursor carried from tick to tick), timed.
* `schedule NAME ISO_DATETIME`: the schedule's own evaluation (`build_schedule_context` with
  the scheduled execution time, the `postgres` resource) and its run requests.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any


def _instance() -> Any:
    from dagster import DagsterInstance

    return DagsterInstance.get()


def sync(path: str) -> dict[str, Any]:
    from dagster import materialize

    from market_assets.composition import definitions_resources
    from market_assets.defs.masters.assets import MASTER_ASSETS
    from market_assets.operations.backfill import console_run_config
    from resources.masters.resource import MasterSourceResource

    resources = {
        **definitions_resources(),
        "master_source": MasterSourceResource(kind="sample", sample_path=path),
    }
    with _instance() as instance:
        start = time.perf_counter()
        result = materialize(
            MASTER_ASSETS,
            instance=instance,
            resources=resources,
            run_config=console_run_config(),
            raise_on_error=False,
        )
        seconds = time.perf_counter() - start
        meta: dict[str, Any] = {}
        for event in result.asset_materializations_for_node("companies"):
            meta = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
        return {
            "success": result.success,
            "seconds": seconds,
            "source_rows": meta.get("source_rows"),
            "new": meta.get("new"),
            "quarantined": meta.get("quarantined"),
            "active_companies": meta.get("active_companies"),
            "symbols_added": len(meta.get("symbols_added") or []),
            "source": meta.get("source"),
        }


def keys() -> dict[str, Any]:
    import datetime as dt

    from dagster._core.definitions.partitions.context import partition_loading_context

    from market_assets.core.families import families
    from market_assets.core.universe import default_universe
    from market_assets.definitions import defs

    out: dict[str, Any] = {"assets": {}, "families": {}}
    today = dt.datetime.now(dt.UTC).date()
    year_ago = today - dt.timedelta(days=365)
    with _instance() as instance:
        for family in (*families(), *default_universe().families):
            date_keys = family.date_keys(today)
            out["families"][family.name] = {
                "grain": family.grain.value,
                "days": family.days.value,
                "start": family.start.isoformat(),
                "symbols_set": family.symbols_set,
                "symbols": len(instance.get_dynamic_partitions(family.symbols_set)),
                # The family's own count (weekdays, a pinned calendar's sessions, months).
                "keys_per_symbol": len(date_keys),
                "keys_per_symbol_year": sum(1 for k in date_keys if family.period(k)[0] > year_ago),
            }
        graph = defs.resolve_asset_graph()
        for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
            partitions = graph.get(key).partitions_def
            if partitions is None:
                continue
            with partition_loading_context(dynamic_partitions_store=instance):
                count = partitions.get_num_partitions()
            start = time.perf_counter()
            listed = len(partitions.get_partition_keys(dynamic_partitions_store=instance))
            out["assets"][key.to_user_string()] = {
                "keys": count,
                "enumerated_keys": listed,
                "enumerate_s": time.perf_counter() - start,
                # The dimensions' own names (the symbols dimension's dynamic set: `symbols`
                # or `daily_symbols`), to tell the asset's family.
                "dimensions": [
                    getattr(d.partitions_def, "name", None) or d.name
                    for d in getattr(partitions, "partitions_defs", [])  # multi-partitions
                ],
            }
    return out


def tick(count: int) -> dict[str, Any]:
    from dagster import evaluate_automation_conditions
    from dagster._serdes import serialize_value

    from market_assets.definitions import defs

    seconds: list[float] = []
    requested: list[int] = []
    cursor = None
    with _instance() as instance:
        for _ in range(count):
            start = time.perf_counter()
            result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            seconds.append(time.perf_counter() - start)
            requested.append(int(result.total_requested))
            cursor = result.cursor
    return {
        "seconds": seconds,
        "requested": requested,
        "cursor_bytes": len(serialize_value(cursor)) if cursor is not None else None,
    }


def schedule(name: str, when: str) -> dict[str, Any]:
    from dagster import RunRequest, build_schedule_context

    from market_assets.composition import postgres_resource
    from market_assets.definitions import defs

    scheduled = dt.datetime.fromisoformat(when)
    definition = defs.resolve_schedule_def(name)
    with _instance() as instance:
        start = time.perf_counter()
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=scheduled,
            resources={"postgres": postgres_resource()},
        ) as context:
            data = definition.evaluate_tick(context)
        seconds = time.perf_counter() - start
    requests = [r for r in data.run_requests or [] if isinstance(r, RunRequest)]
    return {
        "seconds": seconds,
        "job": definition.job_name,
        "skip": data.skip_message,
        "requests": [{"run_key": r.run_key, "tags": dict(r.tags)} for r in requests],
    }


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "sync":
        out = sync(args[0])
    elif command == "keys":
        out = keys()
    elif command == "tick":
        out = tick(int(args[0]))
    elif command == "schedule":
        out = schedule(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {command!r}")
    real = sys.__stdout__
    assert real is not None
    real.write("\n" + json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
