"""One rate limit per vendor and plan, shared by every process: a token bucket in Redis.

Why Redis. A vendor meters the account: J-Quants' Light plan allows 60 requests a minute in
all, answers more with 429 and, past that, blocks the account for about five minutes. Each
run worker of each concurrent backfill is its own process, so a per-process throttle lets
N workers send N times the plan. Redis is already one of the stores every run reaches, and
one atomic script gives all of them a single bucket. (Dagster concurrency pools bound how
many runs or ops run at once, not how many requests they send a minute: see docs/DESIGN.md.)

The bucket. A token bucket of `burst` tokens refilled at `requests_per_minute / 60` a second,
in its GCRA form: the key holds the bucket's "theoretical arrival time" (TAT), and each call
atomically reserves the next slot and answers how long to wait for it, on Redis' own clock
(TIME), so the processes' clocks never matter and nobody polls. With `burst=1` (the default)
slots are `60 / requests_per_minute` s apart, so any 60-second window holds at most the plan's
requests; `burst=b` lets an idle bucket send b at once (b - 1 more in a window). Every
attempt asks, retries included (HttpClient calls `wait()` before each one).

Failure. Redis down or slow is StoreUnavailableError, raised before the request is sent: a
store that is down fails loudly (the run's retry policy takes it), it never degrades to an
unshared throttle that would multiply the account's rate by the number of workers. Only a
deployment with no Redis configured at all (a laptop, unit tests) uses the per-process
`Throttle`, and `pacer_for` logs a warning saying so. A slot further away than `max_wait_s`
(a queue of workers far longer than a run should wait) is a retryable SourceError; the
reserved slot stays spent, which only makes the bucket more conservative.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from market_assets.core.vendor_limits import VendorLimit
from resources.errors import StoreUnavailableError
from resources.redis import RedisResource
from resources.sources.base import SourceError
from resources.sources.http import Pacer, Throttle

log = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit:"
DEFAULT_MAX_WAIT_S = 600.0

# KEYS[1] the bucket; ARGV[1] microseconds between slots; ARGV[2] burst (tokens).
# Returns {microseconds to wait before the reserved slot (0: go now), the slot's start on
# Redis' clock in microseconds}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX',
           math.floor((next_tat - now) / 1000) + 1000)
return {math.floor(wait), math.floor(tat - tolerance)}
"""


class RedisTokenBucket:
    """The shared bucket of one vendor plan, in the Redis of `redis` (its key prefix applied).

    `sleep` is injectable for tests; the wait itself comes from Redis' clock.
    """

    def __init__(
        self,
        redis_resource: RedisResource,
        limit: VendorLimit,
        *,
        burst: int = 1,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not max_wait_s > 0:
            raise ValueError("max_wait_s must be > 0")
        self.limit = limit
        self.requests_per_minute = float(limit.requests_per_minute)
        self.interval_us = round(60_000_000 / limit.requests_per_minute)
        self.burst = burst
        self.max_wait_s = max_wait_s
        self.key = f"{redis_resource.key_prefix}{KEY_PREFIX}{limit.bucket}"
        self._redis = redis_resource
        self._script = redis_resource.client().register_script(_RESERVE)
        self._sleep = sleep
        self.waited_s = 0.0  # time this process spent waiting for slots (reported by tests)
        self.reservations = 0
        self.last_slot_us: int | None = None  # start of the last slot, on Redis' clock

    def __repr__(self) -> str:
        return f"RedisTokenBucket({self.limit.bucket}, {self.requests_per_minute:g}/min)"

    def reserve(self) -> float:
        """Reserve the next slot; seconds until it (0.0: now)."""
        try:
            wait_us, slot_us = self._script(keys=[self.key], args=[self.interval_us, self.burst])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError("Redis", self._redis.address, exc) from exc
        self.reservations += 1
        self.last_slot_us = int(slot_us)
        return int(wait_us) / 1_000_000

    def wait(self) -> None:
        """Sleep until this process' slot; a slot beyond `max_wait_s` is a retryable error."""
        wait = self.reserve()
        if wait > self.max_wait_s:
            raise SourceError(
                f"the shared {self.limit.bucket} rate limit ({self.requests_per_minute:g}/min) "
                f"has a {wait:.0f} s queue, over the {self.max_wait_s:g} s a request may wait",
                source=self.limit.vendor,
                retryable=True,
            )
        if wait > 0:
            self.waited_s += wait
            self._sleep(wait)


def pacer_for(
    limit: VendorLimit | None,
    redis_resource: RedisResource | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Pacer | None:
    """The shared bucket when Redis is configured; else the per-process throttle, with a
    warning (N processes then send up to N times the plan); None when the vendor is unpaced."""
    if limit is None:
        return None
    if redis_resource is not None:
        return RedisTokenBucket(redis_resource, limit, sleep=sleep)
    log.warning(
        "%s: no Redis configured, so its %s/min limit is per process, not shared: concurrent "
        "runs can exceed the plan",
        limit.vendor,
        limit.requests_per_minute,
    )
    return Throttle(limit.requests_per_minute, sleep=sleep)
