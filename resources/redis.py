"""Redis (or Valkey): the cache of the latest bars and of master-data reads.

Redis is a cache, never a source of truth: after a restart it may be empty and snapshots are
rebuilt from the database. Each snapshot is swapped atomically (MULTI/EXEC of the payload and
its info key), so a reader never sees a payload with another write's info.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import redis
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from resources.errors import StoreUnavailableError, url_address


class RedisResource(ConfigurableResource):
    """A Redis-protocol server reached through one connection pool."""

    url: str = Field(description="redis://[user:password@]host:port/db (EnvVar).")
    key_prefix: str = Field(default="", description="Prepended to every key (tests, tenants).")
    socket_timeout_s: float = Field(default=5.0, gt=0, le=60)
    max_connections: int = Field(default=16, ge=1)

    _client: redis.Redis | None = PrivateAttr(default=None)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client.connection_pool.disconnect()
            self._client = None

    @property
    def address(self) -> str:
        return url_address(self.url)

    def client(self) -> redis.Redis:
        if self._client is None:
            pool = redis.ConnectionPool.from_url(
                self.url,
                socket_timeout=self.socket_timeout_s,
                socket_connect_timeout=self.socket_timeout_s,
                max_connections=self.max_connections,
                health_check_interval=30,
            )
            # Retries belong to Dagster's retry policies, not to the client.
            self._client = redis.Redis(connection_pool=pool, retry=None)
        return self._client

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError("Redis", self.address, exc) from exc

    def health(self) -> dict[str, Any]:
        info = self._call(self.client().info, "server")
        return {
            "store": "Redis",
            "address": self.address,
            "server": info.get("server_name", "redis"),
            "version": info.get("valkey_version") or info.get("redis_version"),
        }

    def ping(self) -> bool:
        return bool(self._call(self.client().ping))

    # -- snapshots ---------------------------------------------------------------------------
    def put_snapshot(
        self, key: str, payload: bytes, info_key: str, info: dict[str, Any], ttl_s: int
    ) -> None:
        """Replace a payload and its info key together, both expiring after `ttl_s`."""
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive: a snapshot without expiry outlives its data")
        pipe = self.client().pipeline(transaction=True)
        pipe.set(key, payload, ex=ttl_s)
        pipe.set(info_key, json.dumps(info, default=str), ex=ttl_s)
        self._call(pipe.execute)

    def get_snapshot(self, key: str) -> bytes | None:
        return self._call(self.client().get, key)

    def get_info(self, info_key: str) -> dict[str, Any] | None:
        raw = self._call(self.client().get, info_key)
        return None if raw is None else json.loads(raw)

    def ttl(self, key: str) -> int:
        return int(self._call(self.client().ttl, key))

    # -- plain cached values -----------------------------------------------------------------
    def get_json(self, key: str) -> Any | None:
        raw = self._call(self.client().get, key)
        return None if raw is None else json.loads(raw)

    def put_json(self, key: str, value: Any, ttl_s: int) -> None:
        self._call(self.client().set, key, json.dumps(value, default=str), ex=ttl_s)

    def delete(self, *keys: str) -> int:
        return int(self._call(self.client().unlink, *keys)) if keys else 0

    def scan_keys(self, pattern: str, count: int = 500) -> Iterator[str]:
        """Keys matching a glob pattern, without blocking the server as KEYS would."""
        try:
            for key in self.client().scan_iter(match=pattern, count=count):
                yield key.decode() if isinstance(key, bytes) else key
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError("Redis", self.address, exc) from exc

    def invalidate(self, pattern: str) -> int:
        """Delete every key matching `pattern` (prefix applied); returns how many went."""
        full = f"{self.key_prefix}{pattern}"
        removed = 0
        batch: list[str] = []
        for key in self.scan_keys(full):
            batch.append(key)
            if len(batch) >= 500:
                removed += self.delete(*batch)
                batch.clear()
        return removed + self.delete(*batch)
