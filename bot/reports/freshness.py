"""How old an analysis is, in words the team reads: "analysed 3 hours ago (14:05); 1,240 interactions arrived
since", the time in the shop's time zone. No heavy imports: the CLI prints these lines."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.ports import GraphStore, SegmentStore
    from bot.core.records import SegmentRun, Snapshot
    from bot.domains.audience.freshness import Freshness


def ago(age: timedelta) -> str:
    """'just now', '1 minute ago', '3 hours ago', '2 days ago' (whole units, rounded down)."""
    seconds = max(age.total_seconds(), 0.0)
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"  # (not reached)


def moment(at: datetime, now: datetime, tz: tzinfo) -> str:
    """The time in the shop's time zone: '14:05' today, '2026-11-18 14:05' on another day."""
    local = at.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return f"{local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def interactions(n: int) -> str:
    return f"{n:,} interaction{'' if n == 1 else 's'}"


def freshness_text(freshness: Freshness, *, now: datetime, tz: tzinfo, done: str = "analysed") -> str:
    """One line: when the analysis was made (`done`: "analysed", "segmented") and what arrived since; or that
    there is none yet, and how much is waiting for it."""
    if freshness.at is None:
        stored = f"{interactions(freshness.arrived)} stored so far" if freshness.arrived else "no interactions stored"
        return f"not {done} yet; {stored}"
    arrived = (
        f"{interactions(freshness.arrived)} arrived since" if freshness.arrived else "no interactions arrived since"
    )
    return f"{done} {ago(now - freshness.at)} ({moment(freshness.at, now, tz)}); {arrived}"


def snapshot_freshness(store: GraphStore, snapshot: Snapshot, *, now: datetime, tz: tzinfo) -> str:
    """The line for a graph snapshot (the latest or an older one): its age and the interactions stored since."""
    from bot.domains.audience.freshness import freshness_of

    return freshness_text(freshness_of(store, snapshot.created_at, snapshot.stats), now=now, tz=tz)


def run_freshness(store: SegmentStore, run: SegmentRun, *, now: datetime, tz: tzinfo) -> str:
    """The line for a segmentation: its age and the interactions stored since."""
    from bot.domains.audience.freshness import freshness_of

    return freshness_text(freshness_of(store, run.created_at, run.stats), now=now, tz=tz, done="segmented")
