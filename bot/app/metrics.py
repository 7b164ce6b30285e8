"""Liveness for operators: `/metrics` (Prometheus text) and `/healthz` on 127.0.0.1, read from the store at
scrape time. The only module that imports prometheus_client.

/healthz answers 503 with its reasons when a due outbox row waits longer than OVERDUE_MINUTES past its time,
when an account's queue grows faster than it drains so that at the pace of the last BACKLOG_WINDOW_SECONDS
its last message would be that late, when an account's mentions poll has not completed for
3 x replies.poll_seconds, when an account is paused after a credentials error, or when a mention or DM could
not be processed and was set aside for a person: posts and replies that should have gone out but did not are
visible, never silent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.adapters.localserver import Limits, LocalServer, Request, Response, Route, json_response

if TYPE_CHECKING:
    from bot.adapters.store import Store
    from bot.adapters.store.health import Flow
    from bot.core.clock import Clock
    from bot.core.ports import Platform
    from bot.domains.audience.freshness import Freshness
    from bot.domains.costs import CapStatus
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

OVERDUE_MINUTES = 5.0  # a due outbox row (or an abandoned attempt) waiting longer than this fails /healthz
BACKLOG_WINDOW_SECONDS = 120.0  # the pace of an account's queue: what arrived and what was sent in this window
BACKLOG_MIN_DUE = 10  # fewer due rows than this are never called a growing backlog
POLL_STALE_FACTOR = 3  # a mentions poll older than this many replies.poll_seconds fails /healthz
PREFIX = "socialbot"


class Monitored(Protocol):
    """What the metrics read from a running daemon (bot.app.daemon.Daemon)."""

    store: Store | None
    settings: Settings | None
    platforms: dict[str, Platform]
    clock: Clock
    started_at: datetime | None
    poll_times: dict[str, datetime]  # account -> when its last mentions poll finished

    def polled_accounts(self) -> list[str]: ...


@dataclass
class Reading:
    """One consistent look at the store and the daemon, shared by /metrics and /healthz."""

    now: datetime
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, state) -> rows
    overdue: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # account -> (rows, oldest due time)
    slots: dict[tuple[str, str], int] = field(default_factory=dict)  # (campaign, state) -> slots
    paused: dict[str, str] = field(default_factory=dict)  # account -> reason
    rate_limits: dict[tuple[str, str], tuple[int | None, datetime | None]] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)  # account -> due now, arrived and sent in the window
    set_aside: dict[str, int] = field(default_factory=dict)  # account -> messages set aside, not yet resolved
    outcomes: dict[str, int] = field(default_factory=dict)  # outcome -> mentions and DMs that ended so
    polls: dict[str, datetime | None] = field(default_factory=dict)  # polled account -> last finished poll
    poll_seconds: float = 0.0
    graph_at: datetime | None = None
    segments_at: datetime | None = None
    freshness: dict[str, Freshness] = field(default_factory=dict)  # "graph", "segments" -> age, arrivals since
    spend: dict[str, CapStatus] = field(default_factory=dict)  # account -> this month's spend and the cap

    def warnings(self) -> list[str]:
        """What /healthz says without failing: accounts past costs.warn_at of their monthly cap."""
        return [state.describe(account) for account, state in sorted(self.spend.items()) if state.warned]

    def problems(self) -> list[str]:
        """Why the daemon is unhealthy (empty: healthy)."""
        reasons: list[str] = []
        for account, (count, oldest) in sorted(self.overdue.items()):
            minutes = (self.now - oldest).total_seconds() / 60
            reasons.append(
                f"account {account}: {count} outbox row(s) overdue (the oldest was due {minutes:.1f} min ago)"
            )
        limit = POLL_STALE_FACTOR * self.poll_seconds
        for account, last in sorted(self.polls.items()):
            if last is not None and (self.now - last).total_seconds() > limit:
                age = (self.now - last).total_seconds()
                reasons.append(f"account {account}: mentions poll overdue (last finished {age:.0f} s ago)")
        for account, reason in sorted(self.paused.items()):
            reasons.append(f"account {account}: paused ({reason})")
        for account, flow in sorted(self.flows.items()):
            if account not in self.overdue and account not in self.paused and (late := self.falling_behind(flow)):
                reasons.append(f"account {account}: {late}")
        for account, count in sorted(self.set_aside.items()):
            reasons.append(
                f"account {account}: {count} message(s) could not be processed and wait for a person (socialbot inbox)"
            )
        return reasons

    def falling_behind(self, flow: Flow) -> str | None:
        """Why this account's queue will make messages late, before any is: it grows faster than it drains and,
        at the pace of the last window, its last due message would go out more than OVERDUE_MINUTES late."""
        if flow.due < BACKLOG_MIN_DUE or flow.arrived <= flow.sent or flow.oldest_due is None:
            return None
        window = f"in the last {BACKLOG_WINDOW_SECONDS / 60:g} min {flow.arrived} arrived and {flow.sent} went out"
        if flow.sent == 0:
            return f"{flow.due} messages due and none sent ({window})"
        waited = (self.now - flow.oldest_due).total_seconds()
        drain = flow.due * BACKLOG_WINDOW_SECONDS / flow.sent
        if waited + drain <= OVERDUE_MINUTES * 60:
            return None
        return (
            f"{flow.due} messages due and the queue grows ({window}); at this pace the last would go out "
            f"{(waited + drain) / 60:.0f} min late"
        )


def read(daemon: Monitored) -> Reading:
    """Read what the endpoints report: a few grouped, indexed queries and the daemon's in-memory state."""
    store, settings = daemon.store, daemon.settings
    now = daemon.clock.now()
    reading = Reading(now)
    if store is None or settings is None:
        return reading
    health = store.health.read(
        now - timedelta(minutes=OVERDUE_MINUTES), now=now, window_start=now - timedelta(seconds=BACKLOG_WINDOW_SECONDS)
    )
    reading.outbox, reading.overdue, reading.slots = health.outbox, health.overdue, health.slots
    reading.flows, reading.set_aside = health.flows, health.set_aside
    reading.outcomes = store.mentions.outcomes()
    reading.rate_limits = dict(health.rate_limits)
    reading.paused = {s.account: s.paused_reason for s in store.accounts.states() if s.paused_reason}
    for name, platform in list(daemon.platforms.items()):
        for status in platform.rate_limits():
            reading.rate_limits[(name, status.endpoint)] = (status.remaining, status.reset_at)
    reading.poll_seconds = float(settings.replies.poll_seconds)
    started = daemon.started_at or now
    for account in daemon.polled_accounts():
        reading.polls[account] = daemon.poll_times.get(account, started)
    from bot.domains.audience.freshness import graph_freshness, segments_freshness

    if settings.graph.enabled:
        reading.freshness["graph"] = graph_freshness(store)
        reading.graph_at = reading.freshness["graph"].at
    if settings.segments.enabled:
        reading.freshness["segments"] = segments_freshness(store)
        reading.segments_at = reading.freshness["segments"].at
    from bot.domains.costs import spend_by_account, status

    costs = settings.costs
    for account, spent in spend_by_account(store.costs, settings.accounts, now, settings.tz).items():
        reading.spend[account] = status(spent, costs.monthly_cap_usd, costs.warn_at)
    return reading


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


class DaemonCollector(Collector):
    """Prometheus metrics computed from the store at each scrape."""

    def __init__(self, daemon: Monitored) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[GaugeMetricFamily]:
        reading = read(self.daemon)
        yield from metric_families(reading)


def metric_families(reading: Reading) -> Iterator[GaugeMetricFamily]:
    def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)

    states = ("pending", "sending", "sent", "failed", "cancelled")
    accounts = sorted({a for a, _ in reading.outbox} | set(reading.paused) | set(reading.polls))
    items = gauge("outbox_items", "Outbox rows by account and state (failed = dead letters).", ["account", "state"])
    published = gauge("published", "Messages sent (outbox rows in state sent).", ["account"])
    pending = gauge("pending", "Messages waiting to go out (pending or being sent).", ["account"])
    dead = gauge("dead_letters", "Messages given up on (outbox rows in state failed).", ["account"])
    for account in accounts:
        counts = {state: reading.outbox.get((account, state), 0) for state in states}
        for state, count in counts.items():
            items.add_metric([account, state], count)
        published.add_metric([account], counts["sent"])
        pending.add_metric([account], counts["pending"] + counts["sending"])
        dead.add_metric([account], counts["failed"])
    yield from (items, published, pending, dead)

    overdue = gauge(
        "overdue", f"Due outbox rows waiting more than {OVERDUE_MINUTES:g} min past their time.", ["account"]
    )
    oldest = gauge("overdue_seconds", "How long the oldest overdue row has waited past its time.", ["account"])
    for account in accounts:
        count, due = reading.overdue.get(account, (0, None))
        overdue.add_metric([account], count)
        oldest.add_metric([account], (reading.now - due).total_seconds() if due is not None else 0.0)
    yield from (overdue, oldest)

    due = gauge("outbox_due", "Outbox rows due now (their time has come) and not yet sent.", ["account"])
    arrived = gauge(
        "outbox_arrived_recent", f"Outbox rows created in the last {BACKLOG_WINDOW_SECONDS:g} s.", ["account"]
    )
    sent = gauge("outbox_sent_recent", f"Outbox rows sent in the last {BACKLOG_WINDOW_SECONDS:g} s.", ["account"])
    aside = gauge("set_aside", "Mentions and DMs that could not be processed, waiting for a person.", ["account"])
    for account in sorted({*accounts, *reading.flows, *reading.set_aside}):
        flow = reading.flows.get(account)
        due.add_metric([account], flow.due if flow is not None else 0)
        arrived.add_metric([account], flow.arrived if flow is not None else 0)
        sent.add_metric([account], flow.sent if flow is not None else 0)
        aside.add_metric([account], reading.set_aside.get(account, 0))
    yield from (due, arrived, sent, aside)

    ended = gauge(
        "mentions",
        "Mentions and DMs by how they ended: answered, handed_over (to a person) or not_answered (on purpose).",
        ["outcome"],
    )
    for outcome, count in sorted(reading.outcomes.items()):
        ended.add_metric([outcome], count)
    yield ended

    slots = gauge(
        "campaign_slots", "Campaign slots by state (missed, failed, skipped: never posted).", ["campaign", "state"]
    )
    for (campaign, state), count in sorted(reading.slots.items()):
        slots.add_metric([campaign, state], count)
    yield slots

    paused = gauge("account_paused", "1 when the account is paused after a credentials error.", ["account"])
    for account in accounts:
        paused.add_metric([account], 1.0 if account in reading.paused else 0.0)
    yield paused

    last_poll = gauge("last_poll_timestamp_seconds", "When the account's last mentions poll finished.", ["account"])
    poll_age = gauge("last_poll_age_seconds", "Seconds since the account's last mentions poll finished.", ["account"])
    for account, at in sorted(reading.polls.items()):
        last_poll.add_metric([account], _ts(at))
        poll_age.add_metric([account], (reading.now - at).total_seconds() if at is not None else 0.0)
    yield from (last_poll, poll_age)

    remaining = gauge("rate_limit_remaining", "Requests left in the rate-limit window.", ["account", "endpoint"])
    reset = gauge("rate_limit_reset_timestamp_seconds", "When the rate-limit window resets.", ["account", "endpoint"])
    for (account, endpoint), (left, reset_at) in sorted(reading.rate_limits.items()):
        if left is not None:
            remaining.add_metric([account, endpoint], left)
        reset.add_metric([account, endpoint], _ts(reset_at))
    yield from (remaining, reset)

    graph = gauge("graph_snapshot_timestamp_seconds", "When the last audience-graph snapshot was taken.", [])
    graph.add_metric([], _ts(reading.graph_at))
    segments = gauge("segment_run_timestamp_seconds", "When the audience was last segmented.", [])
    segments.add_metric([], _ts(reading.segments_at))
    for what, doc in (("graph", "audience-graph snapshot"), ("segments", "segmentation of the audience")):
        fresh = reading.freshness.get(what)
        age = gauge(f"{what}_snapshot_age_seconds", f"Age of the latest {doc} (absent while there is none).", [])
        since = gauge(
            f"{what}_interactions_since_snapshot",
            f"Interactions stored since the latest {doc} began (all of them while there is none).",
            [],
        )
        if fresh is not None:
            if (seconds := fresh.age(reading.now)) is not None:
                age.add_metric([], seconds.total_seconds())
            since.add_metric([], fresh.arrived)
        yield from (age, since)
    spend = gauge("spend_usd", "What the paid platform calls of the account cost this month (USD).", ["account"])
    for account, state in sorted(reading.spend.items()):
        spend.add_metric([account], state.spent)
    yield spend
    healthy = gauge("healthy", "1 when /healthz answers 200.", [])
    healthy.add_metric([], 0.0 if reading.problems() else 1.0)
    yield from (graph, segments, healthy)


def _metrics_route(server: MetricsServer) -> Callable[[Request], Response]:
    def answer(request: Request) -> Response:
        try:
            if request.path.rstrip("/") == "/metrics":
                return Response(200, generate_latest(server.registry), CONTENT_TYPE_LATEST)
            status, payload = server.health()
            return json_response(status, payload)
        except Exception as exc:
            logger.exception("metrics: answering %s failed", request.path)
            return json_response(503, {"status": "error", "reasons": [f"reading the daemon's state failed: {exc}"]})

    return answer


class MetricsServer(LocalServer):
    """`/metrics` and `/healthz` for one daemon, in a daemon thread."""

    def __init__(self, daemon: Monitored, port: int = 0, host: str = "127.0.0.1", limits: Limits | None = None) -> None:
        answer = _metrics_route(self)
        routes = [Route("/metrics", answer), Route("/healthz", answer)]
        super().__init__("metrics", routes, host=host, port=port, limits=limits, refusal_level=logging.DEBUG)
        self.daemon = daemon
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DaemonCollector(daemon))

    def health(self) -> tuple[int, dict[str, Any]]:
        reading = read(self.daemon)
        reasons = reading.problems()
        overdue = {account: count for account, (count, _due) in reading.overdue.items()}
        details = {
            "now": reading.now.isoformat(),
            "pending": sum(n for (_a, state), n in reading.outbox.items() if state in ("pending", "sending")),
            "dead_letters": sum(n for (_a, state), n in reading.outbox.items() if state == "failed"),
            "overdue": overdue,
            "last_poll": {a: at.isoformat() if at else None for a, at in reading.polls.items()},
            "paused": reading.paused,
            "spend_usd": {a: round(s.spent, 4) for a, s in reading.spend.items()},
            "spending_stopped": {a: list(s.stopped) for a, s in reading.spend.items() if s.stopped},
            "warnings": reading.warnings(),
        }
        if reasons:
            return 503, {"status": "failing", "reasons": reasons, **details}
        return 200, {"status": "ok", **details}


def serve_metrics(
    daemon: Monitored, port: int, *, host: str = "127.0.0.1", limits: Limits | None = None
) -> MetricsServer:
    """Start `/metrics` and `/healthz` in a daemon thread (port 0: a free one); `.stop()` to end it."""
    return MetricsServer(daemon, port, host, limits).start()
