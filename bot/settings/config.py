"""config.yaml as the rest of the bot imports it: `load_config(path) -> Settings` and the models it is made of.

Each section lives in its own module (accounts, campaigns, delivery, replies, graph, segments, coupons, products;
the root `Settings` in root, loading with file:line problems in loading); this module only gathers their public
names so `from bot.settings.config import Settings, load_config` keeps working.
"""

from __future__ import annotations

from bot.settings.accounts import (
    BLUESKY_DEFAULT_SERVER,
    BLUESKY_PASSWORD_FIELD,
    CREDENTIAL_FIELDS,
    PLATFORMS,
    AccountConfig,
    BlueskyCredentials,
    XCredentials,
    credential_variables,
)
from bot.settings.base import ConfigModel, env_prefix, read_environment
from bot.settings.campaigns import (
    CampaignConfig,
    CronSchedule,
    IntervalSchedule,
    Schedule,
    TimesSchedule,
    localize,
)
from bot.settings.costs import CostsConfig
from bot.settings.coupons import CouponCampaignConfig, CouponsConfig
from bot.settings.delivery import DeliveryConfig
from bot.settings.graph import EngagementConfig, GraphConfig
from bot.settings.loading import SECRET_MESSAGE, load_config, missing_credentials
from bot.settings.metrics import MetricsConfig
from bot.settings.products import Product
from bot.settings.replies import RepliesConfig
from bot.settings.root import NAME_PATTERN, Settings
from bot.settings.segments import SegmentsConfig

__all__ = [
    "BLUESKY_DEFAULT_SERVER",
    "BLUESKY_PASSWORD_FIELD",
    "CREDENTIAL_FIELDS",
    "NAME_PATTERN",
    "PLATFORMS",
    "SECRET_MESSAGE",
    "AccountConfig",
    "BlueskyCredentials",
    "CampaignConfig",
    "ConfigModel",
    "CostsConfig",
    "CouponCampaignConfig",
    "CouponsConfig",
    "CronSchedule",
    "DeliveryConfig",
    "EngagementConfig",
    "GraphConfig",
    "IntervalSchedule",
    "MetricsConfig",
    "Product",
    "RepliesConfig",
    "Schedule",
    "SegmentsConfig",
    "Settings",
    "TimesSchedule",
    "XCredentials",
    "credential_variables",
    "env_prefix",
    "load_config",
    "localize",
    "missing_credentials",
    "read_environment",
]
