"""Mentions, DMs, their authors, the interactions between people, opt-outs and the human inbox, as records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.core.models import User


class Outcome:
    """How an incoming mention or DM ended: exactly one of these, stored with it.

    ANSWERED: a reply is in the outbox (its key is stored), nobody else needs to act;
    HANDED_OVER: an inbox item waits for a person (its reason is stored; a reply may acknowledge it);
    NOT_ANSWERED: not answered on purpose, the reason names the rule that decided."""

    ANSWERED = "answered"
    HANDED_OVER = "handed_over"
    NOT_ANSWERED = "not_answered"
    ALL = (ANSWERED, HANDED_OVER, NOT_ANSWERED)


FROM_DATA = "answered from the shop's data"  # the reason stored with a question the shop's data answered


class InboxStatus:
    OPEN = "open"
    RESOLVED = "resolved"


SET_ASIDE = "set_aside"  # the intent of an inbox item for a mention or DM that could not be processed


def reply_key(mention_id: str) -> str:
    return f"reply:{mention_id}"


def dm_reply_key(event_id: str) -> str:
    return f"dm-reply:{event_id}"


@dataclass(frozen=True)
class UserRecord:
    platform: str
    user_id: str
    username: str | None = None
    name: str | None = None
    followers_count: int | None = None  # None: unknown (a stored count is kept)

    @classmethod
    def of(cls, platform: str, user: User) -> UserRecord:
        return cls(platform, user.id, user.username or None, user.name or None, user.followers)


@dataclass(frozen=True)
class SocialUser:
    """A stored person: what UserRecords said of them, and when they were first and last seen."""

    platform: str
    user_id: str
    username: str | None
    name: str | None
    first_seen: datetime
    last_seen: datetime
    followers_count: int | None = None


@dataclass(frozen=True)
class MentionRecord:
    """A mention (kind mention) or DM (kind dm) with how it ended (an Outcome) and why."""

    account: str
    platform: str
    kind: str
    platform_id: str
    text: str
    outcome: str
    author_id: str | None = None
    created_at: datetime | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    replied_to_id: str | None = None
    quoted_id: str | None = None
    mentions: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    intent: str | None = None
    sentiment: float | None = None
    language: str | None = None
    summoned: bool = False
    reason: str | None = None
    reply_key: str | None = None
    seen_at: datetime | None = None


@dataclass(frozen=True)
class Exchange:
    """One message of a customer and what came of it: our reply's text and outbox state, when there is a reply."""

    mention: MentionRecord
    reply_text: str | None = None
    reply_state: str | None = None


@dataclass(frozen=True)
class InteractionRecord:
    platform: str
    source_user_id: str
    target_user_id: str
    kind: str  # mention | reply | quote | dm | like | retweet
    post_id: str
    created_at: datetime


@dataclass(frozen=True)
class ReplyRecord:
    """An outbox row answering a mention (kind reply) or a DM (kind dm)."""

    key: str
    account: str
    kind: str
    text: str
    in_reply_to_id: str | None = None
    recipient_id: str | None = None
    not_before: datetime | None = None
    target_platform: str | None = None  # None: not cancelled when the person opted out (the confirmation)
    target_user_id: str | None = None


@dataclass(frozen=True)
class InboxRecord:
    account: str
    platform: str
    kind: str
    mention_id: str
    text: str
    user_id: str | None = None
    username: str | None = None
    intent: str | None = None
    webhook: bool = False  # a webhook POST is wanted (webhook_status starts 'pending')
    reason: str | None = None  # why a person must look: "complaint", "a question the shop's data does not answer"


@dataclass(frozen=True)
class InboxItem:
    id: int
    account: str
    platform: str
    kind: str
    mention_id: str
    user_id: str | None
    username: str | None
    intent: str | None
    text: str
    created_at: datetime
    status: str
    resolved_at: datetime | None
    note: str | None
    webhook_status: str | None
    reason: str | None = None


@dataclass(frozen=True)
class OptOutRecord:
    platform: str
    user_id: str | None
    username: str | None
    reason: str | None = None


@dataclass(frozen=True)
class OptOut:
    id: int
    platform: str
    user_id: str | None
    username: str | None
    reason: str | None
    created_at: datetime


@dataclass
class UnitWrites:
    """What one mention unit wrote (the new rows only)."""

    mentions: int = 0
    replies: int = 0
    inbox_ids: list[int] = field(default_factory=list)
    optouts: int = 0
