"""The `campaigns:` section: what to post where, on which schedule (cron, interval or fixed times), in which window."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.core.durations import parse_duration
from bot.settings.base import ConfigModel, check_timezone
from bot.settings.cronspec import CronSyntaxError, validate_cron
from bot.settings.dates import check_date_text
from bot.settings.products import Product


def _as_datetime(value: Any, *, end_of_day: bool = False) -> Any:
    """YAML gives dates for '2026-11-01'; a date-only window end means the whole of that day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        moment = datetime.combine(value, time())
        return moment + timedelta(days=1) if end_of_day else moment
    check_date_text(value)  # "2026-02-30": the plain reason, not Python's
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return _as_datetime(date.fromisoformat(value.strip()), end_of_day=end_of_day)
    return value


def localize(moment: datetime, zone: ZoneInfo) -> datetime:
    """Naive values are wall-clock times in `zone`; aware values are converted to it."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


class CronSchedule(ConfigModel):
    cron: str  # five-field crontab, e.g. "0 10 * * 1-5" (0 = Sunday, as in crontab)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            return validate_cron(value)
        except CronSyntaxError as exc:
            raise ValueError(f"bad cron expression {value!r}: {exc}") from exc


class IntervalSchedule(ConfigModel):
    interval: Annotated[str, Field(description="e.g. '30m', '2h', '1d', '90s', '1h30m'")]
    start: datetime | None = None  # anchor; default: the campaign window start or midnight today

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> Any:
        if isinstance(value, str):
            parse_duration(value)
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        return _as_datetime(value)

    @property
    def every(self) -> timedelta:
        return parse_duration(self.interval)


class TimesSchedule(ConfigModel):
    # naive values are in the campaign's timezone; each item validated on its own (a problem names its index)
    times: Annotated[list[Annotated[datetime, BeforeValidator(_as_datetime)]], Field(min_length=1)]


def _schedule_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {CronSchedule: "cron", IntervalSchedule: "interval", TimesSchedule: "times"}.get(type(value))
    if isinstance(value, dict):
        kinds = [k for k in ("cron", "interval", "times") if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return None


Schedule = Annotated[
    Annotated[CronSchedule, Tag("cron")]
    | Annotated[IntervalSchedule, Tag("interval")]
    | Annotated[TimesSchedule, Tag("times")],
    Discriminator(
        _schedule_kind,
        custom_error_type="schedule_kind",
        custom_error_message="schedule needs exactly one of 'cron', 'interval' or 'times'",
    ),
]


class CampaignConfig(ConfigModel):
    account: str | None = None  # exactly one of `account` and `accounts`
    accounts: list[str] | None = None  # several accounts, on one platform or several: one post each per slot
    template: str  # file under templates_dir; <stem>.<platform>.j2 beside it, when present, for that platform
    schedule: Schedule
    start: datetime | None = None  # window, in the campaign timezone when naive; a date means its midnight
    end: datetime | None = None  # exclusive; a date-only end means the end of that day
    timezone: str | None = None  # default: Settings.timezone
    products: list[Product] = Field(default_factory=list)
    products_csv: Path | None = None  # relative to config.yaml's folder; merged into `products` at load
    utm: dict[str, str] = Field(default_factory=dict)  # source/medium/campaign/content/term
    hashtags: list[str] = Field(default_factory=list)
    currency: str | None = None  # default: Settings.currency
    enabled: bool = True
    extra: dict[str, Any] = Field(default_factory=dict)  # free data for the template

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("accounts must name at least one account")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"account {repeated[0]!r} is listed twice")
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        return _as_datetime(value)

    @field_validator("end", mode="before")
    @classmethod
    def _end(cls, value: Any) -> Any:
        return _as_datetime(value, end_of_day=True)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("template must name a file under templates_dir")
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("template must be a path inside templates_dir (no absolute paths or '..')")
        return value

    @field_validator("utm", mode="before")
    @classmethod
    def _utm(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        allowed = {"source", "medium", "campaign", "content", "term", "id"}
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            short = str(key).removeprefix("utm_")
            if short not in allowed:
                raise ValueError(f"unknown UTM parameter {key!r}; use one of {', '.join(sorted(allowed))}")
            cleaned[short] = item
        return cleaned

    @model_validator(mode="after")
    def _one_way_to_name_accounts(self) -> CampaignConfig:
        if (self.account is None) == (self.accounts is None):
            raise PydanticCustomError(
                "campaign_accounts",
                "a campaign needs exactly one of 'account' (one account) or 'accounts' (a list)",
            )
        return self

    @property
    def targets(self) -> tuple[str, ...]:
        """The accounts that post this campaign, in config order."""
        if self.accounts is not None:
            return tuple(self.accounts)
        return (self.account,) if self.account is not None else ()

    @property
    def multi_account(self) -> bool:
        """Declared with `accounts:`: a slot is one outbox row per account, key campaign:<name>:<account>:<slot>."""
        return self.accounts is not None

    @model_validator(mode="after")
    def _window(self) -> CampaignConfig:
        if self.start is not None and self.end is not None:
            start, end = self.start, self.end
            if (start.tzinfo is None) != (end.tzinfo is None):
                zone = ZoneInfo("UTC")
                start, end = localize(start, zone), localize(end, zone)
            if not start < end:
                raise PydanticCustomError(
                    "window",
                    "start ({start}) must be before end ({end})",
                    {"start": str(self.start), "end": str(self.end)},
                )
        return self
