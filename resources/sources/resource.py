"""The Dagster resource that picks each symbol's configured source.

Each symbol has exactly one source (its `source` in the universe), so a partition's bars never
mix vendors. Only the offline generator needs no credentials; the vendor clients read theirs
from the environment when they are configured.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from market_assets.core.universe import Instrument
from resources.s3 import S3Resource
from resources.sources.base import BarSource, SourceError
from resources.sources.generator import GeneratorSource
from resources.sources.jquants import JQuantsSource
from resources.sources.jquants_client import JQuantsCredentials
from resources.sources.landing import LandingSource, LocalFileStore, S3FileStore
from resources.sources.yfinance_source import YFinanceSource


class BarSourcesResource(ConfigurableResource):
    """Every bar source the deployment has, chosen per instrument."""

    generator_seed: int = Field(default=0, description="Seed of the offline generator.")
    override: str | None = Field(
        default=None,
        description="Use this source for every symbol (e.g. 'generator' in dev and tests).",
    )
    jquants_api_key: str | None = Field(default=None, description="EnvVar JQUANTS_API_KEY (v2).")
    jquants_refresh_token: str | None = Field(default=None, description="EnvVar (v1 flow).")
    jquants_mail_address: str | None = Field(default=None, description="EnvVar (v1 flow).")
    jquants_password: str | None = Field(default=None, description="EnvVar (v1 flow).")
    jquants_base_url: str | None = None
    jquants_requests_per_minute: int | None = Field(
        default=None, ge=1, description="The J-Quants plan's rate limit; unset: unpaced."
    )
    yfinance_base_url: str | None = None
    landing_dir: str | None = Field(default=None, description="Local landing folder, or S3.")
    landing_s3: S3Resource | None = Field(default=None, description="Bucket of the landing zone.")

    _sources: dict[str, BarSource] = PrivateAttr(default_factory=dict)

    def _build(self, name: str) -> BarSource:
        if name == "generator":
            return GeneratorSource(seed=self.generator_seed)
        if name == "jquants":
            credentials = JQuantsCredentials(
                api_key=self.jquants_api_key,
                refresh_token=self.jquants_refresh_token,
                mail_address=self.jquants_mail_address,
                password=self.jquants_password,
            )
            return JQuantsSource(
                credentials,
                base_url=self.jquants_base_url,
                requests_per_minute=self.jquants_requests_per_minute,
            )
        if name == "yfinance":
            return YFinanceSource(base_url=self.yfinance_base_url)
        if name == "landing":
            if self.landing_dir:
                return LandingSource(LocalFileStore(self.landing_dir))
            if self.landing_s3 is not None:
                return LandingSource(S3FileStore(self.landing_s3))
            raise SourceError("no landing zone configured (landing_dir or S3)", source=name)
        raise SourceError(f"source {name!r} is not configured in this deployment", source=name)

    def source_name(self, instrument: Instrument) -> str:
        return self.override or instrument.source

    def source_for(self, instrument: Instrument) -> BarSource:
        name = self.source_name(instrument)
        if name not in self._sources:
            self._sources[name] = self._build(name)
        return self._sources[name]

    def built(self) -> list[BarSource]:
        """The sources this resource has built so far (a run asks which files they rejected)."""
        return list(self._sources.values())
