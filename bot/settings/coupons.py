"""The `coupons:` section of config.yaml: coupon campaigns targeted at segments, delivered only where allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from bot.core.durations import duration_value
from bot.settings.base import ConfigModel, read_environment
from bot.settings.languages import check_language_text, in_language

CHANNELS = ("reply", "dm", "export")
REDEMPTION_SECRET_ENV = "SOCIALBOT_REDEMPTION_WEBHOOK_SECRET"  # the webhook's HMAC secret: environment or .env only


def redemption_webhook_secret(config_path: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """The redemption webhook's shared secret from the environment or the .env beside config.yaml (None: unset)."""
    secret = read_environment(config_path, environ).get(REDEMPTION_SECRET_ENV, "").strip()
    return secret or None


class CouponCampaignConfig(ConfigModel):
    """One coupon campaign: who (segments + rules), what (discount, template), how many (budget), how long
    (expiry) and through which channel. Nothing is ever sent unsolicited:
    reply: with the reply when the person next mentions the account (or asks for a coupon);
    dm: by DM, only where the person opened the conversation;
    export: a CSV (and optional webhook) for the shop's own email tool."""

    enabled: bool = True
    account: str | None = None  # default: the first account
    segments: list[str | int] = Field(default_factory=list)  # labels or ids; empty: every segment
    min_influence: Annotated[float, Field(ge=0, le=1)] = 0.0  # minimum graph influencer score
    cooldown: timedelta | None = None  # no code to whoever got one from any campaign within this
    # what the template shows, e.g. "15% off", or one form per language: {en: "¥30 off ¥200", zh: "满200减30"}
    discount: str | dict[str, str]
    budget: Annotated[int, Field(ge=1)]  # maximum codes issued, ever
    expires_after: timedelta = timedelta(days=14)
    ends: datetime | None = None  # no codes issued after this
    channel: Literal["reply", "dm", "export"] = "reply"
    template: str = "coupons/coupon.j2"  # under templates_dir
    holdout: Annotated[float, Field(ge=0, lt=1)] = 0.1  # share of each target segment that gets nothing
    codes_csv: Path | None = None  # a pool of codes exported by the shop system (one per line or a `code` column)
    code_prefix: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)  # free data for the template; values may be per-language

    @field_validator("discount", mode="before")
    @classmethod
    def _discount(cls, value: Any) -> Any:
        return check_language_text(value, "discount")

    def discount_for(self, language: str | None) -> str:
        """The discount as a customer speaking `language` reads it (bot.settings.languages: the one rule)."""
        return str(in_language(self.discount, language))

    @field_validator("cooldown", "expires_after", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return duration_value(value, "a duration")

    @field_validator("code_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Z0-9]{1,8}-?", value):
            raise ValueError("code_prefix must be 1-8 capital letters or digits (and an optional '-')")
        return value


class CouponsConfig(ConfigModel):
    """Coupon campaigns by name, the redemption webhook and the export folder."""

    campaigns: dict[str, CouponCampaignConfig] = Field(default_factory=dict)
    export_dir: Path = Path("var/coupons")  # CSV exports (relative: config dir)
    # serve POST /redemptions on 127.0.0.1:PORT from the daemon, signed with $SOCIALBOT_REDEMPTION_WEBHOOK_SECRET
    redemption_webhook_port: int | None = None
    every: timedelta = timedelta(hours=1)  # how often the daemon issues, delivers (DM/export) and expires codes
    batch_size: Annotated[int, Field(ge=100, le=100_000)] = 5000  # people per issuance transaction

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return duration_value(value, "a duration")
