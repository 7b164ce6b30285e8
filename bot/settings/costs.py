"""The `costs:` section of config.yaml: what each paid platform call costs, and the monthly cap on the bill.

    costs:
      monthly_cap_usd: 50      # per account and calendar month (the shop's time zone); omit: no cap
      warn_at: 0.8             # a warning in the log and /healthz at this share of the cap
      prices:
        x: {post_create: 0.015, post_with_url: 0.20}   # any price not given keeps X's pay-per-use default

The defaults are X's pay-per-use prices (../shared/reference/PLATFORMS.md, "Pricing"); Bluesky costs nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from bot.settings.base import ConfigModel

Price = Annotated[float, Field(ge=0)]


class XPrices(ConfigModel):
    """X's pay-per-use prices in USD: reads per returned object, writes per request."""

    post_read: Price = 0.005  # a post returned by a read (quote posts, GET /2/tweets)
    user_read: Price = 0.01  # a user returned by a read (likers, reposters, the authors of quotes)
    dm_event_read: Price = 0.01  # a DM event returned by a read
    owned_read: Price = 0.001  # an object read from the account's own timeline or mentions, or the account itself
    post_create: Price = 0.015  # a post
    post_with_url: Price = 0.20  # a post (or reply) whose text holds a URL
    summoned_reply: Price = 0.01  # a reply to a post that mentioned the account
    dm_create: Price = 0.015  # a DM


class BlueskyPrices(ConfigModel):
    """Bluesky charges for nothing: no prices to set."""


PRICED_PLATFORMS = ("x", "bluesky")


class PriceTables(ConfigModel):
    """One price table per platform (a `sandbox` account is priced as X, which it imitates)."""

    x: XPrices = Field(default_factory=XPrices)
    bluesky: BlueskyPrices = Field(default_factory=BlueskyPrices)

    @model_validator(mode="before")
    @classmethod
    def _platforms(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(str(key) for key in value if key not in PRICED_PLATFORMS)
            if unknown:
                known = ", ".join(PRICED_PLATFORMS)
                raise ValueError(f"unknown platform(s) {', '.join(unknown)} in prices (known: {known})")
        return value


class CostsConfig(ConfigModel):
    """The cost ledger's prices and the monthly cap (bot.domains.costs stops spending near it)."""

    monthly_cap_usd: Annotated[float, Field(ge=0)] | None = None  # per account and month; None: no cap
    warn_at: Annotated[float, Field(gt=0, le=1)] = 0.8  # share of the cap that logs a warning (once a month)
    prices: PriceTables = Field(default_factory=PriceTables)
