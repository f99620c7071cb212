"""The code location's definitions, as a reviewed snapshot.

A layout change (moving modules, splitting packages) must not change what Dagster sees: every
asset key, its partitions, group, kinds, code version, automation condition, backfill policy and
checks; every job, schedule and sensor. This test compares a plain description of the loaded
`Definitions` with `tests/snapshots/definitions.json`. A commit that changes a definition on
purpose regenerates the file (`python -m tests.unit.test_definitions_snapshot`) and shows the
difference in review.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "definitions.json"


def _partitions(pdef: Any) -> Any:
    """A partitions definition described by its type and its defining parameters."""
    from dagster import (
        DynamicPartitionsDefinition,
        MultiPartitionsDefinition,
        StaticPartitionsDefinition,
        TimeWindowPartitionsDefinition,
    )

    if pdef is None:
        return None
    if isinstance(pdef, MultiPartitionsDefinition):
        return {
            "type": "multi",
            "dimensions": {d.name: _partitions(d.partitions_def) for d in pdef.partitions_defs},
        }
    if isinstance(pdef, TimeWindowPartitionsDefinition):
        return {
            "type": "time_window",
            "start": pdef.start.isoformat(),
            "end": pdef.end.isoformat() if pdef.end else None,
            "cron": pdef.cron_schedule,
            "timezone": pdef.timezone,
            "fmt": pdef.fmt,
            "end_offset": pdef.end_offset,
            "exclusions": sorted(str(e) for e in (getattr(pdef, "exclusions", None) or [])),
        }
    if isinstance(pdef, DynamicPartitionsDefinition):
        return {"type": "dynamic", "name": pdef.name}
    if isinstance(pdef, StaticPartitionsDefinition):
        return {"type": "static", "keys": pdef.get_partition_keys()}
    return {"type": type(pdef).__name__}


def _backfill_policy(policy: Any) -> Any:
    if policy is None:
        return None
    return {
        "type": policy.policy_type.value,
        "max_partitions_per_run": policy.max_partitions_per_run,
    }


def _automation(condition: Any) -> Any:
    return None if condition is None else _condition_tree(condition)


def _condition_tree(condition: Any) -> Any:
    """The condition's structure: class, label, description and children, recursively."""
    node: dict[str, Any] = {
        "type": type(condition).__name__,
        "label": condition.get_label(),
        "description": condition.description,
    }
    for attr in ("cron_schedule", "cron_timezone", "lookback_delta", "allow_selection"):
        value = getattr(condition, attr, None)
        if value is not None:
            node[attr] = str(value)
    children = list(condition.children)
    if children:
        node["children"] = [_condition_tree(c) for c in children]
    return node


def describe(defs: Any) -> dict[str, Any]:
    """Everything a layout change must leave alone, as JSON-able data."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "partitions": _partitions(node.partitions_def),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "code_version": node.code_version,
            "automation_condition": _automation(node.automation_condition),
            "backfill_policy": _backfill_policy(node.backfill_policy),
            "owners": sorted(node.owners),
            "tags": dict(sorted(node.tags.items())),
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "is_executable": node.is_executable,
            "checks": [
                {"name": ck.name, "blocking": graph.get(ck).blocking}
                for ck in sorted(graph.get_check_keys_for_assets({key}), key=lambda c: c.name)
            ],
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = {
            "partitions": _partitions(job.partitions_def),
            "description": job.description,
        }
    schedules = {
        s.name: {
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "default_status": s.default_status.value,
            "job": s.job_name,
        }
        for s in sorted(defs.schedules or [], key=lambda s: s.name)
    }
    sensors = {
        s.name: {
            "type": type(s).__name__,
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default_status": s.default_status.value,
        }
        for s in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": sorted((defs.resources or {}).keys()),
        "executor": defs.executor.name if defs.executor else None,
    }


def current() -> dict[str, Any]:
    from market_assets.definitions import defs

    return json.loads(json.dumps(describe(defs), default=str))


def test_definitions_match_the_snapshot() -> None:
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current() == expected


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
