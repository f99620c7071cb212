"""`MasterSourceResource`: the company master's source, the sample file or J-Quants.

`kind="sample"` (the default) reads the file shipped with the project, so the dev stack and
the tests need no account. `kind="jquants"` calls the API: v2 with `api_key`, else v1 with
`refresh_token` and/or `mail` + `password`. Credentials are meant to be `dagster.EnvVar`s
(market_assets/composition.py builds the resource from the environment), resolved when a run
starts, so they never appear in run config, the UI or logs.
"""

from __future__ import annotations

from typing import Any, Literal

from dagster import ConfigurableResource
from pydantic import Field, field_validator

from market_assets.core.vendor_limits import vendor_limit
from resources.masters.jquants_master import DEFAULT_BASE_URL, JQuantsMasterClient
from resources.masters.sample_file import read_code_tables, read_listed_info
from resources.redis import RedisResource
from resources.sources.rate_limit import pacer_for


class MasterSourceResource(ConfigurableResource):
    """Listed-company records in J-Quants' listed/info layout, and the code tables."""

    kind: Literal["sample", "jquants"] = Field(
        default="sample", description="sample (shipped file, offline) or jquants (the API)."
    )
    base_url: str = Field(default=DEFAULT_BASE_URL, description="J-Quants API root.")
    api_key: str | None = Field(default=None, repr=False, description="v2 API key (EnvVar).")
    refresh_token: str | None = Field(
        default=None, repr=False, description="v1 refresh token, valid a week (EnvVar)."
    )
    mail: str | None = Field(default=None, repr=False, description="v1 login mail (EnvVar).")
    password: str | None = Field(
        default=None, repr=False, description="v1 login password (EnvVar)."
    )
    requests_per_minute: int = Field(
        default=60, ge=1, le=6000, description="The plan's rate limit (Free 5, Light 60, ...)."
    )
    rate_limit_plan: str | None = Field(
        default=None,
        description="J-Quants plan (light, ...) or requests/min; overrides requests_per_minute.",
    )
    rate_limit_redis: RedisResource | None = Field(
        default=None,
        description="Redis of the shared vendor buckets (the bar source spends the same one).",
    )
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    max_retries: int = Field(default=5, ge=0, le=20, description="Retries of 429/5xx/network.")
    sample_path: str | None = Field(
        default=None, description="Another listed/info file instead of the shipped sample."
    )
    code_tables_path: str | None = Field(
        default=None, description="Another code-table file instead of the shipped one."
    )

    @field_validator("rate_limit_plan")
    @classmethod
    def _valid_plan(cls, value: str | None) -> str | None:
        if value is not None:
            vendor_limit("jquants", value)
        return value

    @property
    def source_name(self) -> str:
        """What the sync log records as the source (never a credential)."""
        if self.kind == "sample":
            return "sample" if self.sample_path is None else "file"
        return "jquants-v2" if self.api_key else "jquants-v1"

    def client(self) -> JQuantsMasterClient:
        """The API client, paced by the account's shared bucket when Redis is configured (the
        master sync and the bar runs spend one J-Quants allowance)."""
        limit = vendor_limit("jquants", self.rate_limit_plan or self.requests_per_minute)
        return JQuantsMasterClient(
            self.base_url,
            api_key=self.api_key,
            refresh_token=self.refresh_token,
            mail=self.mail,
            password=self.password,
            requests_per_minute=limit.requests_per_minute,
            pacer=pacer_for(limit, self.rate_limit_redis),
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
        )

    def fetch_companies(self) -> list[Any]:
        """Every listed company as a listed/info record (unjudged: the sync checks them)."""
        if self.kind == "sample":
            return read_listed_info(self.sample_path)
        return self.client().listed_info()

    def code_tables(self) -> dict[str, list[dict[str, str]]]:
        """Market and sector code tables (shipped: J-Quants has no endpoint for them)."""
        return read_code_tables(self.code_tables_path)
