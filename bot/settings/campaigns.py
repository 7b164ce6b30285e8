"""The `campaigns:` section: what to post where, on which schedule (cron, interval, fixed times or the best times the
post readings show), in which window, how a template's variants are chosen (rotation, or `learn`) and which
product a slot names (rotation, or `pick: interest` for a community or segment)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
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


def one_of(field: str, value: Any, options: dict[str, str]) -> Any:
    """`value` when it is one of `options` (name -> what it means, '' when the name says it), else a ValueError
    that lists them: "pick must be 'rotate' (the products in turn) or 'interest' (what the target wants), not 'x'"."""
    if isinstance(value, str) and value in options:
        return value
    named = [f"'{name}'" + (f" ({meaning})" if meaning else "") for name, meaning in options.items()]
    listed = f"{', '.join(named[:-1])} or {named[-1]}" if len(named) > 1 else named[0]
    raise ValueError(f"{field} must be {listed}, not {value!r}")


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


WITHIN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class BestTimesSchedule(ConfigModel):
    """`{best_times: N, per: day|week, within: "09:00-22:00"}`: N slots a day (or a week), on the hours the best-time
    model ranks highest inside `within` (shop-local wall time, start inclusive, end exclusive; slots fall on the
    hour). Each period's slots are fixed before it starts (bot.domains.outcomes.schedule)."""

    best_times: int
    per: Literal["day", "week"] = "day"
    within: str = "09:00-22:00"

    @field_validator("best_times", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"best_times must be a whole number of slots, at least 1, not {value!r}")
        return value

    @field_validator("per", mode="before")
    @classmethod
    def _per(cls, value: Any) -> Any:
        return one_of("per", value, {"day": "", "week": ""})

    @field_validator("within", mode="before")
    @classmethod
    def _within(cls, value: Any) -> Any:
        found = WITHIN.match(value) if isinstance(value, str) else None
        if found is None:
            raise ValueError(f'within must be a time range such as "09:00-22:00", not {value!r}')
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"within {value!r} names a time that does not exist (00:00 to 24:00)")
        if h1 * 60 + m1 >= h2 * 60 + m2:
            raise ValueError(f"within {value!r}: the start must be before the end (on the same day)")
        return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"

    @property
    def hours(self) -> tuple[int, ...]:
        """The whole hours inside `within` (a slot at h:00 with start <= h:00 < end)."""
        h1, m1, h2, m2 = (int(g) for g in WITHIN.match(self.within).groups())  # type: ignore[union-attr]
        return tuple(h for h in range(24) if h1 * 60 + m1 <= h * 60 < h2 * 60 + m2)

    @property
    def days(self) -> int:
        return 1 if self.per == "day" else 7

    @model_validator(mode="after")
    def _room(self) -> BestTimesSchedule:
        room = len(self.hours) * self.days
        if self.best_times > room:
            raise PydanticCustomError(
                "best_times_room",
                "best_times {n} per {per} do not fit in {within}: it holds {room} whole hour(s) per {per}",
                {"n": self.best_times, "per": self.per, "within": self.within, "room": room},
            )
        return self


_KINDS = {CronSchedule: "cron", IntervalSchedule: "interval", TimesSchedule: "times", BestTimesSchedule: "best_times"}


def _schedule_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _KINDS.get(type(value))
    if isinstance(value, dict):
        kinds = [k for k in _KINDS.values() if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return None


Schedule = Annotated[
    Annotated[CronSchedule, Tag("cron")]
    | Annotated[IntervalSchedule, Tag("interval")]
    | Annotated[TimesSchedule, Tag("times")]
    | Annotated[BestTimesSchedule, Tag("best_times")],
    Discriminator(
        _schedule_kind,
        custom_error_type="schedule_kind",
        custom_error_message="schedule needs exactly one of 'cron', 'interval', 'times' or 'best_times'",
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
    # rotate: slot after slot through the template's variants; learn: a Thompson-sampling bandit on the engagement
    # rate of the campaign's posts per variant (bot/domains/outcomes/bandit.py), each variant kept at a floor
    variants: Literal["rotate", "learn"] = "rotate"
    # what `learn` maximises: engagement per impression; revenue per impression from the orders its UTM links
    # brought (segments.orders_csv); auto: revenue once enough of the campaign's orders are attributed to its posts
    learn_on: Literal["auto", "engagement", "revenue"] = "auto"
    # which product a slot names: rotate (products in turn) or interest (the one the target's people order and talk
    # about most, blended with popularity so a new product is still tried: bot/domains/audience/interests.py)
    pick: Literal["rotate", "interest"] = "rotate"
    community: int | str | None = None  # pick: interest for a community: its number or words of its name
    segment: int | str | None = None  # pick: interest for a segment: its id or label (latest segmentation)

    @field_validator("variants", mode="before")
    @classmethod
    def _variants(cls, value: Any) -> Any:
        return one_of("variants", value, {"rotate": "the default: in turn", "learn": "the bandit"})

    @field_validator("learn_on", mode="before")
    @classmethod
    def _learn_on(cls, value: Any) -> Any:
        options = {"auto": "revenue once orders are attributed, else engagement", "engagement": "", "revenue": ""}
        return one_of("learn_on", value, options)

    @field_validator("pick", mode="before")
    @classmethod
    def _pick(cls, value: Any) -> Any:
        return one_of("pick", value, {"rotate": "the products in turn", "interest": "what the target wants"})

    @field_validator("community", "segment", mode="before")
    @classmethod
    def _target(cls, value: Any) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | str)):
            raise ValueError(f"must be a number or a name, not {value!r}")
        if isinstance(value, int) and value < 0:
            raise ValueError(f"must be 0 or more, not {value}")
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _interest_target(self) -> CampaignConfig:
        if self.community is not None and self.segment is not None:
            raise PydanticCustomError("campaign_target", "a campaign targets one of 'community' or 'segment', not both")
        if self.pick != "interest" and (self.community is not None or self.segment is not None):
            raise PydanticCustomError(
                "campaign_target",
                "'community' and 'segment' choose whose interests pick the product: add 'pick: interest'",
            )
        return self

    @property
    def interest_target(self) -> tuple[str, int | str | None]:
        """("community", ref) | ("segment", ref) | ("everyone", None)."""
        if self.community is not None:
            return "community", self.community
        if self.segment is not None:
            return "segment", self.segment
        return "everyone", None

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
