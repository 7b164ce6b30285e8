"""The `coupons:` section of config.yaml: coupon campaigns targeted at segments, delivered only where allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from bot.core.durations import duration_value
from bot.settings.base import ConfigModel, read_environment
from bot.settings.languages import check_language_text, in_language

CHANNELS = ("reply", "dm", "export")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*(?:off)?\s*$", re.IGNORECASE)
_AMOUNT = re.compile(r"^\s*([¥$€£￥]?)\s*(\d+(?:\.\d+)?)\s*(?:off)?\s*$", re.IGNORECASE)
REDEMPTION_SECRET_ENV = "SOCIALBOT_REDEMPTION_WEBHOOK_SECRET"  # the webhook's HMAC secret: environment or .env only


def redemption_webhook_secret(config_path: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """The redemption webhook's shared secret from the environment or the .env beside config.yaml (None: unset)."""
    secret = read_environment(config_path, environ).get(REDEMPTION_SECRET_ENV, "").strip()
    return secret or None


@dataclass(frozen=True)
class DiscountDepth:
    """One depth of a campaign's `discounts`: "10%" (kind percent, value 0.10) or "¥30" (kind amount, value 30)."""

    label: str
    kind: Literal["percent", "amount"]
    value: float

    def cost(self, list_price: float) -> float:
        """What this discount gives away on an order of `list_price` (before the discount)."""
        return list_price * self.value if self.kind == "percent" else min(self.value, list_price)

    def list_price(self, paid: float) -> float:
        """The order's value before the discount, from what the customer paid with it."""
        return paid / (1 - self.value) if self.kind == "percent" else paid + self.value


def parse_depth(text: str) -> DiscountDepth:
    """ "10%" or "10% off" -> a percent depth; "30", "¥30" or "$5.50" -> an amount; ValueError otherwise."""
    label = str(text).strip()
    percent = _PERCENT.match(label)
    if percent:
        value = float(percent.group(1)) / 100
        if not 0 < value < 1:
            raise ValueError(f"{label!r}: a percentage between 0% and 100% (exclusive)")
        return DiscountDepth(label, "percent", value)
    amount = _AMOUNT.match(label)
    if amount and float(amount.group(2)) > 0:
        return DiscountDepth(label, "amount", float(amount.group(2)))
    raise ValueError(f'{label!r} is not a discount depth: write a percentage ("10%") or an amount ("¥30", "30")')


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
    discount: str | dict[str, str] | None = None
    # or several depths to learn from (each segment gets the depth that earns most margin per person):
    # ["5%", "10%", "15%"] or amounts ["¥10", "¥20", "¥30"]; exactly one of discount / discounts
    discounts: list[str] | None = None
    learn_from: list[str] = Field(default_factory=list)  # earlier campaigns whose depths' results count too
    # who gets the codes: every eligible member of the segments (budget permitting), or `uplift`: the people a
    # coupon changes most, ranked by predicted incremental conversion x margin - the coupon's cost, learned from
    # the randomised holdouts of this campaign's earlier issuances and its learn_from campaigns
    target: Literal["segments", "uplift"] = "segments"
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

    @field_validator("discounts")
    @classmethod
    def _discounts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        depths = [parse_depth(text) for text in value]
        if len(depths) < 2:
            raise ValueError("give at least two depths to learn from (one depth: `discount`)")
        if len({d.kind for d in depths}) > 1:
            raise ValueError("all percentages or all amounts, not both (the depths must be comparable)")
        values = [d.value for d in depths]
        if len(set(values)) < len(values):
            raise ValueError("the same depth twice")
        return [d.label for d in sorted(depths, key=lambda d: d.value)]

    @model_validator(mode="after")
    def _one_discount(self) -> CouponCampaignConfig:
        if self.discount is None and self.discounts is None:
            raise ValueError('give `discount` (one depth, e.g. "15% off") or `discounts` (several, e.g. ["5%", "10%"])')
        if self.discount is not None and self.discounts is not None:
            raise ValueError("give either `discount` or `discounts`, not both")
        if self.target == "uplift" and self.discounts is None and self.coupon_depth is None:
            raise ValueError(
                f"target: uplift weighs what a coupon costs, so `discount` must read as a percentage or an amount "
                f'("15%", "¥30"); {self.discount!r} does not (or use `discounts`)'
            )
        return self

    @property
    def coupon_depth(self) -> DiscountDepth | None:
        """The single `discount` as a depth (the first form of a per-language one that reads as one), or None."""
        forms = self.discount.values() if isinstance(self.discount, dict) else [self.discount]
        for form in forms:
            try:
                return parse_depth(str(form))
            except ValueError:
                continue
        return None

    @property
    def depths(self) -> list[DiscountDepth]:
        """The depths to learn from, shallowest first (empty: one `discount`)."""
        return [parse_depth(text) for text in self.discounts or ()]

    def discount_for(self, language: str | None, arm: str | None = None) -> str:
        """The discount as a customer speaking `language` reads it (bot.settings.languages: the one rule); with
        several depths, the one this person was drawn (`arm`)."""
        if arm is not None:
            return arm
        if self.discount is None:
            return self.discounts[0] if self.discounts else ""
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
    # margin of an order, for campaigns with several depths: a products CSV with `price` and `cost` columns
    # (relative: the config's folder), else margin_rate (the share of an order's value before the discount)
    products_csv: Path | None = None
    margin_rate: Annotated[float, Field(gt=0, lt=1)] | None = None

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return duration_value(value, "a duration")

    @model_validator(mode="after")
    def _margin(self) -> CouponsConfig:
        learning = sorted(name for name, c in self.campaigns.items() if c.discounts or c.target == "uplift")
        if learning and self.products_csv is None and self.margin_rate is None:
            raise ValueError(
                f"campaigns {', '.join(learning)} learn from several `discounts` or `target: uplift`, which needs "
                "the margin of an order: set coupons.margin_rate (e.g. 0.4) or coupons.products_csv (with a `cost` "
                "column)"
            )
        for name, campaign in self.campaigns.items():
            unknown = [other for other in campaign.learn_from if other not in self.campaigns]
            if unknown:
                raise ValueError(f"campaigns.{name}.learn_from: no coupon campaign {', '.join(unknown)}")
        return self
