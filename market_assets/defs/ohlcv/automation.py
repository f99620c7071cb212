"""Declarative automation: db_bars, bar_rollups and bar_snapshots follow their parent.

Each downstream OHLCV asset carries `FOLLOW_PARENT`, a variant of `AutomationCondition.eager()`
built for ~136k date x symbol partitions and for batched checks:

- **Trigger**, remembered until handled: the parent partition was updated by a run that did
  *not* already plan this asset (scheduled and landing runs carry all four assets, so only a
  parent materialised on its own, e.g. a backfill or re-fetch of `raw_bars` alone, brings a
  follow-up run), at *any* date: `any_deps_updated` reads the events since the previous tick,
  so its cost grows with what changed, not with the history. Or the partition became missing
  within `RECENT_WINDOW` (a new day, a new symbol); older gaps are the backfill's job, and
  leaving them out keeps history out of every tick.
- **Guards**, evaluated only on triggered partitions: no parent partition missing or in
  progress, this partition not in progress, every blocking check of the parent passed.
- **Reset**: besides a request or an update, a new failed (or errored) blocking check of the
  parent drops what was pending. Batched checks evaluate a whole run's range in one pass, so
  Dagster keeps their result per asset, not per partition: without the reset, partitions of a
  batch whose checks failed would be released by the next batch whose checks pass. This errs
  on the safe side (partitions pending at that moment are dropped too, and are picked up by
  their parent's next update or a backfill); inside the assets, `db_bars` still gates each
  partition on its own raw_bars outcome.

Cost, measured with 136,026 partitions (54 symbols x 2020-01-01..today) on 2 busy vCPUs: a
tick takes 0.2-0.4 s, also when it requests, with a 0.2 MB cursor; the tick that sees a
failed blocking check, and the one after it, take 10-25 s (a 13 MB cursor, once). A first
version composed the plain way (`newly_missing()` over all dates, `initial_evaluation()`,
`all_deps_blocking_checks_passed()`) kept 2.6 MB of partition keys per asset and node in the
cursor and took 4-9 s every tick; the comments below say what each change avoids.

Checks carry no condition of their own: in runs launched by the automation sensor they ride
along with their asset (Dagster's default for checks without a condition) and evaluate that
run's partitions, which is what they are written for; a condition of their own would start
check-only runs without partitions.
"""

import datetime as dt

from dagster import AutomationCondition

# Dates whose newly missing partitions are filled by the automation on its own: covers a long
# weekend plus a few days of an outage; anything older is the backfill's job.
RECENT_WINDOW = dt.timedelta(days=7)

# Unlike eager()'s, without initial_evaluation(): that one is true for every partition on the
# first tick (a 136k-key subset in the cursor), and what it would suppress is wanted here:
# recent partitions whose parent exists but which are missing get loaded when the sensor is
# first switched on.
_HANDLED = (AutomationCondition.newly_requested() | AutomationCondition.newly_updated()).with_label(
    "handled"
)

# A blocking check of the parent has a *new* failed (or errored) evaluation, and the parent
# will not be re-run (and its checks re-evaluated) in this same tick. "New", not "currently
# failed": the reset is evaluated over every partition, and a batched check's result maps to
# every partition, so a state-based reset would put 136k keys in the cursor on every tick of
# a failure period (13 MB and ~20 s a tick, measured); this costs that once per failure.
# (A check counts as updated when its evaluation is newer than the previous tick.)
PARENT_BLOCKED = AutomationCondition.any_deps_match(
    AutomationCondition.any_checks_match(
        (AutomationCondition.newly_updated() & AutomationCondition.check_failed())
        | AutomationCondition.execution_failed().newly_true(),
        blocking_only=True,
    )
    & ~AutomationCondition.will_be_requested()
).with_label("parent_blocking_check_newly_failed")

# The negation of `all_deps_blocking_checks_passed()`, with the same meaning (a parent that
# will be re-run this tick has its checks re-run too). Batched checks have one result per
# asset, which Dagster maps to *every* partition; written this way that full-size subset only
# appears while a check has not passed, instead of on every tick that requests something
# (2.6 MB of keys per check node at 136k partitions, serialised into the cursor).
PARENT_CHECKS_NOT_PASSED = AutomationCondition.any_deps_match(
    AutomationCondition.any_checks_match(~AutomationCondition.check_passed(), blocking_only=True)
    & ~AutomationCondition.will_be_requested()
).with_label("parent_blocking_checks_not_passed")

# The window sits *inside* newly_true: newly_true evaluates its operand over every partition
# and keeps the operand's true subset in the cursor. `newly_missing()` there would store every
# missing partition of history (2.6 MB of keys per asset at 136k partitions, measured), and
# (de)serialise it on every tick.
_TRIGGER = AutomationCondition.any_deps_updated() | (
    AutomationCondition.in_latest_time_window(RECENT_WINDOW) & AutomationCondition.missing()
).newly_true().with_label("newly_missing_recently")

FOLLOW_PARENT = (
    _TRIGGER.since(_HANDLED | PARENT_BLOCKED).with_label("parent_updated_since_handled")
    & ~AutomationCondition.any_deps_missing()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
    & ~PARENT_CHECKS_NOT_PASSED
).with_label("follow_parent")
