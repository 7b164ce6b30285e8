"""The `accounts:` section: one account per platform handle, and the credentials read for it from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bot.core.models import platform_name
from bot.settings.base import ConfigModel, env_prefix

CREDENTIAL_FIELDS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
BLUESKY_PASSWORD_FIELD = "app_password"
BLUESKY_DEFAULT_SERVER = "https://bsky.social"
PLATFORMS = ("x", "sandbox", "bluesky")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
# a domain handle (atproto): dot-separated labels of letters, digits and '-', the last one not starting with a digit
_DOMAIN_HANDLE = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?")


def secret_fields(platform: str) -> tuple[str, ...]:
    """The credential fields of a platform: X's four OAuth values, or Bluesky's app password."""
    return (BLUESKY_PASSWORD_FIELD,) if platform == "bluesky" else CREDENTIAL_FIELDS


def credential_variables(account: str, platform: str = "x") -> list[str]:
    """The environment variables holding an account's secrets: X's four OAuth values, or Bluesky's app password."""
    prefix = env_prefix(account)
    return [prefix + name.upper() for name in secret_fields(platform)]


class XCredentials(ConfigModel):
    """OAuth 1.0a user context (consumer key/secret + access token/secret), from the environment only."""

    consumer_key: str = Field(repr=False)
    consumer_secret: str = Field(repr=False)
    access_token: str = Field(repr=False)
    access_token_secret: str = Field(repr=False)


class BlueskyCredentials(ConfigModel):
    """A Bluesky app password (Settings -> Privacy and security -> App passwords), from the environment only."""

    app_password: str = Field(repr=False)


class AccountConfig(ConfigModel):
    platform: Literal["x", "sandbox", "bluesky"]
    handle: str  # X: the username without '@'; Bluesky: the domain handle, e.g. shop.bsky.social
    # sandbox: where the sandbox X API listens (the demo fills it in); bluesky: the account's server (PDS),
    # https://bsky.social when omitted; x: optional, every API call goes there instead (an emulator, a proxy)
    base_url: str | None = None
    # Resolved at load time from the environment or a .env file beside config.yaml, never from config.yaml:
    # X: SOCIALBOT_<ACCOUNT>_{CONSUMER_KEY,CONSUMER_SECRET,ACCESS_TOKEN,ACCESS_TOKEN_SECRET};
    # Bluesky: SOCIALBOT_<ACCOUNT>_APP_PASSWORD.
    credentials: XCredentials | BlueskyCredentials | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _default_server(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("platform") == "bluesky" and data.get("base_url") is None:
            return {**data, "base_url": BLUESKY_DEFAULT_SERVER}
        return data

    @field_validator("handle")
    @classmethod
    def _handle(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().removeprefix("@")
        platform = info.data.get("platform")
        if platform == "bluesky":
            value = value.lower()
            if len(value) > 253 or not _DOMAIN_HANDLE.fullmatch(value):
                raise ValueError(
                    "a Bluesky handle is a domain name such as 'shop.bsky.social' (dot-separated parts of letters, "
                    "digits and '-', without '@')"
                )
        elif platform is not None and not _X_HANDLE.fullmatch(value):
            raise ValueError("handle must be 1-15 letters, digits or '_' (without '@')")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError("base_url must start with http:// or https://")
        if value and info.data.get("platform") == "x":
            parts = urlsplit(value)
            if parts.scheme != "https" and parts.hostname not in _LOOPBACK_HOSTS:
                raise ValueError(
                    "base_url of an X account must start with https:// (http:// only for 127.0.0.1 or localhost): "
                    "the account's signed requests would cross the network unencrypted"
                )
        return value.rstrip("/") if value else value

    @property
    def network(self) -> str:
        """The platform people and posts of this account live on ('x' for the sandbox, which speaks X)."""
        return platform_name(self.platform)

    @property
    def needs_credentials(self) -> bool:
        """X and Bluesky accounts sign in; the sandbox needs nothing."""
        return self.platform in ("x", "bluesky")


def account_credentials(
    name: str, account: AccountConfig, environ: Mapping[str, str]
) -> tuple[XCredentials | BlueskyCredentials | None, list[str]]:
    """(credentials, []) when every variable of the account is set, else (None, the variables missing)."""
    fields = secret_fields(account.platform)
    names = credential_variables(name, account.platform)
    values = {field: environ.get(var, "").strip() for field, var in zip(fields, names, strict=True)}
    if all(values.values()):
        return (BlueskyCredentials(**values) if account.platform == "bluesky" else XCredentials(**values)), []
    return None, [var for var, field in zip(names, fields, strict=True) if not values[field]]
