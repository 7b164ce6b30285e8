"""Settings: pydantic models for config.yaml plus secrets from the environment.

INTERFACE SKETCH (owned by the config helper, who completes loading, validation and line numbers).
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class XCredentials(_Model):
    """OAuth 1.0a user context (consumer key/secret + access token/secret), from the environment only."""

    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str


class AccountConfig(_Model):
    platform: Literal["x", "sandbox"]
    handle: str  # username without '@'
    base_url: str | None = None  # sandbox only: where the sandbox X API listens
    # Resolved at load time from SOCIALBOT_<ACCOUNT>_{CONSUMER_KEY,CONSUMER_SECRET,ACCESS_TOKEN,ACCESS_TOKEN_SECRET}
    # or a .env file beside config.yaml. Never read from config.yaml itself.
    credentials: XCredentials | None = Field(default=None, exclude=True, repr=False)


class CronSchedule(_Model):
    cron: str  # five-field crontab, e.g. "0 10 * * 1-5"


class IntervalSchedule(_Model):
    interval: Annotated[str, Field(description="e.g. '30m', '2h', '1d', '90s'")]
    start: datetime | None = None  # anchor; default: the campaign window start or midnight today


class TimesSchedule(_Model):
    times: list[datetime]  # naive values are in the campaign's timezone


Schedule = CronSchedule | IntervalSchedule | TimesSchedule


class Product(_Model):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    price: float | None = None
    url: str | None = None


class CampaignConfig(_Model):
    account: str
    template: str  # file under templates_dir
    schedule: Schedule
    start: datetime | None = None  # window, in the campaign timezone when naive
    end: datetime | None = None
    timezone: str | None = None  # default: Settings.timezone
    products: list[Product] = Field(default_factory=list)
    products_csv: Path | None = None  # relative to config.yaml's folder; merged into `products` at load
    utm: dict[str, str] = Field(default_factory=dict)  # source/medium/campaign/content/term
    hashtags: list[str] = Field(default_factory=list)
    enabled: bool = True
    extra: dict[str, Any] = Field(default_factory=dict)  # free data for the template


class DeliveryConfig(_Model):
    per_account_per_day: int | None = 50  # None/0: no limit (posts only)
    min_spacing_seconds: float = 60  # between two posts of one account; 0: off
    max_attempts: int = 8  # then dead-lettered
    backoff_base_seconds: float = 5
    backoff_max_seconds: float = 900
    lease_seconds: float = 60
    grace_minutes: float = 15  # a slot missed while down is sent late only within this
    poll_seconds: float = 2  # how often the daemon looks for due outbox rows


class Settings(_Model):
    timezone: str = "UTC"
    database_url: str = "sqlite:///var/socialbot.db"  # relative sqlite paths: relative to config.yaml's folder
    templates_dir: Path = Path("templates")  # relative to config.yaml's folder
    accounts: dict[str, AccountConfig]
    campaigns: dict[str, CampaignConfig] = Field(default_factory=dict)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    # set by load_config, not by the file:
    config_path: Path = Field(default=Path("config.yaml"), exclude=True)


def load_config(path: Path, *, environ: dict[str, str] | None = None) -> Settings:
    """Load, validate and resolve config.yaml; raise ConfigError listing every problem (file, line, key)."""
    raise NotImplementedError


# Silence "unused" for names the sketch will need.
_ = (date, time)
