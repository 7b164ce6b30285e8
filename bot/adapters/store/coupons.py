"""Coupons: issuance exactly once per person and campaign within budget, and their delivery state.

Issuance locks the campaign's `coupon_budget` row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN
IMMEDIATE serialises every writer) and, in the same transaction, checks who already has a row, inserts the
batch's coupon rows and bumps the counters: two daemons, threads or a crash between batches can neither
double a person nor overrun the budget. UNIQUE(campaign, platform, user_id) and UNIQUE(code) back it up.
Redemptions: bot/adapters/store/redemptions.py.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.base import Repository, utc_or_none
from bot.adapters.store.bulk import chunks
from bot.adapters.store.keys import user_hash, username_hash
from bot.adapters.store.rows import insert_outbox, outbox_values
from bot.adapters.store.tables import (
    coupon_budget_t,
    coupon_t,
    graph_score_t,
    mention_t,
    optout_t,
    outbox_t,
    social_user_t,
)
from bot.core.clock import ensure_utc
from bot.core.records import ArmCounts, BatchOutcome, CampaignCounts, CouponRecord, IssueSpec, Member, OutboxState

logger = logging.getLogger(__name__)


def _record(row: Any, language: str | None = None) -> CouponRecord:
    return CouponRecord(
        id=row.id,
        campaign=row.campaign,
        platform=row.platform,
        user_id=row.user_id,
        username=getattr(row, "username", None),
        segment_id=row.segment_id,
        holdout=bool(row.holdout),
        code=row.code,
        state=row.state,
        channel=row.channel,
        issued_at=ensure_utc(row.issued_at),
        expires_at=utc_or_none(row.expires_at),
        delivered_at=utc_or_none(row.delivered_at),
        outbox_key=row.outbox_key,
        redeemed_at=utc_or_none(row.redeemed_at),
        order_id=row.order_id,
        amount=row.amount,
        language=language,
        arm=getattr(row, "arm", None),
        propensity=getattr(row, "propensity", None),
        choice=getattr(row, "choice", None),
    )


def _by_platform(members: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for platform, user_id in members:
        out[platform].append(user_id)
    return out


class CouponRepository(Repository):
    """coupon and coupon_budget rows (store.coupons)."""

    def _lock_budget(self, conn: Connection, campaign: str) -> tuple[int, int]:
        b = coupon_budget_t
        conn.execute(
            self._insert(b)
            .values(campaign=campaign, issued=0, held_out=0)
            .on_conflict_do_nothing(index_elements=["campaign"])
        )
        stmt = sa.select(b.c.issued, b.c.held_out).where(b.c.campaign == campaign)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).one()
        return int(row.issued), int(row.held_out)

    def _users_in(
        self, conn: Connection, stmt: sa.Select[Any], platform_col: Any, user_col: Any, users: dict[str, list[str]]
    ) -> list[Any]:
        rows: list[Any] = []
        for platform, ids in users.items():
            for part in chunks(ids):
                rows.extend(conn.execute(stmt.where(platform_col == platform, user_col.in_(list(part)))).all())
        return rows

    def _opted_out(self, conn: Connection, users: dict[str, list[str]]) -> set[tuple[str, str]]:
        u = social_user_t
        names = {
            (r.platform, r.user_id): r.username
            for r in self._users_in(
                conn, sa.select(u.c.platform, u.c.user_id, u.c.username), u.c.platform, u.c.user_id, users
            )
        }
        by_hash: dict[str, tuple[str, str]] = {}
        for platform, ids in users.items():
            for user_id in ids:
                by_hash[user_hash(platform, user_id)] = (platform, user_id)
                name = names.get((platform, user_id))
                if name:
                    by_hash[username_hash(platform, name)] = (platform, user_id)
        found: set[tuple[str, str]] = set()
        hashes = list(by_hash)
        for part in chunks(hashes):
            for h in conn.execute(
                sa.select(optout_t.c.user_hash).where(optout_t.c.user_hash.in_(list(part)))
            ).scalars():
                found.add(by_hash[h])
        return found

    def _influential(
        self, conn: Connection, snapshot_id: int | None, minimum: float, users: dict[str, list[str]]
    ) -> set[tuple[str, str]]:
        if snapshot_id is None:
            return set()
        g = graph_score_t
        stmt = sa.select(g.c.platform, g.c.user_id).where(g.c.snapshot_id == snapshot_id, g.c.score >= minimum)
        return {(r.platform, r.user_id) for r in self._users_in(conn, stmt, g.c.platform, g.c.user_id, users)}

    def _have_coupon(
        self, conn: Connection, campaign: str, cooldown_since: datetime | None, users: dict[str, list[str]]
    ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(people with a row in this campaign, people with a code from any campaign since cooldown_since)."""
        c = coupon_t
        existing = {
            (r.platform, r.user_id)
            for r in self._users_in(
                conn,
                sa.select(c.c.platform, c.c.user_id).where(c.c.campaign == campaign),
                c.c.platform,
                c.c.user_id,
                users,
            )
        }
        recent: set[tuple[str, str]] = set()
        if cooldown_since is not None:
            stmt = sa.select(c.c.platform, c.c.user_id).where(
                c.c.holdout.is_(False), c.c.issued_at >= ensure_utc(cooldown_since), c.c.campaign != campaign
            )
            recent = {(r.platform, r.user_id) for r in self._users_in(conn, stmt, c.c.platform, c.c.user_id, users)}
        return existing, recent

    def _codes_taken(self, conn: Connection, codes: Sequence[str]) -> set[str]:
        taken: set[str] = set()
        for part in chunks(list(codes)):
            taken.update(conn.execute(sa.select(coupon_t.c.code).where(coupon_t.c.code.in_(list(part)))).scalars())
        return taken

    def _fresh_codes(self, conn: Connection, spec: IssueSpec, n: int, out: BatchOutcome, position: int) -> list[str]:
        """n codes no coupon has: generated (regenerated on the rare collision) or the next ones of the pool."""
        if n <= 0:
            return []
        if spec.pool is not None:
            codes: list[str] = []
            pool = spec.pool
            while len(codes) < n and position < len(pool):
                part = pool[position : position + max(n - len(codes), 200)]
                position += len(part)
                taken = self._codes_taken(conn, part)
                codes.extend(code for code in part if code not in taken)
            extra = codes[n:]
            out.pool_position = position - len(extra)
            return codes[:n]
        assert spec.new_code is not None
        codes = []
        wanted = n
        while wanted:
            batch = {spec.new_code() for _ in range(wanted)}
            batch -= set(codes)
            taken = self._codes_taken(conn, list(batch))
            out.collisions += len(taken)
            codes.extend(sorted(batch - taken))
            wanted = n - len(codes)
        return codes

    def _sort_out(
        self, conn: Connection, spec: IssueSpec, members: Sequence[Member], out: BatchOutcome
    ) -> tuple[list[Member], list[Member]]:
        """(held out, to treat) of the members not opted out, influential enough, not already in this campaign
        and not within the cooldown; the others are counted in `out`."""
        unique: dict[tuple[str, str], Member] = {}
        for m in members:
            unique.setdefault((m.platform, m.user_id), m)
        users = _by_platform(unique)
        opted = self._opted_out(conn, users)
        strong = (
            self._influential(conn, spec.snapshot_id, spec.min_influence, users) if spec.min_influence > 0 else None
        )
        existing, recent = self._have_coupon(conn, spec.campaign, spec.cooldown_since, users)
        holdouts: list[Member] = []
        treated: list[Member] = []
        for key, m in unique.items():
            if key in existing:
                out.existing += 1
            elif key in opted:
                out.opted_out += 1
            elif strong is not None and key not in strong:
                out.low_influence += 1
            elif key in recent:
                out.cooldown += 1
            elif m.holdout:
                holdouts.append(m)
            else:
                treated.append(m)
        return holdouts, treated

    def screen(self, spec: IssueSpec, members: Sequence[Member]) -> tuple[list[Member], BatchOutcome]:
        """The members issuance would consider now (the same checks as `issue`, nothing written), and the counts
        of those left out; `budget_left` is the campaign's budget not spent yet."""
        out = BatchOutcome()
        eligible: list[Member] = []
        with self._tx(f"screening the people of {spec.campaign}") as conn:
            for part in chunks(list(members)):
                holdouts, treated = self._sort_out(conn, spec, part, out)
                eligible += holdouts + treated
            row = conn.execute(
                sa.select(coupon_budget_t.c.issued).where(coupon_budget_t.c.campaign == spec.campaign)
            ).first()
        out.budget_left = max(spec.budget - (int(row.issued) if row is not None else 0), 0)
        return eligible, out

    def issue(self, spec: IssueSpec, members: Sequence[Member], *, pool_position: int = 0) -> BatchOutcome:
        """One batch of issuance in ONE transaction under the campaign's budget lock: who is opted out, not
        influential enough, already in this campaign or within the cooldown is left out; the holdout gets
        held_out rows; the rest get codes while the budget lasts."""
        now = self._now()
        out = BatchOutcome(pool_position=pool_position)
        with self._tx(f"issuing coupons of {spec.campaign}") as conn:
            issued, _held = self._lock_budget(conn, spec.campaign)
            left = max(spec.budget - issued, 0)
            holdouts, treated = self._sort_out(conn, spec, members, out)
            chosen = treated[:left]
            out.over_budget = len(treated) - len(chosen)
            codes = self._fresh_codes(conn, spec, len(chosen), out, pool_position)
            if len(codes) < len(chosen):
                out.pool_empty = len(chosen) - len(codes)
                chosen = chosen[: len(codes)]
            expires = now + timedelta(seconds=spec.expires_after_s)
            rows = [
                {
                    "campaign": spec.campaign,
                    "platform": m.platform,
                    "user_id": m.user_id,
                    "segment_id": m.segment_id,
                    "holdout": False,
                    "code": code,
                    "state": "issued",
                    "channel": spec.channel,
                    "issued_at": now,
                    "expires_at": expires,
                    "arm": m.arm,
                    "propensity": m.propensity,
                    "choice": m.choice,
                }
                for m, code in zip(chosen, codes, strict=True)
            ]
            rows += [
                {
                    "campaign": spec.campaign,
                    "platform": m.platform,
                    "user_id": m.user_id,
                    "segment_id": m.segment_id,
                    "holdout": True,
                    "code": None,
                    "state": "held_out",
                    "channel": None,
                    "issued_at": now,
                    "expires_at": None,
                    "arm": None,
                    "propensity": m.propensity,
                    "choice": None,
                }
                for m in holdouts
            ]
            if rows:
                conn.execute(sa.insert(coupon_t), rows)
                conn.execute(
                    sa.update(coupon_budget_t)
                    .where(coupon_budget_t.c.campaign == spec.campaign)
                    .values(
                        issued=coupon_budget_t.c.issued + len(chosen),
                        held_out=coupon_budget_t.c.held_out + len(holdouts),
                    )
                )
            out.issued, out.held_out = len(chosen), len(holdouts)
            out.budget_left = left - len(chosen)
        return out

    def budget(self, campaign: str) -> tuple[int, int]:
        """(codes issued, people held out) of a campaign so far."""
        b = coupon_budget_t
        with self._tx("reading a coupon budget") as conn:
            row = conn.execute(sa.select(b.c.issued, b.c.held_out).where(b.c.campaign == campaign)).first()
        return (int(row.issued), int(row.held_out)) if row is not None else (0, 0)

    # ---------------------------------------------------------------- reading

    def _coupon_select(self) -> sa.Select[Any]:
        c, u = coupon_t, social_user_t
        return sa.select(c, u.c.username).select_from(
            c.outerjoin(u, sa.and_(u.c.platform == c.c.platform, u.c.user_id == c.c.user_id))
        )

    def find(
        self,
        *,
        campaign: str | None = None,
        state: str | None = None,
        platform: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
    ) -> list[CouponRecord]:
        c = coupon_t
        stmt = self._coupon_select().order_by(c.c.id)
        if campaign is not None:
            stmt = stmt.where(c.c.campaign == campaign)
        if state is not None:
            stmt = stmt.where(c.c.state == state)
        if platform is not None:
            stmt = stmt.where(c.c.platform == platform)
        if user_id is not None:
            stmt = stmt.where(c.c.user_id == user_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("reading coupons") as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def by_code(self, code: str) -> CouponRecord | None:
        with self._tx("reading a coupon") as conn:
            row = conn.execute(self._coupon_select().where(coupon_t.c.code == code)).first()
        return _record(row) if row is not None else None

    # ---------------------------------------------------------------- delivery

    def for_reply(
        self, campaigns: Collection[str], platform: str, user_id: str, *, now: datetime
    ) -> CouponRecord | None:
        """The person's oldest undelivered, unexpired code of these (reply-channel) campaigns that is not
        already on its way (no live outbox row)."""
        if not campaigns:
            return None
        c, o = coupon_t, outbox_t
        live = sa.exists().where(
            o.c.key == c.c.outbox_key, o.c.state.in_((OutboxState.PENDING, OutboxState.SENDING, OutboxState.SENT))
        )
        stmt = (
            self._coupon_select()
            .where(
                c.c.campaign.in_(sorted(campaigns)),
                c.c.platform == platform,
                c.c.user_id == user_id,
                c.c.state == "issued",
                c.c.expires_at > ensure_utc(now),
                sa.or_(c.c.outbox_key.is_(None), ~live),
            )
            .order_by(c.c.issued_at, c.c.id)
            .limit(1)
        )
        with self._tx("finding a coupon for a reply") as conn:
            row = conn.execute(stmt).first()
        return _record(row) if row is not None else None

    def mark_delivering(self, coupon_id: int, outbox_key: str) -> bool:
        """Record the outbox row that carries a coupon (reply or DM); False when it is not undelivered."""
        c = coupon_t
        with self._tx("recording a coupon's outbox row") as conn:
            result = conn.execute(
                sa.update(c).where(c.c.id == coupon_id, c.c.state == "issued").values(outbox_key=outbox_key)
            )
        return result.rowcount == 1

    def mark_delivered_by_outbox(self, keys: Collection[str] | None = None) -> int:
        """Coupons whose outbox row (reply or DM) was sent: delivered_at = the send time, state delivered
        (unless already redeemed or expired). All such coupons, or those of these outbox keys."""
        c, o = coupon_t, outbox_t
        sent = sa.select(o.c.sent_at).where(o.c.key == c.c.outbox_key, o.c.state == OutboxState.SENT).scalar_subquery()
        is_sent = sa.exists().where(o.c.key == c.c.outbox_key, o.c.state == OutboxState.SENT)
        where = [c.c.delivered_at.is_(None), c.c.outbox_key.is_not(None), is_sent]
        total = 0
        with self._tx("recording coupon deliveries") as conn:
            parts: Iterable[Sequence[str] | None] = [None] if keys is None else chunks(sorted(set(keys)))
            for part in parts:
                cond = list(where)
                if part is not None:
                    cond.append(c.c.outbox_key.in_(list(part)))
                total += conn.execute(
                    sa.update(c)
                    .where(*cond)
                    .values(
                        delivered_at=sent,
                        state=sa.case((c.c.state == "issued", "delivered"), else_=c.c.state),
                    )
                ).rowcount
        return total

    def for_dm(self, campaign: str, account: str, *, limit: int = 1000) -> list[CouponRecord]:
        """Undelivered codes of a DM campaign whose person opened a DM conversation with `account` (a DM
        from them is stored), with the language of their latest DM."""
        c, m = coupon_t, mention_t
        wrote = sa.exists().where(
            m.c.account == account, m.c.kind == "dm", m.c.platform == c.c.platform, m.c.author_id == c.c.user_id
        )
        stmt = (
            self._coupon_select()
            .where(c.c.campaign == campaign, c.c.state == "issued", c.c.outbox_key.is_(None), wrote)
            .order_by(c.c.id)
            .limit(limit)
        )
        with self._tx("finding DM coupons") as conn:
            rows = conn.execute(stmt).all()
            languages: dict[tuple[str, str], str | None] = {}
            authors = sorted({r.user_id for r in rows})
            for part in chunks(authors):
                latest = conn.execute(
                    sa.select(m.c.platform, m.c.author_id, m.c.language)
                    .where(m.c.account == account, m.c.kind == "dm", m.c.author_id.in_(list(part)))
                    .order_by(m.c.id)
                )
                for platform, author, language in latest:
                    languages[(platform, author)] = language  # the latest DM wins
        return [_record(r, languages.get((r.platform, r.user_id))) for r in rows]

    def enqueue_dms(self, items: Sequence[tuple[int, dict[str, Any]]]) -> int:
        """In ONE transaction: each (coupon id, enqueue() arguments) becomes an outbox DM (unique key) and the
        coupon records its key. Returns how many coupons were newly attached."""
        c = coupon_t
        attached = 0
        with self._tx("enqueueing coupon DMs") as conn:
            for coupon_id, args in items:
                values = outbox_values(
                    self._now(), args["key"], args["account"], "dm", args["text"], None, args["recipient_id"]
                )
                values.update(target_platform=args["target_platform"], target_user_id=args["target_user_id"])
                insert_outbox(self.db, conn, values)
                attached += conn.execute(
                    sa.update(c)
                    .where(c.c.id == coupon_id, c.c.state == "issued", c.c.outbox_key.is_(None))
                    .values(outbox_key=args["key"])
                ).rowcount
        return attached

    def for_export(self, campaign: str, *, limit: int | None = None) -> list[CouponRecord]:
        """Codes of an export campaign not exported yet."""
        c = coupon_t
        stmt = (
            self._coupon_select()
            .where(c.c.campaign == campaign, c.c.state == "issued", c.c.outbox_key.is_(None))
            .order_by(c.c.id)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("finding coupons to export") as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def mark_exported(self, coupon_ids: Sequence[int], key: str) -> int:
        """Exported coupons are delivered now (key: 'export:<file name>')."""
        c = coupon_t
        now = self._now()
        total = 0
        with self._tx("recording exported coupons") as conn:
            for part in chunks(list(coupon_ids)):
                total += conn.execute(
                    sa.update(c)
                    .where(c.c.id.in_(list(part)), c.c.state == "issued")
                    .values(state="delivered", delivered_at=now, outbox_key=key)
                ).rowcount
        return total

    def expire(self, now: datetime | None = None) -> int:
        """Issued or delivered codes past their expiry become expired."""
        c = coupon_t
        moment = ensure_utc(now or self._now())
        with self._tx("expiring coupons") as conn:
            return conn.execute(
                sa.update(c)
                .where(c.c.state.in_(("issued", "delivered")), c.c.expires_at <= moment)
                .values(state="expired")
            ).rowcount

    # ---------------------------------------------------------------- report

    def counts(self) -> list[CampaignCounts]:
        """Per campaign and segment: held out, issued, delivered, redeemed, expired, revenue."""
        c = coupon_t
        stmt = sa.select(
            c.c.campaign,
            c.c.segment_id,
            c.c.holdout,
            c.c.state,
            sa.func.count(),
            sa.func.count(c.c.delivered_at),
            sa.func.coalesce(sa.func.sum(c.c.amount), 0.0),
            sa.func.min(c.c.issued_at),
        ).group_by(c.c.campaign, c.c.segment_id, c.c.holdout, c.c.state)
        out: dict[tuple[str, int | None], CampaignCounts] = {}
        with self._tx("counting coupons") as conn:
            rows = conn.execute(stmt).all()
        for campaign, segment, holdout, state, n, delivered, revenue, first in rows:
            counts = out.setdefault((campaign, segment), CampaignCounts(campaign, segment))
            first = utc_or_none(first)
            if first is not None and (counts.first_issued_at is None or first < counts.first_issued_at):
                counts.first_issued_at = first
            if holdout:
                counts.held_out += int(n)
                continue
            counts.issued += int(n)
            counts.delivered += int(delivered)
            if state == "redeemed":
                counts.redeemed += int(n)
                counts.revenue += float(revenue or 0.0)
            elif state == "expired":
                counts.expired += int(n)
        return sorted(out.values(), key=lambda x: (x.campaign, x.segment_id is None, x.segment_id or 0))

    def held_out_people(self, campaign: str | None = None) -> list[CouponRecord]:
        c = coupon_t
        stmt = self._coupon_select().where(c.c.holdout.is_(True)).order_by(c.c.id)
        if campaign is not None:
            stmt = stmt.where(c.c.campaign == campaign)
        with self._tx("reading held-out people") as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def arm_counts(self, campaigns: Collection[str], *, now: datetime) -> list[ArmCounts]:
        """Per segment and discount depth of these campaigns: coupons settled by `now` (redeemed, or past their
        expiry without a redemption; open ones are left out: their outcome is not known yet), redeemed, paid."""
        if not campaigns:
            return []
        c = coupon_t
        redeemed = c.c.state == "redeemed"
        stmt = (
            sa.select(
                c.c.segment_id,
                c.c.arm,
                sa.func.count(),
                sa.func.sum(sa.case((redeemed, 1), else_=0)),
                sa.func.coalesce(sa.func.sum(sa.case((redeemed, c.c.amount), else_=0.0)), 0.0),
            )
            .where(
                c.c.campaign.in_(sorted(campaigns)),
                c.c.holdout.is_(False),
                c.c.arm.is_not(None),
                sa.or_(redeemed, c.c.expires_at <= ensure_utc(now)),
            )
            .group_by(c.c.segment_id, c.c.arm)
        )
        with self._tx("counting coupons per discount depth") as conn:
            rows = conn.execute(stmt).all()
        return [
            ArmCounts(segment, str(arm), int(n), int(won or 0), float(paid or 0.0))
            for segment, arm, n, won, paid in rows
        ]
