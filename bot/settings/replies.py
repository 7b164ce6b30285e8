"""The `replies:` section of config.yaml: polling, intents, reply templates, caps, quiet hours, escalation."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from bot.core.durations import duration_value
from bot.settings.base import ConfigModel

UNANSWERED = "unanswered"
BUILTIN_INTENTS = ("opt_out", "complaint", "coupon_request", "question", "praise", "other")
DEFAULT_OPTOUT_WORDS = ("stop", "unsubscribe", "退订")
WEBHOOK_ENV = "SOCIALBOT_ESCALATION_WEBHOOK_URL"


class IntentRule(ConfigModel):
    """One intent. The list order in `replies.intents` is the precedence: the first rule that matches wins.

    A rule matches when any keyword or pattern matches (case- and width-insensitively, after NFKC), or when
    the sentiment score passes its bound (`sentiment_below` / `sentiment_above`, VADER compound scale -1..1).
    A rule with no keyword, pattern or bound matches everything (use it last, e.g. for `other`).
    """

    name: str
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)  # regular expressions
    sentiment_below: Annotated[float, Field(ge=-1, le=1)] | None = None
    sentiment_above: Annotated[float, Field(ge=-1, le=1)] | None = None
    reply: str | None = None  # template under templates_dir; none: no reply for this intent
    dm_reply: str | None = None  # template for answers by DM (default: `reply`)
    answer: str | None = None  # template used when the shop's own data answers the question (products, faq, sales)
    # true: also put it in the human inbox (and POST the webhook); "unanswered": only when the shop's data did not
    # answer it (a rule with an `answer` template), so a reply promising a follow-up always has an inbox item
    escalate: bool | Literal["unanswered"] = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError(f"intent name {value!r} must be lower_snake_case")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        if any(not str(word).strip() for word in value):
            raise ValueError("keywords must not be empty")
        return value


class Caps(ConfigModel):
    """Loop protection (against other bots) and politeness."""

    per_user_per_day: Annotated[int, Field(ge=0)] = 3  # 0: no cap
    per_conversation: Annotated[int, Field(ge=0)] = 2  # replies in one conversation; 0: no cap


class QuietHours(ConfigModel):
    """No replies between start and end (local time); replies wait until `end`. Opt-out confirmations too."""

    start: time
    end: time
    timezone: str | None = None  # default: Settings.timezone

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown timezone {value!r} (use an IANA name such as 'Asia/Shanghai')") from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end are the same time")
        return self


class Escalation(ConfigModel):
    """Complaints and rules with `escalate: true` go to the inbox (`socialbot inbox`)."""

    webhook: bool = False  # POST each new inbox item to $SOCIALBOT_ESCALATION_WEBHOOK_URL (a chat tool)
    timeout_seconds: Annotated[float, Field(gt=0)] = 5


def default_intents() -> list[IntentRule]:
    return [
        IntentRule(name="opt_out", keywords=list(DEFAULT_OPTOUT_WORDS), reply="replies/opt_out.j2"),
        IntentRule(
            name="complaint",
            keywords=["broken", "refund", "damaged", "never arrived", "worst", "投诉", "退款", "坏了", "差评"],
            sentiment_below=-0.5,
            reply="replies/complaint.j2",
            escalate=True,
        ),
        IntentRule(
            name="coupon_request",
            keywords=["coupon", "discount code", "promo code", "voucher", "优惠券", "折扣码"],
            reply="replies/coupon_request.j2",
        ),
        IntentRule(
            name="question",
            keywords=["how", "when", "where", "what", "do you", "can i", "吗", "怎么", "什么", "多久"],
            patterns=[r"\?|？"],
            reply="replies/question.j2",
        ),
        IntentRule(
            name="praise",
            keywords=["love", "thank", "great", "amazing", "喜欢", "谢谢", "好评"],
            sentiment_above=0.5,
            reply="replies/praise.j2",
        ),
        IntentRule(name="other"),
    ]


class RepliesConfig(ConfigModel):
    enabled: bool = True
    accounts: list[str] | None = None  # default: every account
    poll_seconds: Annotated[float, Field(gt=0)] = 60  # per account; the poller also paces itself by rate limits
    direct_messages: bool = True  # poll DMs (people who wrote first) and answer by DM
    optout_words: list[str] = Field(default_factory=list)  # on top of stop / unsubscribe / 退订
    intents: list[IntentRule] = Field(default_factory=default_intents)
    caps: Caps = Field(default_factory=Caps)
    quiet_hours: QuietHours | None = None
    escalation: Escalation = Field(default_factory=Escalation)
    # mentions/DMs older than this when first seen are stored (opt-outs recorded) but not answered, so a
    # first start or a long downtime does not answer a backlog; a duration ("24h", "90m", "2d"); null: no limit
    max_age: timedelta | None = timedelta(hours=24)

    @field_validator("max_age", mode="before")
    @classmethod
    def _max_age(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | timedelta):  # no bare numbers here
            raise ValueError(f"max_age must be a duration such as '24h' or '90m', not {value!r}")
        return duration_value(value, "max_age")

    @field_validator("max_age")
    @classmethod
    def _max_age_positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("max_age must be longer than zero (null: no limit)")
        return value

    @field_validator("intents")
    @classmethod
    def _intents(cls, value: list[IntentRule]) -> list[IntentRule]:
        names = [rule.name for rule in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"intent names must be unique: {', '.join(duplicates)}")
        if "opt_out" in names and names[0] != "opt_out":
            raise ValueError("opt_out must come first: an opt-out outranks every other intent")
        return value

    def rule(self, name: str) -> IntentRule | None:
        return next((r for r in self.intents if r.name == name), None)

    def templates(self) -> list[tuple[str, str]]:
        """(key path, template) for every reply template named, for checks."""
        found: list[tuple[str, str]] = []
        for index, rule in enumerate(self.intents):
            for field in ("reply", "dm_reply", "answer"):
                value: Any = getattr(rule, field)
                if value:
                    found.append((f"replies.intents.{index}.{field}", value))
        return found


def format_duration(value: timedelta) -> str:
    """A duration as config.yaml spells it: '24h', '1h30m', '90s'."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or f"{value.total_seconds():g}s"
