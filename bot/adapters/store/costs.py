"""The cost ledger (store.costs): one cost_call row per paid platform call, written by the platform adapters
through bot.core.ports.CostLedger, summed for the monthly cap, `socialbot costs` and /metrics."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

import sqlalchemy as sa

from bot.adapters.store.base import Repository
from bot.adapters.store.tables import cost_call_t, mention_t
from bot.core.clock import ensure_utc
from bot.core.costs import PaidCall

CHUNK = 5000


@dataclass(frozen=True, slots=True)
class CostTotal:
    """The calls of one account, day (in the zone asked for) and purpose."""

    account: str
    day: date
    purpose: str
    calls: int
    items: int
    usd: float


class CostRepository(Repository):
    """cost_call rows (store.costs); bot.core.ports.CostLedger."""

    def record(self, account: str, platform: str, endpoint: str, purpose: str, items: int, usd: float) -> None:
        """One call, now (bot.core.ports.CostLedger; the daemon's cap buffers and uses record_many)."""
        self.record_many([PaidCall(self._now(), account, platform, endpoint, purpose, items, usd)])

    def record_many(self, calls: Sequence[PaidCall]) -> None:
        """Several calls at once, each with its own time (the cap buffers them: bot.domains.costs.cap)."""
        if not calls:
            return
        rows = [
            {
                "account": c.account,
                "platform": c.platform,
                "day": ensure_utc(c.at).strftime("%Y-%m-%d"),
                "at": ensure_utc(c.at),
                "endpoint": c.endpoint,
                "purpose": c.purpose,
                "items": c.items,
                "usd": c.usd,
            }
            for c in calls
        ]
        with self._tx("recording paid calls") as conn:
            conn.execute(sa.insert(cost_call_t), rows)

    def spend(self, start: datetime, end: datetime, *, account: str | None = None) -> dict[str, float]:
        """Account -> USD recorded in [start, end)."""
        c = cost_call_t.c
        stmt = (
            sa.select(c.account, sa.func.sum(c.usd))
            .where(c.at >= ensure_utc(start), c.at < ensure_utc(end))
            .group_by(c.account)
        )
        if account is not None:
            stmt = stmt.where(c.account == account)
        with self._tx("reading the spend") as conn:
            return {str(name): float(total or 0.0) for name, total in conn.execute(stmt)}

    def calls(self, start: datetime, end: datetime, *, account: str | None = None) -> Iterator[PaidCall]:
        """The calls recorded in [start, end), oldest first."""
        c = cost_call_t.c
        stmt = (
            sa.select(c.account, c.platform, c.at, c.endpoint, c.purpose, c["items"], c.usd)
            .where(c.at >= ensure_utc(start), c.at < ensure_utc(end))
            .order_by(c.at, c.id)
        )
        if account is not None:
            stmt = stmt.where(c.account == account)
        with self._tx("reading the cost ledger") as conn:
            result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(stmt)
            for row in result:
                m = row._mapping
                yield PaidCall(
                    at=ensure_utc(m["at"]),
                    account=str(m["account"]),
                    platform=str(m["platform"]),
                    endpoint=str(m["endpoint"]),
                    purpose=str(m["purpose"]),
                    items=int(m["items"]),
                    usd=float(m["usd"]),
                )

    def totals(self, start: datetime, end: datetime, zone: tzinfo) -> list[CostTotal]:
        """Calls, items and USD per account, day in `zone` and purpose, in [start, end)."""
        sums: dict[tuple[str, date, str], list[float]] = {}
        for call in self.calls(start, end):
            key = (call.account, call.at.astimezone(zone).date(), call.purpose)
            entry = sums.setdefault(key, [0, 0, 0.0])
            entry[0] += 1
            entry[1] += call.items
            entry[2] += call.usd
        return [
            CostTotal(account, day, purpose, int(n), int(items), usd)
            for (account, day, purpose), (n, items, usd) in sorted(sums.items())
        ]

    def reply_intents(self, account: str, keys: Iterable[str]) -> dict[str, str]:
        """Outbox key -> the intent of the mention or DM that reply answers (complaint, opt_out, ...)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        m = mention_t.c
        out: dict[str, str] = {}
        with self._tx("reading the intents of replies") as conn:
            for start in range(0, len(wanted), 500):
                stmt = sa.select(m.reply_key, m.intent).where(
                    m.account == account, m.reply_key.in_(wanted[start : start + 500])
                )
                out.update({str(key): str(intent) for key, intent in conn.execute(stmt) if intent})
        return out
