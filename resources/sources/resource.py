"""The Dagster resource that picks each symbol's configured source.

Each symbol has exactly one source (its `source` in the universe), so a partition's bars never
mix vendors. Only the offline generator needs no credentials; the vendor clients read theirs
from the environment when they are configured.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr, field_validator

from market_assets.core.universe import Instrument
from market_assets.core.vendor_limits import VendorLimit, parse_vendor_limits, vendor_limit
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.base import BarSource, SourceError
from resources.sources.generator import GeneratorSource
from resources.sources.jquants import JQuantsSource
from resources.sources.jquants_client import JQuantsCredentials
from resources.sources.landing import LandingSource, LocalFileStore, S3FileStore
from resources.sources.rate_limit import pacer_for
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
    vendor_rate_limits: str | None = Field(
        default=None,
        description="vendor=plan-or-requests/min, comma-separated (jquants=light,yfinance=120).",
    )
    rate_limit_redis: RedisResource | None = Field(
        default=None,
        description="Redis holding the shared per-vendor buckets; None: per-process pacing.",
    )
    yfinance_base_url: str | None = None
    landing_dir: str | None = Field(default=None, description="Local landing folder, or S3.")
    landing_s3: S3Resource | None = Field(default=None, description="Bucket of the landing zone.")

    _sources: dict[str, BarSource] = PrivateAttr(default_factory=dict)

    @field_validator("vendor_rate_limits")
    @classmethod
    def _valid_limits(cls, value: str | None) -> str | None:
        parse_vendor_limits(value, setting="vendor_rate_limits")
        return value

    def limit(self, vendor: str) -> VendorLimit | None:
        """`vendor`'s plan allowance: vendor_rate_limits, else (J-Quants)
        jquants_requests_per_minute; None: unpaced."""
        limits = parse_vendor_limits(self.vendor_rate_limits, setting="vendor_rate_limits")
        if vendor in limits:
            return limits[vendor]
        if vendor == "jquants" and self.jquants_requests_per_minute is not None:
            return vendor_limit("jquants", self.jquants_requests_per_minute)
        return None

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
                pacer=pacer_for(self.limit("jquants"), self.rate_limit_redis),
            )
        if name == "yfinance":
            return YFinanceSource(
                base_url=self.yfinance_base_url,
                pacer=pacer_for(self.limit("yfinance"), self.rate_limit_redis),
            )
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
        return self.source(self.source_name(instrument))

    def source(self, name: str) -> BarSource:
        """The source called `name`, built once per resource (one client, one pacer)."""
        if name not in self._sources:
            self._sources[name] = self._build(name)
        return self._sources[name]

    def built(self) -> list[BarSource]:
        """The sources this resource has built so far (a run asks which files they rejected)."""
        return list(self._sources.values())
