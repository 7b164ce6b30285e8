"""One Platform per configured account, its rate-limit resets kept in the store's rate_limit table."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.errors import BotError

if TYPE_CHECKING:
    from bot.adapters.store import Store
    from bot.core.ports import CostLedger, Platform
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)


class StoredRateLimits:
    """bot.core.ports.RateLimitMemory in the store's rate_limit table, shared by every daemon."""

    def __init__(self, store: Store, account: str) -> None:
        self.store = store
        self.account = account

    def blocked_until(self, endpoint: str) -> datetime | None:
        return self.store.rate_limits.blocked_until(self.account, endpoint)

    def block(self, endpoint: str, reset_at: datetime) -> None:
        self.store.rate_limits.block(self.account, endpoint, reset_at)


def build_platform(
    name: str, settings: Settings, store: Store | None = None, *, ledger: CostLedger | None = None
) -> Platform:
    platform = _connect(name, settings)
    if store is not None:
        platform.use_rate_limit_memory(StoredRateLimits(store, name))
    if ledger is not None:
        use_cost_ledger(platform, ledger, settings)
    return platform


def use_cost_ledger(platform: Platform, ledger: CostLedger, settings: Settings) -> None:
    """Every billed X call recorded in `ledger` at config.yaml's prices. Bluesky bills nothing: it records nothing."""
    from bot.adapters.platforms.x import XPlatform

    if isinstance(platform, XPlatform):
        platform.use_cost_ledger(ledger, settings.costs.prices.x)


def _connect(name: str, settings: Settings) -> Platform:
    from bot.core.logs import register_secret
    from bot.settings.config import BLUESKY_DEFAULT_SERVER, XCredentials, credential_variables

    account = settings.accounts[name]
    if account.credentials is not None:
        for secret in account.credentials.model_dump().values():
            register_secret(secret)
    if account.platform == "bluesky":
        from bot.adapters.platforms.bluesky import BlueskyPlatform

        if account.credentials is None or isinstance(account.credentials, XCredentials):
            variable = credential_variables(name, "bluesky")[0]
            raise BotError(f"account {name!r}: no Bluesky app password in the environment ({variable})")
        return BlueskyPlatform(
            account.base_url or BLUESKY_DEFAULT_SERVER,
            account.handle,
            account.credentials.app_password,
            account=name,
        )
    from bot.adapters.platforms.x import X_HOST, XPlatform

    if account.platform == "sandbox":
        if not account.base_url:
            raise BotError(f"account {name!r}: platform sandbox needs base_url (the sandbox's address)")
        import httpx

        try:
            return XPlatform.for_sandbox(account.base_url, account.handle, account=name)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise BotError(f"account {name!r}: cannot reach the X sandbox at {account.base_url}: {exc}") from exc
    if not isinstance(account.credentials, XCredentials):
        raise BotError(f"account {name!r}: no credentials in the environment")
    if account.base_url:
        logger.info("account %s: X API requests go to %s instead of %s", name, account.base_url, X_HOST)
    return XPlatform(account.credentials, base_url=account.base_url, account=name)
