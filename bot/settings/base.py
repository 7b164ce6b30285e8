"""What every part of the settings shares: the frozen model base, timezones, and where secrets are read from."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A section of config.yaml: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r} (use an IANA name such as 'Asia/Shanghai' or 'UTC')") from exc


def check_timezone(value: str | None) -> str | None:
    if value is not None:
        _zone(value)
    return value


def env_prefix(account: str) -> str:
    """SOCIALBOT_<ACCOUNT>_ with the account name upper-cased and every non-alphanumeric made '_'."""
    return "SOCIALBOT_" + re.sub(r"[^A-Z0-9]", "_", account.upper()) + "_"


def read_environment(config_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment merged over a `.env` file beside config.yaml (the environment wins)."""
    from dotenv import dotenv_values

    merged: dict[str, str] = {}
    dotenv_file = config_path.parent / ".env"
    if dotenv_file.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged
