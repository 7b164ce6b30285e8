"""The Store: every query the bot makes. Hot delivery paths use Core statements, never ORM loading."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from bot.adapters.store import migrate
from bot.adapters.store.coupons import CouponQueries
from bot.adapters.store.engagement import EngagementQueries
from bot.adapters.store.engine import create_engine, guarded, normalise_url, safe_url
from bot.adapters.store.features import FeatureQueries
from bot.adapters.store.graphs import GraphQueries
from bot.adapters.store.health import HealthQueries
from bot.adapters.store.mentions import MentionQueries, user_hash
from bot.adapters.store.privacy import PrivacyQueries
from bot.adapters.store.recommend import RecommendQueries
from bot.adapters.store.records import (
    AccountState,
    Attempt,
    Claim,
    ClaimedItem,
    OutboxItem,
    Refusal,
    Slot,
    campaign_key,
    slot_key,
    text_hash,
)
from bot.adapters.store.segments import SegmentQueries
from bot.adapters.store.tables import (
    OutboxState,
    SlotState,
    account_state_t,
    optout_t,
    outbox_t,
    rate_limit_t,
    slot_t,
)
from bot.adapters.store.types import UTCDateTime, as_utc
from bot.core.errors import StoreError

logger = logging.getLogger(__name__)

_PG_CLAIM_LOCK = 0x50C1A1B08  # serialises claims across daemons only while per-account limits are on
_DAY = timedelta(hours=24)
_LIVE_STATES = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.SENT)


def utc_now() -> datetime:
    return datetime.now(UTC)


class CampaignPost(NamedTuple):
    """One account's post of a campaign slot."""

    account: str
    text: str
    variant: str | None = None


def campaign_account_key(campaign: str, account: str, slot_at: datetime) -> str:
    """The outbox key of one account's post in a slot of a multi-account campaign (`accounts:` in config.yaml),
    e.g. campaign:double11:shop_bsky:2026-11-11T02:00:00Z. Single-account campaigns keep campaign_key."""
    return f"campaign:{campaign}:{account}:{slot_key(slot_at)}"


def _multi_slot(key: str, campaign: str | None, slot_at: datetime | None) -> tuple[str, datetime] | None:
    """(campaign, slot time) when `key` is one post of a multi-account slot, whose slot row tracks several rows."""
    if campaign is None or slot_at is None or key == campaign_key(campaign, slot_at):
        return None
    return campaign, as_utc(slot_at)


def endpoint_for(kind: str) -> str:
    """The rate-limit bucket of an outbox kind: posts and replies share X's POST /2/tweets window."""
    return "dm" if kind == "dm" else "tweets"


def _held_by(owner: str) -> sa.ColumnElement[bool]:
    """Rows `owner` still holds: a lease another worker took over is never written by the old holder."""
    return sa.and_(outbox_t.c.lease_owner == owner, outbox_t.c.state == OutboxState.SENDING)


def _endpoint_expr() -> sa.ColumnElement[str]:
    return sa.case((outbox_t.c.kind == "dm", "dm"), else_="tweets")


class Store(
    MentionQueries,
    EngagementQueries,
    GraphQueries,
    SegmentQueries,
    FeatureQueries,
    CouponQueries,
    RecommendQueries,
    PrivacyQueries,
    HealthQueries,
):
    """A database of outbox rows, campaign slots and account state, on SQLite or PostgreSQL.

    Mentions, opt-outs and the inbox: see bot/adapters/store/mentions.py (MentionQueries); engagement collection:
    bot/adapters/store/engagement.py; graph snapshots and job leases: bot/adapters/store/graphs.py;
    segments: bot/adapters/store/segments.py;
    coupons: bot/adapters/store/coupons.py.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.url = safe_url(engine.url)
        self.clock = clock
        self.dialect = engine.dialect.name

    @property
    def display_url(self) -> str:
        """The database URL with its password hidden."""
        return self.url

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, url: str, *, create: bool = True, clock: Callable[[], datetime] = utc_now) -> Store:
        """Connect (and check the connection); raise StoreError with the password hidden."""
        engine = create_engine(url, create=create)
        store = cls(engine, clock=clock)
        with guarded(engine.url, "connecting"), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        logger.debug("database %s opened", store.url)
        return store

    def upgrade(self) -> tuple[str | None, str | None]:
        """Apply pending Alembic migrations; returns (revision before, revision after)."""
        with guarded(self.engine.url, "upgrading the database"):
            return migrate.upgrade(self.engine)

    def revision(self) -> str | None:
        with guarded(self.engine.url, "reading the schema revision"):
            return migrate.current_revision(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        with guarded(self.engine.url, what), self.engine.begin() as conn:
            yield conn

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # ---------------------------------------------------------------- enqueue

    def enqueue(
        self,
        key: str,
        *,
        account: str,
        kind: str,
        text: str,
        in_reply_to_id: str | None = None,
        recipient_id: str | None = None,
        not_before: datetime | None = None,
        campaign: str | None = None,
        slot_at: datetime | None = None,
        target_platform: str | None = None,
        target_user_id: str | None = None,
    ) -> bool:
        """Insert an outbox row unless `key` exists; True when inserted. A row with a target person
        (target_platform + target_user_id: a reply, DM or coupon) is cancelled at claim time if they opted out."""
        values = self._outbox_values(
            key, account, kind, text, in_reply_to_id, recipient_id, not_before, campaign, slot_at
        )
        if target_user_id is not None:
            values.update(target_platform=target_platform, target_user_id=target_user_id)
        with self._tx("enqueue") as conn:
            return self._insert_outbox(conn, values)

    def enqueue_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Bulk enqueue (dicts with enqueue()'s arguments); returns how many were new."""
        now = self.clock()
        inserted = 0
        with self._tx("enqueue") as conn:
            for row in rows:
                args = dict(row)
                args.setdefault("not_before", now)
                values = self._outbox_values(
                    args.pop("key"),
                    args.pop("account"),
                    args.pop("kind"),
                    args.pop("text"),
                    args.pop("in_reply_to_id", None),
                    args.pop("recipient_id", None),
                    args.pop("not_before"),
                    args.pop("campaign", None),
                    args.pop("slot_at", None),
                )
                if args.get("target_user_id") is not None:
                    values.update(
                        target_platform=args.pop("target_platform", None), target_user_id=args.pop("target_user_id")
                    )
                inserted += self._insert_outbox(conn, values)
        return inserted

    def _outbox_values(
        self,
        key: str,
        account: str,
        kind: str,
        text: str,
        in_reply_to_id: str | None,
        recipient_id: str | None,
        not_before: datetime | None,
        campaign: str | None,
        slot_at: datetime | None,
    ) -> dict[str, Any]:
        now = self.clock()
        return {
            "key": key,
            "account": account,
            "kind": str(kind),
            "text": text,
            "text_hash": text_hash(text),
            "in_reply_to_id": in_reply_to_id,
            "recipient_id": recipient_id,
            "state": OutboxState.PENDING,
            "attempts": 0,
            "next_attempt_at": as_utc(not_before) if not_before is not None else now,
            "outcome_unknown": False,
            "created_at": now,
            "campaign": campaign,
            "slot_at": as_utc(slot_at) if slot_at is not None else None,
        }

    def _insert_outbox(self, conn: Connection, values: dict[str, Any]) -> bool:
        stmt = (
            self._insert(outbox_t)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(outbox_t.c.id)
        )
        return conn.execute(stmt).first() is not None

    def enqueue_campaign_slot(
        self,
        campaign: str,
        slot_at: datetime,
        *,
        account: str,
        text: str,
        variant: str | None,
        not_before: datetime | None = None,
    ) -> bool:
        """In one transaction: the slot row (queued) and its outbox post. False if the slot exists."""
        slot_at = as_utc(slot_at)
        key = campaign_key(campaign, slot_at)
        outbox_values = self._outbox_values(key, account, "post", text, None, None, not_before, campaign, slot_at)
        slot_values = {
            "campaign": campaign,
            "slot_at": slot_at,
            "state": SlotState.QUEUED,
            "outbox_key": key,
            "text_hash": outbox_values["text_hash"],
            "variant": variant,
            "created_at": outbox_values["created_at"],
        }
        with self._tx("enqueue_campaign_slot") as conn:
            if not self._insert_slot(conn, slot_values):
                return False
            self._insert_outbox(conn, outbox_values)
            return True

    def enqueue_campaign_posts(
        self,
        campaign: str,
        slot_at: datetime,
        posts: Sequence[tuple[str, str, str | None]],
        *,
        reason: str | None = None,
        not_before: datetime | None = None,
    ) -> bool:
        """A slot of a multi-account campaign, in one transaction: the slot row (queued; `reason` names the
        accounts that got no post) and one outbox post per (account, text, variant), each keyed
        campaign:<name>:<account>:<slot>. False (and nothing written) if the slot exists.

        The slot row has no outbox_key: its state follows its posts (published when all were sent, failed when
        one was dead-lettered, queued while any is on its way), see _refresh_multi_slots."""
        if not posts:
            raise ValueError("a campaign slot needs at least one post")
        slot_at = as_utc(slot_at)
        rows = [
            self._outbox_values(
                campaign_account_key(campaign, post.account, slot_at),
                post.account,
                "post",
                post.text,
                None,
                None,
                not_before,
                campaign,
                slot_at,
            )
            for post in (CampaignPost(*p) for p in posts)
        ]
        variants = " ".join(f"{account}:{variant}" for account, _text, variant in posts)
        slot_values = {
            "campaign": campaign,
            "slot_at": slot_at,
            "state": SlotState.QUEUED,
            "reason": reason,
            "outbox_key": None,
            "text_hash": None,
            "variant": variants[:200],
            "created_at": rows[0]["created_at"],
        }
        with self._tx("enqueue_campaign_posts") as conn:
            if not self._insert_slot(conn, slot_values):
                return False
            for values in rows:
                self._insert_outbox(conn, values)
            return True

    def _refresh_multi_slots(self, conn: Connection, slots: Iterable[tuple[str, datetime]]) -> None:
        """Set the state of multi-account slots from their posts: failed when one is dead (reason: which and
        why), queued while any is pending or sending, published when every one was sent, skipped when all were
        cancelled. The slot row is locked first (in a fixed order), so two daemons recording two posts of one
        slot at once both count the other's."""
        o = outbox_t
        for campaign, slot_at in sorted(set(slots)):
            lock = sa.select(slot_t.c.id, slot_t.c.state, slot_t.c.reason).where(
                slot_t.c.campaign == campaign, slot_t.c.slot_at == slot_at, slot_t.c.outbox_key.is_(None)
            )
            if self.dialect == "postgresql":
                lock = lock.with_for_update()
            slot = conn.execute(lock).first()
            if slot is None:
                continue
            posts = conn.execute(
                sa.select(o.c.account, o.c.state, o.c.last_error)
                .where(o.c.campaign == campaign, o.c.slot_at == slot_at, o.c.kind == "post")
                .order_by(o.c.account)
            ).all()
            states = {post.state for post in posts}
            reason = slot.reason if slot.state != SlotState.FAILED else None  # a dead post's reason goes with it
            if OutboxState.FAILED in states:
                state = SlotState.FAILED
                reason = "; ".join(
                    f"{post.account}: {post.last_error or 'failed'}"
                    for post in posts
                    if post.state == OutboxState.FAILED
                )
            elif states & {OutboxState.PENDING, OutboxState.SENDING}:
                state = SlotState.QUEUED
            elif OutboxState.SENT in states:
                state = SlotState.PUBLISHED
            else:
                state, reason = SlotState.SKIPPED, reason or "cancelled"
            if (state, reason) != (slot.state, slot.reason):
                conn.execute(sa.update(slot_t).where(slot_t.c.id == slot.id).values(state=state, reason=reason))

    def _insert_slot(self, conn: Connection, values: dict[str, Any]) -> bool:
        stmt = (
            self._insert(slot_t)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["campaign", "slot_at"])
            .returning(slot_t.c.id)
        )
        return conn.execute(stmt).first() is not None

    def record_slot(self, campaign: str, slot_at: datetime, state: str, reason: str | None = None) -> bool:
        """Record a slot that produced no post (missed / failed / skipped); False if the slot exists."""
        if state not in SlotState.ALL:
            raise ValueError(f"unknown slot state {state!r}")
        values = {
            "campaign": campaign,
            "slot_at": as_utc(slot_at),
            "state": state,
            "reason": reason,
            "created_at": self.clock(),
        }
        with self._tx("record_slot") as conn:
            return self._insert_slot(conn, values)

    # ---------------------------------------------------------------- campaign queries

    def last_slot_at(self, campaign: str) -> datetime | None:
        with self._tx("last_slot_at") as conn:
            value = conn.execute(sa.select(sa.func.max(slot_t.c.slot_at)).where(slot_t.c.campaign == campaign)).scalar()
        return _utc_or_none(value)

    def slots_recorded(self, campaign: str, since: datetime) -> set[datetime]:
        """The slot times of `campaign` at or after `since` that have a row (queued, missed, skipped, failed)."""
        with self._tx("slots_recorded") as conn:
            rows = conn.execute(
                sa.select(slot_t.c.slot_at).where(slot_t.c.campaign == campaign, slot_t.c.slot_at >= since)
            ).scalars()
            return {value for value in (_utc_or_none(v) for v in rows) if value is not None}

    def text_used(self, account: str, text_hash_: str) -> bool:
        """Whether `account` has a live (pending/sending/sent) outbox row with this text hash."""
        with self._tx("text_used") as conn:
            row = conn.execute(
                sa.select(outbox_t.c.id)
                .where(
                    outbox_t.c.account == account,
                    outbox_t.c.text_hash == text_hash_,
                    outbox_t.c.state.in_(_LIVE_STATES),
                )
                .limit(1)
            ).first()
        return row is not None

    def slots(self, campaign: str | None = None, since: datetime | None = None) -> list[Slot]:
        stmt = sa.select(slot_t).order_by(slot_t.c.slot_at, slot_t.c.campaign)
        if campaign is not None:
            stmt = stmt.where(slot_t.c.campaign == campaign)
        if since is not None:
            stmt = stmt.where(slot_t.c.slot_at >= as_utc(since))
        with self._tx("slots") as conn:
            return [Slot.from_row(row) for row in conn.execute(stmt)]

    def slot(self, campaign: str, slot_at: datetime) -> Slot | None:
        stmt = sa.select(slot_t).where(slot_t.c.campaign == campaign, slot_t.c.slot_at == as_utc(slot_at))
        with self._tx("slot") as conn:
            row = conn.execute(stmt).first()
        return Slot.from_row(row) if row is not None else None

    # ---------------------------------------------------------------- outbox queries

    def outbox_items(self, state: str | None = None, limit: int | None = 100) -> list[OutboxItem]:
        """Rows newest first (optionally one state)."""
        stmt = sa.select(outbox_t).order_by(outbox_t.c.id.desc())
        if state is not None:
            stmt = stmt.where(outbox_t.c.state == state)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx("outbox_items") as conn:
            return [OutboxItem.from_row(row) for row in conn.execute(stmt)]

    def outbox_item(self, item_id: int | None = None, *, key: str | None = None) -> OutboxItem | None:
        where = outbox_t.c.key == key if key is not None else outbox_t.c.id == item_id
        stmt = sa.select(outbox_t).where(where)
        with self._tx("outbox_item") as conn:
            row = conn.execute(stmt).first()
        return OutboxItem.from_row(row) if row is not None else None

    def retry(self, item_id: int) -> bool:
        """Re-queue a dead (failed) or cancelled row now, attempts reset; its slot goes back to queued."""
        now = self.clock()
        with self._tx("retry") as conn:
            row = conn.execute(
                sa.update(outbox_t)
                .where(
                    outbox_t.c.id == item_id,
                    outbox_t.c.state.in_((OutboxState.FAILED, OutboxState.CANCELLED)),
                )
                .values(
                    state=OutboxState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
                .returning(outbox_t.c.key, outbox_t.c.campaign, outbox_t.c.slot_at)
            ).first()
            if row is None:
                return False
            conn.execute(
                sa.update(slot_t).where(slot_t.c.outbox_key == row.key).values(state=SlotState.QUEUED, reason=None)
            )
            multi = _multi_slot(row.key, row.campaign, row.slot_at)
            if multi is not None:
                self._refresh_multi_slots(conn, [multi])
        logger.info("outbox item %s re-queued (key %s)", item_id, row.key)
        return True

    def cancel(self, item_id: int, reason: str = "cancelled") -> bool:
        """Cancel a row whose request has not left: pending, or claimed by a worker that has not begun its attempt
        (begin_attempt then finds it gone); never one whose request may be on its way. Its slot becomes skipped."""
        o = outbox_t
        not_left = sa.or_(
            o.c.state == OutboxState.PENDING, sa.and_(o.c.state == OutboxState.SENDING, o.c.outcome_unknown.is_(False))
        )
        with self._tx("cancel") as conn:
            row = conn.execute(
                sa.update(outbox_t)
                .where(outbox_t.c.id == item_id, not_left)
                .values(state=OutboxState.CANCELLED, last_error=reason, lease_owner=None, lease_until=None)
                .returning(outbox_t.c.key, outbox_t.c.campaign, outbox_t.c.slot_at)
            ).first()
            if row is None:
                return False
            conn.execute(
                sa.update(slot_t).where(slot_t.c.outbox_key == row.key).values(state=SlotState.SKIPPED, reason=reason)
            )
            multi = _multi_slot(row.key, row.campaign, row.slot_at)
            if multi is not None:
                self._refresh_multi_slots(conn, [multi])
        return True

    def summary(self) -> dict[str, Any]:
        """Counts for humans and the demo's JSON summary."""
        with self._tx("summary") as conn:
            by_kind_state = conn.execute(
                sa.select(outbox_t.c.kind, outbox_t.c.state, sa.func.count()).group_by(
                    outbox_t.c.kind, outbox_t.c.state
                )
            ).all()
            slots_by_state = dict(
                conn.execute(sa.select(slot_t.c.state, sa.func.count()).group_by(slot_t.c.state)).all()
            )
            slots_failed_unqueued = conn.execute(  # (a multi-account slot that queued posts has a variant)
                sa.select(sa.func.count()).where(
                    slot_t.c.state == SlotState.FAILED, slot_t.c.outbox_key.is_(None), slot_t.c.variant.is_(None)
                )
            ).scalar_one()
        outbox: dict[str, int] = {state: 0 for state in OutboxState.ALL}
        posts: dict[str, int] = {state: 0 for state in OutboxState.ALL}
        for kind, state, count in by_kind_state:
            outbox[state] = outbox.get(state, 0) + count
            if kind == "post":
                posts[state] = posts.get(state, 0) + count
        return {
            "posts_published": posts[OutboxState.SENT],
            # dead post rows + slots that failed before reaching the outbox (render/length errors)
            "posts_failed": posts[OutboxState.FAILED] + slots_failed_unqueued,
            "posts_pending": posts[OutboxState.PENDING] + posts[OutboxState.SENDING],
            "dead": outbox[OutboxState.FAILED],
            "outbox": outbox,
            "slots": {state: int(slots_by_state.get(state, 0)) for state in SlotState.ALL},
        }

    # ---------------------------------------------------------------- accounts and rate limits

    def pause_account(self, account: str, reason: str) -> None:
        now = self.clock()
        stmt = self._insert(account_state_t).values(account=account, paused_reason=reason, paused_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["account"], set_={"paused_reason": reason, "paused_at": now})
        with self._tx("pause_account") as conn:
            conn.execute(stmt)

    def resume_account(self, account: str) -> bool:
        with self._tx("resume_account") as conn:
            result = conn.execute(
                sa.update(account_state_t)
                .where(account_state_t.c.account == account, account_state_t.c.paused_reason.is_not(None))
                .values(paused_reason=None, paused_at=None)
            )
        return result.rowcount == 1

    def resume_all_accounts(self) -> list[str]:
        """Clear every pause (e.g. at daemon start, after credentials were fixed); returns the accounts."""
        with self._tx("resume_all_accounts") as conn:
            names = conn.execute(
                sa.update(account_state_t)
                .where(account_state_t.c.paused_reason.is_not(None))
                .values(paused_reason=None, paused_at=None)
                .returning(account_state_t.c.account)
            ).scalars()
            return sorted(names)

    def set_platform_user_id(self, account: str, user_id: str) -> None:
        stmt = self._insert(account_state_t).values(account=account, platform_user_id=user_id)
        stmt = stmt.on_conflict_do_update(index_elements=["account"], set_={"platform_user_id": user_id})
        with self._tx("set_platform_user_id") as conn:
            conn.execute(stmt)

    def account_states(self) -> list[AccountState]:
        with self._tx("account_states") as conn:
            rows = conn.execute(sa.select(account_state_t).order_by(account_state_t.c.account)).all()
        return [AccountState(r.account, r.platform_user_id, r.paused_reason, _utc_or_none(r.paused_at)) for r in rows]

    def paused_reason(self, account: str) -> str | None:
        with self._tx("paused_reason") as conn:
            return conn.execute(
                sa.select(account_state_t.c.paused_reason).where(account_state_t.c.account == account)
            ).scalar()

    def rate_limited_until(self, account: str, endpoint: str) -> datetime | None:
        with self._tx("rate_limited_until") as conn:
            value = conn.execute(
                sa.select(rate_limit_t.c.reset_at).where(
                    rate_limit_t.c.account == account, rate_limit_t.c.endpoint == endpoint
                )
            ).scalar()
        return _utc_or_none(value)

    def _block(self, conn: Connection, account: str, endpoint: str, reset_at: datetime) -> None:
        stmt = self._insert(rate_limit_t).values(account=account, endpoint=endpoint, remaining=0, reset_at=reset_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["account", "endpoint"], set_={"remaining": 0, "reset_at": reset_at}
        )
        conn.execute(stmt)

    # ---------------------------------------------------------------- delivery (hot path)

    def claim(
        self,
        owner: str,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        per_account_per_day: int | None = None,
        min_spacing_seconds: float | None = None,
        account: str | None = None,
        other_than: Collection[str] = (),
    ) -> Claim:
        """Lease up to `limit` due rows to `owner` (attempt_started_at = now), in one transaction. The attempt
        itself is counted by begin_attempt, right before its request leaves.

        Due: pending with next_attempt_at <= now, or sending with an expired lease (a crashed worker: reconciled
        first when its request may have left); never for a paused account or an account/endpoint blocked by a
        rate limit. `account` claims only that account's rows (one delivery worker per account), `other_than`
        only the rows of accounts not in it. With per-account post limits, rows over the limit are pushed back
        to when they may go (Claim.deferred).
        """
        o = outbox_t
        spacing = float(min_spacing_seconds or 0)
        per_day = int(per_account_per_day or 0)
        limits_on = per_day > 0 or spacing > 0
        paused = sa.select(account_state_t.c.account).where(account_state_t.c.paused_reason.is_not(None))
        blocked = sa.exists().where(
            rate_limit_t.c.account == o.c.account,
            rate_limit_t.c.endpoint == _endpoint_expr(),
            rate_limit_t.c.reset_at > now,
        )
        whose = [o.c.account.not_in(paused), ~blocked]
        if account is not None:
            whose.append(o.c.account == account)
        if other_than:
            whose.append(o.c.account.not_in(list(other_than)))
        # Two index range scans (no sort over the whole table): abandoned attempts first, then due rows.
        abandoned = (
            sa.select(o)
            .where(o.c.state == OutboxState.SENDING, o.c.lease_until <= now, *whose)
            .order_by(o.c.lease_until)
            .limit(limit)
            .with_for_update(skip_locked=True, of=o)
        )
        lease_until = now + timedelta(seconds=lease_seconds)
        deferred = 0
        with self._tx("claiming outbox rows") as conn:
            if limits_on and self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_CLAIM_LOCK)))
            rows = list(conn.execute(abandoned).all())
            if len(rows) < limit:
                pending = (
                    sa.select(o)
                    .where(
                        o.c.state == OutboxState.PENDING,
                        o.c.next_attempt_at <= now,
                        *whose,
                    )
                    .order_by(o.c.next_attempt_at, o.c.id)
                    .limit(limit - len(rows))
                    .with_for_update(skip_locked=True, of=o)
                )
                rows.extend(conn.execute(pending).all())
            if not rows:
                return Claim([])
            cancelled = self._cancel_opted_out(conn, rows)
            if cancelled:
                rows = [r for r in rows if r.id not in cancelled]
                if not rows:
                    return Claim([], cancelled=len(cancelled))
            if limits_on and any(r.kind == "post" for r in rows):
                rows, deferrals = self._apply_post_limits(conn, rows, now, per_day, spacing)
                for row, until in deferrals:
                    conn.execute(
                        sa.update(o)
                        .where(o.c.id == row.id)
                        .values(
                            state=OutboxState.PENDING,
                            next_attempt_at=until,
                            lease_owner=None,
                            lease_until=None,
                            outcome_unknown=bool(row.outcome_unknown),
                        )
                    )
                deferred = len(deferrals)
            if rows:
                conn.execute(
                    sa.update(o)
                    .where(o.c.id.in_([r.id for r in rows]))
                    .values(
                        state=OutboxState.SENDING,
                        lease_owner=owner,
                        lease_until=lease_until,
                        attempt_started_at=now,
                    )
                )
        items = [
            ClaimedItem(
                OutboxItem.from_row(
                    r,
                    state=OutboxState.SENDING,
                    lease_owner=owner,
                    lease_until=lease_until,
                    attempt_started_at=now,
                ),
                reconcile=bool(r.outcome_unknown),
            )
            for r in rows
        ]
        return Claim(items, deferred, len(cancelled))

    def begin_attempt(self, item: OutboxItem, owner: str, *, now: datetime) -> Attempt:
        """The last check before a request leaves, in the transaction that counts it (attempts += 1; from now on
        its outcome is unknown until recorded): the row is still this owner's and not cancelled, its account
        not paused, its endpoint not rate-limited, and the person it reaches has not opted out (then the row
        is cancelled). One UPDATE on the way that lets it go; the reason is looked up only when it may not."""
        o = outbox_t
        endpoint = endpoint_for(item.kind)
        target = user_hash(item.target_platform or "", item.target_user_id) if item.target_user_id else None
        params: dict[str, Any] = {"_id": item.id, "_owner": owner, "_endpoint": endpoint, "_now": now}
        if target is not None:
            params["_hash"] = target
        with self._tx("starting a delivery attempt") as conn:
            attempts = conn.execute(_begin_attempt_statement(target is not None), params).scalar()
            if attempts is not None:
                return Attempt(replace(item, attempts=int(attempts), attempt_started_at=now))
            held = conn.execute(sa.select(o.c.id).where(o.c.id == item.id, _held_by(owner))).first()
            if held is None:
                return Attempt(None, Refusal.LOST)
            opted_out = target is not None and conn.execute(
                sa.select(optout_t.c.id).where(optout_t.c.user_hash == target)
            ).first()
            if opted_out:
                conn.execute(
                    sa.update(o)
                    .where(o.c.id == item.id)
                    .values(
                        state=OutboxState.CANCELLED,
                        last_error="the recipient opted out",
                        lease_owner=None,
                        lease_until=None,
                    )
                )
                return Attempt(None, Refusal.OPTED_OUT)
            reset = conn.execute(
                sa.select(rate_limit_t.c.reset_at).where(
                    rate_limit_t.c.account == item.account,
                    rate_limit_t.c.endpoint == endpoint,
                    rate_limit_t.c.reset_at > now,
                )
            ).scalar()
            if reset is not None:
                return Attempt(None, Refusal.BLOCKED, until=as_utc(reset))
            return Attempt(None, Refusal.PAUSED)

    def _apply_post_limits(
        self, conn: Connection, rows: Sequence[Any], now: datetime, per_day: int, spacing: float
    ) -> tuple[list[Any], list[tuple[Any, datetime]]]:
        o = outbox_t
        keep: list[Any] = []
        deferrals: list[tuple[Any, datetime]] = []
        candidate_ids = [r.id for r in rows]
        by_account: dict[str, list[Any]] = {}
        for r in rows:
            if r.kind == "post":
                by_account.setdefault(r.account, []).append(r)
            else:
                keep.append(r)
        for account, posts in by_account.items():
            sent = conn.execute(
                sa.select(sa.func.count(), sa.func.min(o.c.sent_at)).where(
                    o.c.account == account,
                    o.c.kind == "post",
                    o.c.state == OutboxState.SENT,
                    o.c.sent_at > now - _DAY,
                )
            ).one()
            last_sent = conn.execute(
                sa.select(sa.func.max(o.c.sent_at)).where(
                    o.c.account == account, o.c.kind == "post", o.c.state == OutboxState.SENT
                )
            ).scalar()
            in_flight = conn.execute(
                sa.select(sa.func.count(), sa.func.max(o.c.attempt_started_at)).where(
                    o.c.account == account,
                    o.c.kind == "post",
                    o.c.state == OutboxState.SENDING,
                    o.c.lease_until > now,
                    o.c.id.not_in(candidate_ids),
                )
            ).one()
            sent_count, oldest = int(sent[0]), _utc_or_none(sent[1])
            flight_count, flight_started = int(in_flight[0]), _utc_or_none(in_flight[1])
            last = max((t for t in (_utc_or_none(last_sent), flight_started) if t is not None), default=None)
            allowed_at = now
            quota = len(posts)
            later = now + timedelta(seconds=spacing) if spacing > 0 else (oldest or now) + _DAY
            if per_day > 0:
                quota = per_day - sent_count - flight_count
                if quota <= 0:
                    allowed_at = max(allowed_at, (oldest or now) + _DAY)
            if spacing > 0:
                quota = min(quota, 1)
                if last is not None and last + timedelta(seconds=spacing) > now:
                    allowed_at = max(allowed_at, last + timedelta(seconds=spacing))
            for index, r in enumerate(posts):
                if allowed_at > now:
                    deferrals.append((r, allowed_at))
                elif index < quota:
                    keep.append(r)
                else:
                    deferrals.append((r, later))
        keep.sort(key=lambda r: (as_utc(r.next_attempt_at), r.id))
        return keep, deferrals

    def expire_leases(
        self, owner: str, *, now: datetime, account: str | None = None, other_than: Collection[str] = ()
    ) -> int:
        """End every lease `owner` holds at `now` (only `account`'s, or only those of accounts not in `other_than`,
        like claim), so those rows are reconciled at once rather than when the lease runs out (after a failure
        left this worker's claimed rows in an unknown state)."""
        o = outbox_t
        whose = [_held_by(owner)]
        if account is not None:
            whose.append(o.c.account == account)
        if other_than:
            whose.append(o.c.account.not_in(list(other_than)))
        with self._tx("ending leases") as conn:
            return int(conn.execute(sa.update(o).where(*whose).values(lease_until=now)).rowcount or 0)

    def renew_leases(self, ids: Sequence[int], owner: str, *, now: datetime, lease_seconds: float) -> set[int]:
        """Extend this owner's leases; returns the ids still held (others were reclaimed by someone)."""
        if not ids:
            return set()
        o = outbox_t
        with self._tx("renewing leases") as conn:
            held = conn.execute(
                sa.update(o)
                .where(o.c.id.in_(list(ids)), _held_by(owner))
                .values(lease_until=now + timedelta(seconds=lease_seconds))
                .returning(o.c.id)
            ).scalars()
            return set(held)

    def mark_sent(self, item: OutboxItem, remote_id: str | None, *, now: datetime) -> bool:
        """The row went out (or was found on the platform): sent, with its remote id; its slot published."""
        return self.mark_sent_many([(item, remote_id, now)]) == 1

    def mark_sent_many(self, sent: Sequence[tuple[OutboxItem, str | None, datetime]]) -> int:
        """mark_sent for several rows (item, remote id, sent_at) in one transaction (executemany)."""
        if not sent:
            return 0
        o = outbox_t
        rows = [{"_id": item.id, "_rid": rid, "_at": at} for item, rid, at in sent]
        stmt = (
            sa.update(o)
            .where(
                o.c.id == sa.bindparam("_id"),
                sa.or_(o.c.state == OutboxState.SENDING, o.c.state == OutboxState.PENDING),
            )
            .values(
                state=OutboxState.SENT,
                remote_id=sa.bindparam("_rid"),
                sent_at=sa.bindparam("_at", type_=o.c.sent_at.type),
                lease_owner=None,
                lease_until=None,
                outcome_unknown=False,
                last_error=None,
            )
        )
        slots = [{"_key": item.key} for item, _rid, _at in sent if item.campaign is not None]
        multi = [m for item, _rid, _at in sent if (m := _multi_slot(item.key, item.campaign, item.slot_at))]
        with self._tx("marking sent") as conn:
            result = conn.execute(stmt, rows)
            if slots:
                conn.execute(
                    sa.update(slot_t)
                    .where(slot_t.c.outbox_key == sa.bindparam("_key"))
                    .values(state=SlotState.PUBLISHED, reason=None),
                    slots,
                )
            if multi:
                self._refresh_multi_slots(conn, multi)
        return result.rowcount

    def mark_retry(
        self,
        item: OutboxItem,
        owner: str,
        *,
        next_attempt_at: datetime,
        error: str,
        outcome_unknown: bool,
    ) -> bool:
        """A failed attempt that counts (item.attempts, written as it is): back to pending at next_attempt_at."""
        o = outbox_t
        with self._tx("scheduling a retry") as conn:
            result = conn.execute(
                sa.update(o)
                .where(o.c.id == item.id, _held_by(owner))
                .values(
                    state=OutboxState.PENDING,
                    attempts=item.attempts,
                    next_attempt_at=next_attempt_at,
                    last_error=error,
                    outcome_unknown=outcome_unknown,
                    lease_owner=None,
                    lease_until=None,
                )
            )
        return result.rowcount == 1

    def mark_dead(self, item: OutboxItem, owner: str, *, reason: str, outcome_unknown: bool = False) -> bool:
        """Dead letter (state failed) with its reason; its slot failed with the same reason."""
        o = outbox_t
        with self._tx("dead-lettering") as conn:
            result = conn.execute(
                sa.update(o)
                .where(o.c.id == item.id, _held_by(owner))
                .values(
                    state=OutboxState.FAILED,
                    attempts=item.attempts,
                    last_error=reason,
                    outcome_unknown=outcome_unknown,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            if result.rowcount == 1 and item.campaign is not None:
                conn.execute(
                    sa.update(slot_t)
                    .where(slot_t.c.outbox_key == item.key)
                    .values(state=SlotState.FAILED, reason=reason)
                )
                multi = _multi_slot(item.key, item.campaign, item.slot_at)
                if multi is not None:
                    self._refresh_multi_slots(conn, [multi])
        return result.rowcount == 1

    def release(
        self,
        items: Sequence[ClaimedItem],
        owner: str,
        *,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        block: tuple[str, str, datetime] | None = None,
        uncount: bool = False,
    ) -> int:
        """Give leased rows back (not sent: stop, pause, rate limit). `uncount`: their request left but was refused
        before it was processed (a 429, refused credentials): its attempt is taken back, it was no try.

        `block` = (account, endpoint, reset_at) also records a rate-limit block, in the same transaction.
        """
        o = outbox_t
        released = 0
        with self._tx("releasing leases") as conn:
            for claimed in items:
                values: dict[str, Any] = {
                    "state": OutboxState.PENDING,
                    "lease_owner": None,
                    "lease_until": None,
                    "outcome_unknown": bool(claimed.reconcile or claimed.item.outcome_unknown),
                }
                if uncount:
                    values["attempts"] = sa.case((o.c.attempts > 0, o.c.attempts - 1), else_=0)
                if next_attempt_at is not None:
                    values["next_attempt_at"] = next_attempt_at
                if error is not None:
                    values["last_error"] = error
                released += conn.execute(
                    sa.update(o).where(o.c.id == claimed.item.id, _held_by(owner)).values(**values)
                ).rowcount
            if block is not None:
                self._block(conn, *block)
        return released


@functools.cache
def _begin_attempt_statement(with_target: bool) -> sa.Update:
    """Store.begin_attempt's UPDATE, built once (it runs before every request the outbox sends)."""
    o = outbox_t
    now = sa.bindparam("_now", type_=UTCDateTime())
    paused = sa.exists().where(account_state_t.c.account == o.c.account, account_state_t.c.paused_reason.is_not(None))
    blocked = sa.exists().where(
        rate_limit_t.c.account == o.c.account,
        rate_limit_t.c.endpoint == sa.bindparam("_endpoint"),
        rate_limit_t.c.reset_at > now,
    )
    conditions = [
        o.c.id == sa.bindparam("_id"),
        o.c.lease_owner == sa.bindparam("_owner"),
        o.c.state == OutboxState.SENDING,
        ~paused,
        ~blocked,
    ]
    if with_target:
        conditions.append(~sa.exists().where(optout_t.c.user_hash == sa.bindparam("_hash")))
    return (
        sa.update(o)
        .where(*conditions)
        .values(attempts=o.c.attempts + 1, attempt_started_at=now, outcome_unknown=True)
        .returning(o.c.attempts)
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def open_store(url: str, *, create: bool = True) -> Store:
    return Store.open(url, create=create)


__all__ = ["Store", "StoreError", "endpoint_for", "normalise_url", "open_store", "utc_now"]
