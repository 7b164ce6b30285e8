"""The demo's JSON summary: what the daemon did, read back from its database."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from bot.domains.costs import month_range
from bot.domains.outcomes.report import build_report


def summary(daemon: Any, requests: dict[str, Any]) -> dict[str, Any]:
    from bot.adapters.store import Store
    from bot.core.models import POSTS_BUCKET

    assert daemon.settings is not None
    store = Store.open(daemon.settings.database_url)
    try:
        counts = store.outbox.summary()
        talk = store.mentions.summary()
        outcomes = store.mentions.outcomes()
        unkept = promises_without_inbox(store)
        waits = [store.rate_limits.blocked_until(account, POSTS_BUCKET) for account in daemon.settings.accounts]
        now = daemon.clock.now()
        rate_limited_until = max((w for w in waits if w is not None and w > now), default=None)
        month = month_range(now, daemon.settings.tz)
        spend_usd = round(sum(store.costs.spend(*month).values()), 4)
        best = best_hours(store, daemon.settings.tz, now)
        sent, metrics_read = store.outbox.items(state="sent", limit=200), store.post_metrics.count()
        recent = [
            {"campaign": item.campaign, "text": item.text, "remote_id": item.remote_id}
            for item in sent
            if item.campaign
        ][:5]
        replies = [
            {"to": item.in_reply_to_id or item.recipient_id, "text": item.text} for item in sent if not item.campaign
        ][:5]
    finally:
        store.close()
    return {
        "posts_published": int(counts.get("posts_published", 0)),
        "posts_failed": int(counts.get("posts_failed", 0)),
        "posts_pending": int(counts.get("posts_pending", 0)),
        "posts_rate_limited_until": rate_limited_until.isoformat() if rate_limited_until else None,
        "slots": {state: int(n) for state, n in dict(counts.get("slots") or {}).items() if n},
        "mentions_seen": sum(outcomes.values()),
        "mentions_by_outcome": outcomes,
        "replies_sent": talk["replies_sent"],
        "escalations": talk["escalations"],
        "answered_from_data": talk["answered_from_data"],
        "promises_without_inbox": unkept,
        "optouts": talk["optouts"],
        "post_metrics_read": metrics_read,
        "best_hours": best,  # per account, the model's three best weekday hours in the shop's time zone
        "spend_usd": spend_usd,  # what the paid X calls cost this month (the cost ledger)
        "sandbox_requests": requests,
        "recent_posts": recent,
        "recent_replies": replies,
    }


def promises_without_inbox(store: Any) -> int:
    """Replies that promise a person will follow up (bot.settings.promises) to a message nobody was handed: 0."""
    from bot.core.records import Outcome
    from bot.settings.promises import find_promises

    unkept = 0
    for mention in store.mentions.listing(limit=None):
        if mention.reply_key and mention.outcome != Outcome.HANDED_OVER:
            reply = store.outbox.item(key=mention.reply_key)
            if reply is not None and find_promises(reply.text):
                unkept += 1
    return unkept


def best_hours(store: Any, zone: tzinfo, now: datetime, n: int = 3) -> dict[str, list[str]]:
    """Account -> its n best weekday hours ("Tue 20:00") by the best-time model over the readings so far."""
    report = build_report(store.outcomes, zone, now)
    return {account: [b.when for b in model.best_hours(n)] for account, model in sorted(report.models.items())}
