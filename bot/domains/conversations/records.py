"""What is stored of an incoming item: its mention row, and the interaction edges of the audience graph."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from bot.core.models import User
from bot.core.records import InteractionRecord, MentionRecord
from bot.domains.conversations.incoming import Incoming


def mention_record(
    account: str,
    net: str,
    item: Incoming,
    intent: Any,
    summoned: bool,
    seen_at: datetime,
    outcome: tuple[str, str | None, str | None],
) -> MentionRecord:
    """The mention (or DM) row; `outcome` is (Outcome, reason, reply key)."""
    result, reason, key = outcome
    return MentionRecord(
        account=account,
        platform=net,
        kind=item.kind,
        platform_id=item.id,
        text=item.text,
        outcome=result,
        reason=reason,
        reply_key=key,
        author_id=item.author_id,
        created_at=item.created_at,
        conversation_id=item.conversation_id,
        in_reply_to_user_id=item.in_reply_to_user_id,
        replied_to_id=item.replied_to_id,
        quoted_id=item.quoted_id,
        mentions=list(item.mentions),
        hashtags=list(item.hashtags),
        urls=list(item.urls),
        intent=intent.name,
        sentiment=float(intent.sentiment),
        language=intent.language,
        summoned=summoned,
        seen_at=seen_at,
    )


def interactions(
    net: str,
    item: Incoming,
    me: User,
    by_name: Mapping[str, str],
    own: Collection[str],
    now: datetime,
    mentioned: set[str],
) -> list[InteractionRecord]:
    """The edges from the item's author: a DM or a mention of the account, mentions of other known users (added
    to `mentioned`), a reply to someone, a quote of one of the account's posts; each edge once."""
    author = item.author_id
    assert author is not None
    at = item.created_at or now
    edges: list[tuple[str, str]] = []
    if item.kind == "dm":
        edges.append(("dm", me.id))
    else:
        edges.append(("mention", me.id))
        for name in item.mentions:
            uid = by_name.get(name.lstrip("@").lower())
            if uid is not None and uid not in (author, me.id):
                edges.append(("mention", uid))
                mentioned.add(uid)
        if item.in_reply_to_user_id and item.in_reply_to_user_id != author:
            edges.append(("reply", item.in_reply_to_user_id))
        if item.quoted_id and item.quoted_id in own:
            edges.append(("quote", me.id))
    records: list[InteractionRecord] = []
    seen: set[tuple[str, str]] = set()
    for edge in edges:
        if edge not in seen:
            seen.add(edge)
            records.append(InteractionRecord(net, author, edge[1], edge[0], item.id, at))
    return records
