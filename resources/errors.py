"""Errors a store raises when it cannot be reached.

Operators read these in the Dagster UI, so the message names the store and the address it
tried (never the credentials) and the underlying cause. Retrying is left to Dagster's retry
policies: a resource that loops on its own hides outages and doubles run time.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class StoreUnavailableError(RuntimeError):
    """A store (PostgreSQL, Redis, S3) did not answer within its timeout."""

    def __init__(self, store: str, address: str, cause: BaseException | str) -> None:
        self.store = store
        self.address = address
        self.cause = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
        super().__init__(f"{store} at {address} is unavailable: {self.cause}")


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def url_address(url: str) -> str:
    """host:port of a URL: what an error message names."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port}" if parts.port else host
