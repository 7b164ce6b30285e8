"""Settings: pydantic models for config.yaml plus secrets from the environment.

`load_config(path)` parses the YAML with line numbers (bot.settings.yamlpos), validates it with the models below,
checks what the models cannot see on their own (account references, template files, product CSVs,
credentials) and raises one ConfigError listing every Problem with file, line and key path.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.core.errors import ConfigError, Problem
from bot.core.models import platform_name
from bot.settings.coupons import CouponsConfig
from bot.settings.cronspec import CronSyntaxError, validate_cron
from bot.settings.graph import GraphConfig
from bot.settings.replies import RepliesConfig, default_intents
from bot.settings.segments import SegmentsConfig
from bot.settings.yamlpos import KeyPath, LineMap, YamlSyntaxError, load_with_lines

logger = logging.getLogger(__name__)

CREDENTIAL_FIELDS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
BLUESKY_PASSWORD_FIELD = "app_password"
BLUESKY_DEFAULT_SERVER = "https://bsky.social"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
PLATFORMS = ("x", "sandbox", "bluesky")
SECRET_MESSAGE = "secrets belong in the environment, not config.yaml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_SECRETISH = re.compile(r"(token|secret|password|passwd|bearer|api_?key|consumer_?key|(^|_)key$|^credentials$)", re.I)
_X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
# a domain handle (atproto): dot-separated labels of letters, digits and '-', the last one not starting with a digit
_DOMAIN_HANDLE = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
_INTERVAL = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>w|d|h|m|s)", re.I)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


# ----------------------------------------------------------------------------------------- helpers


def parse_interval(text: str) -> timedelta:
    """'90s', '30m', '2h', '1d', '1w' or combinations like '1h30m' -> timedelta (must be > 0)."""
    compact = str(text).strip().replace(" ", "").lower()
    if not compact:
        raise ValueError("interval is empty")
    position, seconds, seen = 0, 0.0, set()
    for match in _INTERVAL.finditer(compact):
        if match.start() != position:
            break
        unit = match.group("unit")
        if unit in seen:
            raise ValueError(f"interval {text!r} repeats the unit {unit!r}")
        seen.add(unit)
        seconds += float(match.group("n")) * _UNIT_SECONDS[unit]
        position = match.end()
    if position != len(compact):
        raise ValueError(f"cannot read interval {text!r}; use e.g. '90s', '30m', '2h', '1d' or '1h30m'")
    if seconds <= 0:
        raise ValueError(f"interval {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def env_prefix(account: str) -> str:
    """SOCIALBOT_<ACCOUNT>_ with the account name upper-cased and every non-alphanumeric made '_'."""
    return "SOCIALBOT_" + re.sub(r"[^A-Z0-9]", "_", account.upper()) + "_"


def credential_variables(account: str, platform: str = "x") -> list[str]:
    """The environment variables holding an account's secrets: X's four OAuth values, or Bluesky's app password."""
    prefix = env_prefix(account)
    fields = (BLUESKY_PASSWORD_FIELD,) if platform == "bluesky" else CREDENTIAL_FIELDS
    return [prefix + name.upper() for name in fields]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r} (use an IANA name such as 'Asia/Shanghai' or 'UTC')") from exc


def _check_timezone(value: str | None) -> str | None:
    if value is not None:
        _zone(value)
    return value


def _as_datetime(value: Any, *, end_of_day: bool = False) -> Any:
    """YAML gives dates for '2026-11-01'; a date-only window end means the whole of that day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        moment = datetime.combine(value, time())
        return moment + timedelta(days=1) if end_of_day else moment
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return _as_datetime(date.fromisoformat(value.strip()), end_of_day=end_of_day)
    return value


def localize(moment: datetime, zone: ZoneInfo) -> datetime:
    """Naive values are wall-clock times in `zone`; aware values are converted to it."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


# ------------------------------------------------------------------------------------------ models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class XCredentials(_Model):
    """OAuth 1.0a user context (consumer key/secret + access token/secret), from the environment only."""

    consumer_key: str = Field(repr=False)
    consumer_secret: str = Field(repr=False)
    access_token: str = Field(repr=False)
    access_token_secret: str = Field(repr=False)


class BlueskyCredentials(_Model):
    """A Bluesky app password (Settings -> Privacy and security -> App passwords), from the environment only."""

    app_password: str = Field(repr=False)


class AccountConfig(_Model):
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


class CronSchedule(_Model):
    cron: str  # five-field crontab, e.g. "0 10 * * 1-5" (0 = Sunday, as in crontab)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            return validate_cron(value)
        except CronSyntaxError as exc:
            raise ValueError(f"bad cron expression {value!r}: {exc}") from exc


class IntervalSchedule(_Model):
    interval: Annotated[str, Field(description="e.g. '30m', '2h', '1d', '90s', '1h30m'")]
    start: datetime | None = None  # anchor; default: the campaign window start or midnight today

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> Any:
        if isinstance(value, str):
            parse_interval(value)
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        return _as_datetime(value)

    @property
    def every(self) -> timedelta:
        return parse_interval(self.interval)


class TimesSchedule(_Model):
    times: Annotated[list[datetime], Field(min_length=1)]  # naive values are in the campaign's timezone

    @field_validator("times", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        return [_as_datetime(v) for v in value] if isinstance(value, list) else value


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


class Product(_Model):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    price: float | None = None
    url: str | None = None


class CampaignConfig(_Model):
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
        return _check_timezone(value)

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


class DeliveryConfig(_Model):
    per_account_per_day: Annotated[int, Field(ge=0)] | None = 50  # None/0: no limit (posts only)
    min_spacing_seconds: Annotated[float, Field(ge=0)] = 60  # between two posts of one account; 0: off
    max_attempts: Annotated[int, Field(ge=1)] = 8  # then dead-lettered
    backoff_base_seconds: Annotated[float, Field(gt=0)] = 5
    backoff_max_seconds: Annotated[float, Field(gt=0)] = 900
    lease_seconds: Annotated[float, Field(gt=0)] = 60
    grace_minutes: Annotated[float, Field(ge=0)] = 15  # a slot missed while down is sent late only within this
    poll_seconds: Annotated[float, Field(gt=0)] = 2  # how often the daemon looks for due outbox rows


class Settings(_Model):
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
    coupons: CouponsConfig = Field(default_factory=CouponsConfig)
    # set by load_config, not by the file:
    config_path: Path = Field(default=Path("config.yaml"), exclude=True)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        _check_timezone(value)
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


# ------------------------------------------------------------------------------------------ loading


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


class _Collector:
    def __init__(self, file: Path, lines: LineMap) -> None:
        self.file = str(file)
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str, *, prefer_key: bool = False) -> None:
        line = self.lines.line_of(path, prefer_key=prefer_key)
        self.problems.append(Problem(self.file, line, _dotted(path), message))


def _clean_loc(loc: tuple[str | int, ...], data: Any, error_type: str) -> KeyPath:
    """Drop pydantic's union tags and validator names so the loc matches the YAML key path."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif last and error_type == "missing":
            path.append(part)
        else:
            continue
    if error_type == "window":
        path.append("end")
    if error_type == "campaign_accounts" and isinstance(current, dict) and "accounts" in current:
        path.append("accounts")  # both given: point at the list
    return tuple(path)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see docs/config.md)"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if kind not in ("value_error", "window", "schedule_kind", "campaign_accounts") and "input" in error:
        shown = repr(error["input"])
        if len(shown) <= 60 and not isinstance(error["input"], dict | list):
            message += f" (got {shown})"
    return message


def _pull_secrets(data: dict[str, Any], out: _Collector) -> None:
    """Remove secret-looking keys from the account sections (and top level), each reported once."""
    sections: list[tuple[KeyPath, dict[str, Any]]] = [((), data)]
    accounts = data.get("accounts")
    if isinstance(accounts, dict):
        sections += [(("accounts", name), acc) for name, acc in accounts.items() if isinstance(acc, dict)]
    for path, section in sections:
        for key in list(section):
            if isinstance(key, str) and _SECRETISH.search(key) and key not in ("accounts",):
                hint = _env_hint(path, section)
                out.add((*path, key), f"{SECRET_MESSAGE} (set {hint} instead)", prefer_key=True)
                del section[key]


def _env_hint(path: KeyPath, section: Mapping[str, Any]) -> str:
    if len(path) == 2 and path[0] == "accounts":
        platform = section.get("platform")
        return ", ".join(credential_variables(str(path[1]), platform if isinstance(platform, str) else "x"))
    return "SOCIALBOT_<ACCOUNT>_* variables"


def _resolve_database_url(url: str, base: Path) -> str:
    match = re.match(r"^(sqlite(?:\+\w+)?):///(?P<rest>[^?]*)(?P<query>\?.*)?$", url)
    if not match:
        return url
    rest = match.group("rest")
    if not rest or rest == ":memory:" or rest.startswith("/") or rest.startswith("file:"):
        return url
    return f"{match.group(1)}:///{(base / rest).resolve()}{match.group('query') or ''}"


def _cross_checks(data: dict[str, Any], base: Path, out: _Collector) -> None:
    """Checks the models cannot do alone. Run on the raw data so they report even when typing fails."""
    accounts = data.get("accounts") if isinstance(data.get("accounts"), dict) else {}
    templates_dir = data.get("templates_dir", "templates")
    templates_root = base / templates_dir if isinstance(templates_dir, str) else None
    if templates_root is not None and not templates_root.is_dir():
        out.add(("templates_dir",), f"templates folder {templates_root} does not exist")
        templates_root = None
    _cross_check_replies(data.get("replies"), accounts, templates_root, out)
    _cross_check_coupons(data.get("coupons"), accounts, templates_root, base, out)
    campaigns = data.get("campaigns")
    if not isinstance(campaigns, dict):
        return
    for name, campaign in campaigns.items():
        if not isinstance(campaign, dict):
            continue
        known = ", ".join(sorted(map(str, accounts))) or "none defined"
        account = campaign.get("account")
        if isinstance(account, str) and account not in accounts:
            out.add(("campaigns", name, "account"), f"unknown account {account!r} (accounts: {known})")
        named = campaign.get("accounts")
        if isinstance(named, list):
            for index, item in enumerate(named):
                if isinstance(item, str) and item not in accounts:
                    out.add(("campaigns", name, "accounts", index), f"unknown account {item!r} (accounts: {known})")
        template = campaign.get("template")
        if templates_root is not None and isinstance(template, str) and template.strip():
            candidate = templates_root / template
            if not candidate.is_file():
                out.add(("campaigns", name, "template"), f"template {template!r} not found in {templates_root}")


def _cross_check_replies(
    replies: Any, accounts: Mapping[str, Any], templates_root: Path | None, out: _Collector
) -> None:
    """replies.accounts name real accounts; when replies are on, every reply template exists."""
    if not isinstance(replies, dict):
        return
    named = replies.get("accounts")
    if isinstance(named, list):
        for index, account in enumerate(named):
            if isinstance(account, str) and account not in accounts:
                known = ", ".join(sorted(map(str, accounts))) or "none defined"
                out.add(("replies", "accounts", index), f"unknown account {account!r} (accounts: {known})")
    if templates_root is None or replies.get("enabled", True) is False:
        return
    explicit = "intents" in replies
    intents = replies["intents"] if explicit else [rule.model_dump() for rule in default_intents()]
    if not isinstance(intents, list):
        return
    for index, rule in enumerate(intents):
        if not isinstance(rule, dict):
            continue
        for field in ("reply", "dm_reply"):
            template = rule.get(field)
            if isinstance(template, str) and template.strip() and not (templates_root / template).is_file():
                key: KeyPath = ("replies", "intents", index, field) if explicit else ("replies",)
                out.add(key, f"reply template {template!r} not found in {templates_root}")


def _cross_check_coupons(
    coupons: Any, accounts: Mapping[str, Any], templates_root: Path | None, base: Path, out: _Collector
) -> None:
    """Coupon campaigns name real accounts, templates and code pools."""
    if not isinstance(coupons, dict) or not isinstance(coupons.get("campaigns"), dict):
        return
    known = ", ".join(sorted(map(str, accounts))) or "none defined"
    for name, campaign in coupons["campaigns"].items():
        if not isinstance(campaign, dict):
            continue
        key: KeyPath = ("coupons", "campaigns", name)
        account = campaign.get("account")
        if isinstance(account, str) and account not in accounts:
            out.add((*key, "account"), f"unknown account {account!r} (accounts: {known})")
        template = campaign.get("template", "coupons/coupon.j2")
        if templates_root is not None and isinstance(template, str) and not (templates_root / template).is_file():
            out.add((*key, "template"), f"coupon template {template!r} not found in {templates_root}")
        pool = campaign.get("codes_csv")
        if isinstance(pool, str) and pool.strip() and not (base / pool).is_file():
            out.add((*key, "codes_csv"), f"codes CSV {base / pool} not found")


def _load_products(campaign: CampaignConfig, key: KeyPath, out: _Collector) -> list[Product]:
    from bot.settings.products import read_products_csv  # small helper module, CSV only

    assert campaign.products_csv is not None
    rows, row_problems = read_products_csv(campaign.products_csv)
    if row_problems and all(p.line is None for p in row_problems):
        # the file itself is unusable: report it at the config key
        for problem in row_problems:
            out.add((*key, "products_csv"), problem.message)
        return []
    for problem in row_problems:
        out.problems.append(Problem(problem.file, problem.line, _dotted((*key, "products_csv")), problem.message))
    return rows


def _credentials(settings: Settings, merged_env: Mapping[str, str], out: _Collector, *, required: bool) -> Settings:
    for name, account in settings.accounts.items():
        bluesky = account.platform == "bluesky"
        names = credential_variables(name, account.platform)
        fields = (BLUESKY_PASSWORD_FIELD,) if bluesky else CREDENTIAL_FIELDS
        values = {field: merged_env.get(var, "").strip() for field, var in zip(fields, names, strict=True)}
        if all(values.values()):
            credentials = BlueskyCredentials(**values) if bluesky else XCredentials(**values)
            settings = settings.with_account(name, credentials=credentials)
        elif account.platform in ("x", "bluesky") and required:
            missing = [var for var, field in zip(names, fields, strict=True) if not values[field]]
            what = "an app password" if bluesky else "credentials"
            out.add(
                ("accounts", name),
                f"{'Bluesky' if bluesky else 'X'} account needs {what} in the environment or .env: "
                f"missing {', '.join(missing)}",
                prefer_key=True,
            )
    return settings


def missing_credentials(settings: Settings) -> dict[str, list[str]]:
    """X and Bluesky accounts without credentials -> the variables to set (for `check`'s warnings)."""
    return {
        name: credential_variables(name, account.platform)
        for name, account in settings.accounts.items()
        if account.platform in ("x", "bluesky") and account.credentials is None
    }


def read_environment(config_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment merged over a `.env` file beside config.yaml (the environment wins)."""
    from dotenv import dotenv_values

    merged: dict[str, str] = {}
    dotenv_file = config_path.parent / ".env"
    if dotenv_file.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def load_config(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = True,
) -> Settings:
    """Load, validate and resolve config.yaml; raise ConfigError listing every problem (file, line, key).

    `environ` defaults to os.environ and is merged over a `.env` file beside config.yaml.
    With `require_credentials=False` (check, preview, schedule) X accounts without credentials load
    with `credentials=None`; `missing_credentials(settings)` lists them.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise ConfigError([Problem(file, None, "", "config file not found" if not path.exists() else "not a file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, None, "", f"cannot read the file: {exc}")]) from exc
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise ConfigError([Problem(file, exc.line, "", exc.message)]) from exc
    if data is None:
        raise ConfigError([Problem(file, 1, "", "the file is empty; it needs at least 'accounts:'")])
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, 1, "", "the top level must be a mapping of settings (key: value)")])

    out = _Collector(path, lines)
    for dup_path, dup_line in lines.duplicates:
        out.problems.append(Problem(file, dup_line, _dotted(dup_path), "duplicate key (the later one would win)"))
    _pull_secrets(data, out)
    base = path.resolve().parent
    _cross_checks(data, base, out)

    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            key = _clean_loc(tuple(error["loc"]), data, error["type"])
            out.add(
                key, _message(error), prefer_key=error["type"] in ("extra_forbidden", "missing", "campaign_accounts")
            )

    if settings is not None:
        settings = _resolve(settings, path, out)
        settings = _credentials(settings, read_environment(path, environ), out, required=require_credentials)

    if out.problems:
        problems = sorted(_unique(out.problems), key=lambda p: (p.file != file, p.file, p.line or 0))
        raise ConfigError(problems)
    assert settings is not None
    logger.debug("loaded %s: %d accounts, %d campaigns", path, len(settings.accounts), len(settings.campaigns))
    return settings


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    result = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            result.append(problem)
    return result


def _resolve(settings: Settings, path: Path, out: _Collector) -> Settings:
    base = path.resolve().parent
    campaigns: dict[str, CampaignConfig] = {}
    for name, campaign in settings.campaigns.items():
        if campaign.products_csv is not None:
            csv_path = campaign.products_csv if campaign.products_csv.is_absolute() else base / campaign.products_csv
            campaign = campaign.model_copy(update={"products_csv": csv_path})
            rows = _load_products(campaign, ("campaigns", name), out)
            campaign = campaign.model_copy(update={"products": [*campaign.products, *rows]})
        campaigns[name] = campaign
    templates_dir = settings.templates_dir if settings.templates_dir.is_absolute() else base / settings.templates_dir
    return settings.model_copy(
        update={
            "campaigns": campaigns,
            "templates_dir": templates_dir,
            "database_url": _resolve_database_url(settings.database_url, base),
            "config_path": path.resolve(),
        }
    )
