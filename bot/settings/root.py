"""The root of config.yaml: top-level keys, every section, and the questions the rest of the bot asks of them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from bot.settings.accounts import AccountConfig
from bot.settings.base import ConfigModel, check_timezone
from bot.settings.campaigns import CampaignConfig, localize
from bot.settings.costs import CostsConfig
from bot.settings.coupons import CouponsConfig
from bot.settings.delivery import DeliveryConfig
from bot.settings.faq import FaqConfig
from bot.settings.graph import GraphConfig
from bot.settings.metrics import MetricsConfig
from bot.settings.replies import RepliesConfig
from bot.settings.segments import SegmentsConfig

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class Settings(ConfigModel):
    timezone: str = "UTC"
    database_url: str = "sqlite:///var/socialbot.db"  # relative sqlite paths: relative to config.yaml's folder
    templates_dir: Path = Path("templates")  # relative to config.yaml's folder
    currency: str = "$"  # default symbol for the `price` filter
    accounts: dict[str, AccountConfig]
    campaigns: dict[str, CampaignConfig] = Field(default_factory=dict)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    # Without a `replies:` section the bot answers nobody: automatic replies are something a team turns on.
    replies: RepliesConfig = Field(default_factory=lambda: RepliesConfig(enabled=False))
    graph: GraphConfig = Field(default_factory=GraphConfig)
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)  # post metrics (bot.settings.metrics)
    coupons: CouponsConfig = Field(default_factory=CouponsConfig)
    faq: FaqConfig = Field(default_factory=FaqConfig)  # the team's answers (bot.settings.faq)
    costs: CostsConfig = Field(default_factory=CostsConfig)  # prices of paid calls, the monthly cap
    # set by load_config, not by the file:
    config_path: Path = Field(default=Path("config.yaml"), exclude=True)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @field_validator("accounts", "campaigns")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"name {name!r} may only use letters, digits, '_' and '-'")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("database_url must be a URL such as 'sqlite:///var/socialbot.db'")
        return value

    # -- helpers used by the scheduler, campaigns service, demo --------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def config_dir(self) -> Path:
        return self.config_path.parent

    def in_config_dir(self, path: Path) -> Path:
        """A path the team wrote in config.yaml: relative ones are to config.yaml's folder."""
        return path if path.is_absolute() else self.config_dir / path

    @property
    def orders_csv_path(self) -> Path | None:
        """segments.orders_csv, the shop's orders (None when unset)."""
        path = self.segments.orders_csv
        return None if path is None else self.in_config_dir(path)

    def campaign_timezone(self, name: str) -> ZoneInfo:
        return ZoneInfo(self.campaigns[name].timezone or self.timezone)

    def campaign_window(self, name: str) -> tuple[datetime | None, datetime | None]:
        """(start, end) of a campaign as aware datetimes in its timezone; end is exclusive."""
        campaign, zone = self.campaigns[name], self.campaign_timezone(name)
        start = None if campaign.start is None else localize(campaign.start, zone)
        end = None if campaign.end is None else localize(campaign.end, zone)
        return start, end

    def campaign_currency(self, name: str) -> str:
        return self.campaigns[name].currency or self.currency

    def template_path(self, name: str) -> Path:
        return self.templates_dir / self.campaigns[name].template

    def with_overrides(self, **update: Any) -> Settings:
        """A copy with top-level fields replaced (no re-validation): e.g. database_url=..."""
        return self.model_copy(update=update)

    def with_account(self, name: str, **changes: Any) -> Settings:
        """A copy with one account changed, e.g. with_account('shop', base_url='http://127.0.0.1:8000')."""
        accounts = dict(self.accounts)
        accounts[name] = accounts[name].model_copy(update=changes)
        return self.model_copy(update={"accounts": accounts})

    def with_campaign(self, name: str, **changes: Any) -> Settings:
        """A copy with one campaign changed, e.g. with_campaign('x', schedule=IntervalSchedule(interval='5s'))."""
        campaigns = dict(self.campaigns)
        campaigns[name] = campaigns[name].model_copy(update=changes)
        return self.model_copy(update={"campaigns": campaigns})

    def enabled_campaigns(self) -> dict[str, CampaignConfig]:
        return {name: c for name, c in self.campaigns.items() if c.enabled}
