"""`MasterSourceResource`: the company master's source, the sample file or J-Quants.

`kind="sample"` (the default) reads the file shipped with the project, so the dev stack and
the tests need no account. `kind="jquants"` calls the API: v2 with `api_key`, else v1 with
`refresh_token` and/or `mail` + `password`. Credentials are meant to be `dagster.EnvVar`s
(see `master_source_resource`), resolved when a run starts, so they never appear in run
config, the UI or logs.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from market_assets.core import settings as s
from resources.masters.jquants_master import DEFAULT_BASE_URL, JQuantsMasterClient
from resources.masters.sample_file import read_code_tables, read_listed_info

# The J-Quants variables are settings' (shared with the bar source); secrets are read only
# through EnvVar.
MASTER_SOURCE_ENV = "MARKET_ASSETS_MASTER_SOURCE"  # sample | jquants

RESOURCE_KEY = "master_source"


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
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    max_retries: int = Field(default=5, ge=0, le=20, description="Retries of 429/5xx/network.")
    sample_path: str | None = Field(
        default=None, description="Another listed/info file instead of the shipped sample."
    )
    code_tables_path: str | None = Field(
        default=None, description="Another code-table file instead of the shipped one."
    )

    @property
    def source_name(self) -> str:
        """What the sync log records as the source (never a credential)."""
        if self.kind == "sample":
            return "sample" if self.sample_path is None else "file"
        return "jquants-v2" if self.api_key else "jquants-v1"

    def client(self) -> JQuantsMasterClient:
        return JQuantsMasterClient(
            self.base_url,
            api_key=self.api_key,
            refresh_token=self.refresh_token,
            mail=self.mail,
            password=self.password,
            requests_per_minute=self.requests_per_minute,
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


def master_source_resource() -> MasterSourceResource:
    """The resource from the environment: kind and limits now, secrets as EnvVars.

    An EnvVar is only given for a variable that is set when definitions load: Dagster fails a
    run on an EnvVar whose variable is unset, and v1 needs only some of the four secrets.
    """
    kind = os.environ.get(MASTER_SOURCE_ENV) or "sample"
    secrets: dict[str, Any] = {
        field: EnvVar(name)
        for field, name in (
            ("api_key", s.JQUANTS_API_KEY),
            ("refresh_token", s.JQUANTS_REFRESH_TOKEN),
            ("mail", s.JQUANTS_MAIL_ADDRESS),
            ("password", s.JQUANTS_PASSWORD),
        )
        if os.environ.get(name)
    }
    return MasterSourceResource(
        kind=kind,  # type: ignore[arg-type]
        base_url=s.env(s.JQUANTS_BASE_URL) or DEFAULT_BASE_URL,
        requests_per_minute=s.jquants_requests_per_minute(60) or 60,
        **secrets,
    )
