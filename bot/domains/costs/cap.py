"""The monthly cap on what paid platform calls cost (config.yaml `costs:`), per account and calendar month in the
shop's time zone.

Near the cap, spending stops purpose by purpose in bot.core.costs.STOP_ORDER: each purpose stops once the month's
spend reaches its share of the cap (STOP_AT, the one place the shares are declared), so metric and engagement reads
stop first, then campaign posts, then replies; answers to complaints and opt-out confirmations go on until the cap
itself. Calls for no named purpose (the account's identity, looking up a send whose outcome is unknown) are never
stopped. At `warn_at` of the cap a warning is logged (once a month per account) and shown by /healthz; each stop
is logged once, and so is each purpose that resumes (the cap raised, a new month).

The SpendingCap is also the adapters' cost ledger (bot.core.ports.CostLedger): it records each call in the store
and adds it to the month's total it keeps, so the next question sees it at once; the total is read again from the
store every REFRESH (calls recorded by other daemons).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from bot.core.clock import Clock
from bot.core.costs import COMPLAINT, ENGAGEMENT, METRICS, OPT_OUT, OTHER, PROMOTION, REPLY, STOP_ORDER, PaidCall
from bot.core.records import OutboxItem

logger = logging.getLogger(__name__)

# the share of the monthly cap at which each purpose stops (in STOP_ORDER; the last ones at the cap itself)
STOP_AT: dict[str, float] = {
    METRICS: 0.85,
    ENGAGEMENT: 0.90,
    PROMOTION: 0.95,
    REPLY: 0.98,
    COMPLAINT: 1.0,
    OPT_OUT: 1.0,
}
LABELS: dict[str, str] = {
    METRICS: "post metric reads",
    ENGAGEMENT: "engagement reads (likes, reposts, quotes)",
    PROMOTION: "campaign posts and coupon DMs",
    REPLY: "replies, and reading mentions and DMs",
    COMPLAINT: "answers to complaints",
    OPT_OUT: "opt-out confirmations",
    OTHER: "other calls (the account itself, checking sends)",
}
REFRESH = timedelta(seconds=30)
# recorded calls are written in one transaction at least this often, and whenever this many wait (a transaction per
# call cost a quarter of the outbox's send rate); a crash of the daemon loses at most these unwritten rows
FLUSH_SECONDS = 0.5
FLUSH_ROWS = 200
REPLY_PREFIXES = ("reply:", "dm-reply:")


class CostRows(Protocol):
    """What the cap reads and writes (bot.adapters.store.costs.CostRepository)."""

    def record_many(self, calls: Sequence[PaidCall]) -> None: ...

    def spend(self, start: datetime, end: datetime, *, account: str | None = None) -> dict[str, float]: ...

    def reply_intents(self, account: str, keys: Iterable[str]) -> dict[str, str]: ...


class CostsSettings(Protocol):
    """What the cap reads from bot.settings.costs.CostsConfig."""

    @property
    def monthly_cap_usd(self) -> float | None: ...

    @property
    def warn_at(self) -> float: ...


def month_range(moment: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The calendar month holding `moment` in `zone`: (its first instant, the next month's), aware."""
    local = moment.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    following = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=zone)
    return start, following


def month_of(year: int, month: int, zone: tzinfo) -> tuple[datetime, datetime]:
    """`socialbot costs --month YYYY-MM`: that month in `zone`."""
    return month_range(datetime(year, month, 15, 12, tzinfo=zone), zone)


@dataclass(frozen=True)
class CapStatus:
    """One account's month: what it spent, the cap, whether it passed the warning, what is stopped now."""

    spent: float
    cap: float | None
    warn_at: float
    stopped: tuple[str, ...] = ()

    @property
    def share(self) -> float | None:
        if self.cap is None:
            return None
        return 1.0 if self.cap <= 0 else self.spent / self.cap

    @property
    def warned(self) -> bool:
        return self.share is not None and self.share >= self.warn_at

    def describe(self, account: str) -> str:
        """In words, for the log, /healthz and `socialbot costs`."""
        if self.cap is None:
            return f"account {account}: {usd(self.spent)} spent this month (no monthly cap)"
        share = self.share or 0.0
        text = f"account {account}: {usd(self.spent)} of the {usd(self.cap)} monthly cap spent ({share:.0%})"
        if self.stopped:
            text += "; stopped until the cap is raised or the month ends: " + ", ".join(LABELS[p] for p in self.stopped)
        return text


def usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.3f}"


def status(spent: float, cap: float | None, warn_at: float) -> CapStatus:
    """What the cap means at this spend: the purposes whose share of the cap is reached are stopped."""
    if cap is None:
        return CapStatus(spent, None, warn_at)
    stopped = tuple(p for p in STOP_ORDER if spent >= STOP_AT[p] * cap)
    return CapStatus(spent, cap, warn_at, stopped)


def purpose_of(item: OutboxItem, intent: str | None) -> str:
    """Why an outbox row is sent: a campaign post or a coupon DM promotes; a reply (or DM reply) answers, and is
    a complaint's answer or an opt-out's confirmation by the intent of the message it answers (an opt-out's
    confirmation also reaches no target: that opt-out must not cancel it)."""
    if item.kind == "post" or not item.key.startswith(REPLY_PREFIXES):
        return PROMOTION
    if intent == "opt_out" or (intent is None and item.target_user_id is None):
        return OPT_OUT
    if intent == "complaint":
        return COMPLAINT
    return REPLY


class SpendingCap:
    """bot.core.ports.SpendingGate and CostLedger for one daemon (see the module docstring)."""

    def __init__(self, rows: CostRows, costs: CostsSettings, zone: tzinfo, clock: Clock) -> None:
        self.rows = rows
        self.costs = costs
        self.zone = zone
        self.clock = clock
        self._lock = threading.Lock()
        self._totals: dict[str, tuple[datetime, float, datetime]] = {}  # account -> (month start, usd, read at)
        self._said: dict[tuple[str, datetime], set[str]] = {}  # (account, month) -> "warn" and stopped purposes
        self._pending: list[PaidCall] = []  # recorded, not written yet
        self._timer: threading.Timer | None = None
        self._flushing = threading.Lock()
        self._failing = False

    def use(self, costs: CostsSettings, zone: tzinfo) -> None:
        """A reloaded config: the new cap applies to the next question."""
        with self._lock:
            self.costs, self.zone = costs, zone
            self._totals.clear()

    # ---- CostLedger -----------------------------------------------------------------------------
    def record(self, account: str, platform: str, endpoint: str, purpose: str, items: int, usd: float) -> None:
        call = PaidCall(self.clock.now(), account, platform, endpoint, purpose, items, usd)
        with self._lock:
            self._pending.append(call)
            held = self._totals.get(account)
            if held is not None:
                month, total, read_at = held
                self._totals[account] = (month, total + usd, read_at)
            full = len(self._pending) >= FLUSH_ROWS
            if not full and self._timer is None:
                self._timer = threading.Timer(FLUSH_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if full:
            self.flush()

    def flush(self) -> None:
        """Write the recorded calls (one transaction); on a database failure they wait for the next flush."""
        with self._flushing:
            with self._lock:
                calls, self._pending = self._pending, []
                timer, self._timer = self._timer, None
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            if not calls:
                return
            try:
                self.rows.record_many(calls)
            except Exception as exc:
                if not self._failing:
                    logger.warning("cost ledger: %d paid call(s) cannot be written yet (%s); retrying", len(calls), exc)
                self._failing = True
                with self._lock:
                    self._pending[:0] = calls  # written with the next call's flush, or at close
                return
            if self._failing:
                logger.info("cost ledger: written again")
                self._failing = False

    def close(self) -> None:
        """Write what waits (the daemon's stop)."""
        self.flush()

    # ---- SpendingGate ---------------------------------------------------------------------------
    def spent(self, account: str) -> float:
        """Month-to-date USD of `account` (the shop's time zone)."""
        now = self.clock.now()
        start, end = month_range(now, self.zone)
        with self._lock:
            held = self._totals.get(account)
            if held is not None and held[0] == start and now - held[2] < REFRESH:
                return held[1]
        self.flush()  # the store's sum holds this daemon's calls too
        total = self.rows.spend(start, end, account=account).get(account, 0.0)
        with self._lock:
            self._totals[account] = (start, total, now)
        return total

    def status(self, account: str) -> CapStatus:
        return status(self.spent(account), self.costs.monthly_cap_usd, self.costs.warn_at)

    def may_spend(self, account: str, purpose: str) -> bool:
        if self.costs.monthly_cap_usd is None or purpose not in STOP_AT:
            return True
        now = self.clock.now()
        state = self.status(account)
        self._tell(account, month_range(now, self.zone)[0], state)
        return purpose not in state.stopped

    def purposes(self, account: str, items: Sequence[OutboxItem]) -> dict[str, str]:
        """Outbox key -> purpose for rows of `account` (the intents of the replies' messages: one query)."""
        replies = [i.key for i in items if i.kind != "post" and i.key.startswith(REPLY_PREFIXES)]
        intents = self.rows.reply_intents(account, replies) if replies else {}
        return {i.key: purpose_of(i, intents.get(i.key)) for i in items}

    def _tell(self, account: str, month: datetime, state: CapStatus) -> None:
        """Log the warning and each stop once a month, and each purpose that resumes."""
        with self._lock:
            said = self._said.setdefault((account, month), set())
            news = []
            if state.warned and "warn" not in said:
                said.add("warn")
                news.append(("warn", None))
            for purpose in STOP_ORDER:
                if purpose in state.stopped and purpose not in said:
                    said.add(purpose)
                    news.append(("stop", purpose))
                elif purpose not in state.stopped and purpose in said:
                    said.discard(purpose)
                    news.append(("resume", purpose))
        for what, purpose in news:
            if what == "warn":
                logger.warning("spending: %s (warning at %.0f%%)", state.describe(account), 100 * state.warn_at)
            elif what == "stop" and purpose is not None:
                logger.warning(
                    "spending: %s stopped for account %s at %.0f%% of the monthly cap (%s of %s spent)",
                    LABELS[purpose],
                    account,
                    100 * STOP_AT[purpose],
                    usd(state.spent),
                    usd(state.cap or 0.0),
                )
            elif purpose is not None:
                logger.info("spending: %s resume (%s)", LABELS[purpose], state.describe(account))


def spend_by_account(rows: CostRows, accounts: Iterable[str], now: datetime, zone: tzinfo) -> Mapping[str, float]:
    """Month-to-date USD of each account (0 for one with no calls), for /metrics and the demo."""
    start, end = month_range(now, zone)
    found = rows.spend(start, end)
    return {account: found.get(account, 0.0) for account in sorted({*accounts, *found})}
