"""Redemptions of coupon codes (imports and the webhook): each order once; unknown, expired or reused codes
recorded and never counted; the coupon of a counted one becomes redeemed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.base import Repository, utc_or_none
from bot.adapters.store.bulk import bulk, chunks, copy_in, processed_columns, select_in
from bot.adapters.store.tables import coupon_t, redemption_t
from bot.core.clock import ensure_utc
from bot.core.records import RedemptionLine, RedemptionResult, RedemptionStatus

_REDEEMABLE = ("issued", "delivered", "expired")  # an expired code still counts for an order placed in time
_PG_REDEMPTION_LOCK = 0x5EDE3B7  # advisory lock id: redemption recorders (imports, webhooks) take turns
_COUPON_COLUMNS = ("id", "code", "campaign", "state", "expires_at")
_REDEMPTION_COLUMNS = ("code", "order_id", "amount", "redeemed_at", "status", "coupon_id", "source", "imported_at")

_REDEEM = (
    sa.update(coupon_t)
    .where(
        coupon_t.c.id == sa.bindparam("coupon"),
        coupon_t.c.state.in_([sa.literal_column(f"'{s}'") for s in _REDEEMABLE]),
    )
    .values(
        state=sa.literal_column("'redeemed'"),
        redeemed_at=sa.bindparam("when", type_=coupon_t.c.redeemed_at.type),
        order_id=sa.bindparam("order", type_=coupon_t.c.order_id.type),
        amount=sa.bindparam("paid", type_=coupon_t.c.amount.type),
    )
)


def _redeem_unnest(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL: _REDEEM for every (coupon id, time, order id, amount) in one statement over arrays."""
    if not rows:
        return
    ids, times, orders, amounts = processed_columns(conn, coupon_t, ("id", "redeemed_at", "order_id", "amount"), rows)
    redeemable = ", ".join(f"'{s}'" for s in _REDEEMABLE)
    conn.exec_driver_sql(
        "UPDATE coupon SET state = 'redeemed', redeemed_at = v.at, order_id = v.ord, amount = v.paid "
        "FROM unnest(%s::integer[], %s::timestamptz[], %s::text[], %s::float8[]) AS v(id, at, ord, paid) "
        f"WHERE coupon.id = v.id AND coupon.state IN ({redeemable})",
        (list(ids), list(times), list(orders), list(amounts)),
    )


class RedemptionRepository(Repository):
    """redemption rows, and the coupons they redeem (store.redemptions)."""

    def record(self, lines: Sequence[RedemptionLine]) -> list[RedemptionResult]:
        """Each line in order, in ONE transaction: an order seen before (or earlier in `lines`) is a duplicate
        (nothing written); an unknown code, a code past its expiry at the order's time, or a code another order
        redeemed is recorded with that status and never counted; otherwise the coupon becomes redeemed.

        Set-based, for imports of a million lines: recorders take turns (an advisory lock on PostgreSQL, SQLite's
        write lock), the coupons and the orders already recorded are read up front, the redemption rows are
        inserted and the coupons updated together (_bulk), and the coupons read back: one that changed state
        meanwhile (`socialbot forget` voided it) makes its line `reused`, as a lost race always did."""
        c, r = coupon_t, redemption_t
        now = self._now()
        results: list[RedemptionResult] = []
        with self._tx("recording redemptions") as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_REDEMPTION_LOCK)))
            coupons: dict[str, tuple[int, str, str, datetime | None]] = {}  # code -> id, campaign, state, expiry
            found = select_in(conn, c, "code", {line.code for line in lines}, _COUPON_COLUMNS)
            for coupon_id, code, campaign, state, expires_at in found:
                coupons[code] = (coupon_id, campaign, state, utc_or_none(expires_at))
            recorded = {
                row[0] for row in select_in(conn, r, "order_id", {line.order_id for line in lines}, ["order_id"])
            }
            redeemed = {code for code, (_, _, state, _) in coupons.items() if state == "redeemed"}
            rows: list[tuple[Any, ...]] = []
            wins: dict[int, int] = {}  # coupon id -> position in results of the line that redeems it
            for line in lines:
                coupon = coupons.get(line.code)
                coupon_id, campaign, _, expires_at = coupon if coupon is not None else (None, None, None, None)
                if line.order_id in recorded:
                    results.append(RedemptionResult(line, RedemptionStatus.DUPLICATE, coupon_id))
                    continue
                recorded.add(line.order_id)
                when = line.time if line.time.tzinfo is UTC else ensure_utc(line.time)
                if coupon_id is None:
                    status = RedemptionStatus.UNKNOWN
                elif line.code in redeemed:
                    status = RedemptionStatus.REUSED
                elif expires_at is not None and when > expires_at:
                    status = RedemptionStatus.EXPIRED
                else:
                    status = RedemptionStatus.COUNTED
                    redeemed.add(line.code)
                    wins[coupon_id] = len(results)
                source = (line.source or "")[:300] or None
                rows.append((line.code, line.order_id, line.amount, when, status, coupon_id, source, now))
                results.append(RedemptionResult(line, status, coupon_id, campaign))
            winners = [results[at] for at in wins.values()]
            redeemed_rows = [(w.coupon_id, ensure_utc(w.line.time), w.line.order_id, w.line.amount) for w in winners]
            if self.dialect == "postgresql":
                copy_in(conn, r, _REDEMPTION_COLUMNS, rows)
                _redeem_unnest(conn, redeemed_rows)
            else:
                bulk(conn, sa.insert(r), _REDEMPTION_COLUMNS, rows)
                bulk(conn, _REDEEM, ("coupon", "when", "order", "paid"), redeemed_rows)
            lost: list[str] = []
            if self.dialect != "sqlite":  # SQLite: no other writer since the coupons were read (BEGIN IMMEDIATE)
                for coupon_id, state, order_id in select_in(conn, c, "id", wins, ("id", "state", "order_id")):
                    won = results[wins[coupon_id]]
                    if state != "redeemed" or order_id != won.line.order_id:  # `forget` voided it meanwhile
                        lost.append(won.line.order_id)
                        results[wins[coupon_id]] = RedemptionResult(
                            won.line, RedemptionStatus.REUSED, coupon_id, won.campaign
                        )
            for chunk in chunks(lost):
                conn.execute(sa.update(r).where(r.c.order_id.in_(chunk)).values(status=RedemptionStatus.REUSED))
        return results

    def find(self, *, status: str | None = None) -> list[Any]:
        r = redemption_t
        stmt = sa.select(r).order_by(r.c.id)
        if status is not None:
            stmt = stmt.where(r.c.status == status)
        with self._tx("reading redemptions") as conn:
            return list(conn.execute(stmt).all())
