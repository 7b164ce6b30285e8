"""Coupons: issuance exactly once per person and campaign within budget, delivery state, redemptions.

Issuance locks the campaign's `coupon_budget` row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN
IMMEDIATE serialises every writer) and, in the same transaction, checks who already has a row, inserts the
batch's coupon rows and bumps the counters: two daemons, threads or a crash between batches can neither
double a person nor overrun the budget. UNIQUE(campaign, platform, user_id) and UNIQUE(code) back it up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.adapters.store.mentions import user_hash, username_hash
from bot.adapters.store.tables import (
    OutboxState,
    coupon_budget_t,
    coupon_t,
    graph_score_t,
    mention_t,
    optout_t,
    outbox_t,
    redemption_t,
    social_user_t,
)
from bot.adapters.store.types import StorableString, as_utc, storable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)

IN_CHUNK = 900  # values per IN (...) list
ANY_CHUNK = 20_000  # values per = ANY(array) on PostgreSQL
_REDEEMABLE = ("issued", "delivered", "expired")  # an expired code still counts for an order placed in time
_PG_REDEMPTION_LOCK = 0x5EDE3B7  # advisory lock id: redemption recorders (imports, webhooks) take turns
_COUPON_COLUMNS = ("id", "code", "campaign", "state", "expires_at")
_REDEMPTION_COLUMNS = ("code", "order_id", "amount", "redeemed_at", "status", "coupon_id", "source", "imported_at")


class CouponState:
    ISSUED = "issued"
    DELIVERED = "delivered"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    HELD_OUT = "held_out"
    FORGOTTEN = "forgotten"  # the code was voided by `socialbot forget` (bot/adapters/store/privacy.py)

    ALL = (ISSUED, DELIVERED, REDEEMED, EXPIRED, HELD_OUT, FORGOTTEN)


class RedemptionStatus:
    COUNTED = "counted"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REUSED = "reused"
    DUPLICATE = "duplicate"  # this order was imported before: nothing written (not a stored status)

    STORED = (COUNTED, UNKNOWN, EXPIRED, REUSED)


@dataclass(frozen=True)
class Member:
    platform: str
    user_id: str
    segment_id: int | None
    holdout: bool  # drawn for the holdout (gets a held_out row and nothing else)


@dataclass(frozen=True)
class IssueSpec:
    """What one campaign's issuance needs from the service."""

    campaign: str
    budget: int
    channel: str
    expires_after_s: float
    min_influence: float = 0.0
    snapshot_id: int | None = None  # the graph snapshot the influence comes from
    cooldown_since: datetime | None = None  # nobody with a code (any campaign) issued after this
    new_code: Callable[[], str] | None = None  # generated codes, or:
    pool: Sequence[str] | None = None  # codes from the shop's pool CSV, used in order


@dataclass
class BatchOutcome:
    issued: int = 0
    held_out: int = 0
    opted_out: int = 0
    low_influence: int = 0
    existing: int = 0
    cooldown: int = 0
    over_budget: int = 0  # eligible, but the budget was spent
    pool_empty: int = 0  # eligible, but the pool had no code left
    budget_left: int = 0
    pool_position: int = 0
    collisions: int = 0


@dataclass(frozen=True)
class CouponRecord:
    id: int
    campaign: str
    platform: str
    user_id: str
    username: str | None
    segment_id: int | None
    holdout: bool
    code: str | None
    state: str
    channel: str | None
    issued_at: datetime
    expires_at: datetime | None
    delivered_at: datetime | None
    outbox_key: str | None
    redeemed_at: datetime | None
    order_id: str | None
    amount: float | None
    language: str | None = None  # of the person's latest DM (DM delivery)


@dataclass(frozen=True)
class RedemptionLine:
    code: str
    order_id: str
    amount: float | None
    time: datetime
    source: str | None = None


@dataclass(frozen=True)
class RedemptionResult:
    line: RedemptionLine
    status: str  # RedemptionStatus
    coupon_id: int | None = None
    campaign: str | None = None


@dataclass
class CampaignCounts:
    """Counts of one campaign and segment (segment None: the whole campaign)."""

    campaign: str
    segment_id: int | None
    held_out: int = 0
    issued: int = 0
    delivered: int = 0
    redeemed: int = 0
    expired: int = 0
    revenue: float = 0.0
    first_issued_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


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
        issued_at=as_utc(row.issued_at),
        expires_at=_opt(row.expires_at),
        delivered_at=_opt(row.delivered_at),
        outbox_key=row.outbox_key,
        redeemed_at=_opt(row.redeemed_at),
        order_id=row.order_id,
        amount=row.amount,
        language=language,
    )


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _by_platform(members: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for platform, user_id in members:
        out[platform].append(user_id)
    return out


def _bind_processor(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """What Core applies to a bound value of this type; StorableString's own function directly (3 calls fewer)."""
    if isinstance(column_type, StorableString) and column_type.impl_instance.bind_processor(dialect) is None:
        return _storable_or_none
    return column_type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _storable_or_none(value: Any) -> Any:
    return storable(value) if value.__class__ is str else value


def _bulk(conn: Connection, statement: sa.Executable, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """executemany of `statement` (an INSERT or UPDATE whose bind parameters are `keys`; `rows` hold their values
    in that order) at the driver. SQLAlchemy builds the parameters row by row (~25 us a row); here each column's
    own bind processor (UTC datetimes, storable text) is mapped over the column, once per distinct value, so the
    values are stored exactly as through Core, several times faster."""
    if not rows:
        return
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    columns = dict(zip(keys, zip(*rows, strict=True), strict=True))
    processed: list[Sequence[Any]] = []
    for name in names:
        bind = compiled.binds[name]
        values = columns[bind.key]
        process = _bind_processor(bind.type, dialect)
        if process is None:
            processed.append(values)
            continue
        distinct = set(values)
        if 2 * len(distinct) <= len(values):  # e.g. one import time for every row
            done = {value: process(value) for value in distinct}
            processed.append(list(map(done.__getitem__, values)))
        else:
            processed.append(list(map(process, values)))
    if compiled.positional:
        params: list[Any] = list(zip(*processed, strict=True))
    else:
        params = [dict(zip(names, values, strict=True)) for values in zip(*processed, strict=True)]
    conn.exec_driver_sql(compiled.string, params)


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


def _processed_columns(
    conn: Connection, table: sa.Table, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[Sequence[Any]]:
    """`rows` column by column, each value through its column's bind processor (as Core would)."""
    out: list[Sequence[Any]] = []
    for key, values in zip(keys, zip(*rows, strict=True), strict=True):
        process = _bind_processor(table.c[key].type, conn.dialect)
        out.append(values if process is None else list(map(process, values)))
    return out


def _copy_in(conn: Connection, table: sa.Table, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows with COPY, in the current transaction (executemany costs a round trip a row)."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = _processed_columns(conn, table, keys, rows)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {quote(table.name)} ({', '.join(map(quote, keys))}) FROM STDIN") as copy:
        for row in zip(*columns, strict=True):
            copy.write_row(row)


def _redeem_unnest(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL: _REDEEM for every (coupon id, time, order id, amount) in one statement over arrays."""
    if not rows:
        return
    ids, times, orders, amounts = _processed_columns(conn, coupon_t, ("id", "redeemed_at", "order_id", "amount"), rows)
    redeemable = ", ".join(f"'{s}'" for s in _REDEEMABLE)
    conn.exec_driver_sql(
        "UPDATE coupon SET state = 'redeemed', redeemed_at = v.at, order_id = v.ord, amount = v.paid "
        "FROM unnest(%s::integer[], %s::timestamptz[], %s::text[], %s::float8[]) AS v(id, at, ord, paid) "
        f"WHERE coupon.id = v.id AND coupon.state IN ({redeemable})",
        (list(ids), list(times), list(orders), list(amounts)),
    )


def _select_in(
    conn: Connection, table: sa.Table, key: str, values: Iterable[Any], columns: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    """SELECT `columns` FROM `table` WHERE `key` IN `values` (PostgreSQL: = ANY of an array), IN_CHUNK values a
    statement, at the driver (Core
    expands and processes every value of an IN list, ~8 us a value). Bind and result values go through the
    columns' own processors, as in Core."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    bind = _bind_processor(table.c[key].type, dialect)
    readers = [table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in columns]
    head = f"SELECT {', '.join(map(quote, columns))} FROM {quote(table.name)} WHERE {quote(key)}"
    postgres = dialect.name == "postgresql"  # one array parameter: = ANY(...) plans fast, a long IN list does not
    for chunk in _chunks(list(values), ANY_CHUNK if postgres else IN_CHUNK):
        params = tuple(chunk) if bind is None else tuple(map(bind, chunk))
        if postgres:
            rows = conn.exec_driver_sql(f"{head} = ANY(%s)", (list(params),)).fetchall()
        else:
            rows = conn.exec_driver_sql(f"{head} IN ({', '.join([mark] * len(chunk))})", params).fetchall()
        if not rows:
            continue
        read: list[Sequence[Any]] = []
        for reader, column in zip(readers, zip(*rows, strict=True), strict=True):
            if reader is None:
                read.append(column)
            else:  # once per distinct value: coupons issued together share one expiry
                done = {value: reader(value) for value in set(column)}
                read.append(list(map(done.__getitem__, column)))
        yield from zip(*read, strict=True)


class CouponQueries:
    """Mixed into bot.adapters.store.Store."""

    if TYPE_CHECKING:
        clock: Callable[[], datetime]
        dialect: str

        def _tx(self, what: str) -> AbstractContextManager[Connection]: ...

        def _insert(self, table: sa.Table) -> Any: ...

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
        ) -> dict[str, Any]: ...

        def _insert_outbox(self, conn: Connection, values: dict[str, Any]) -> bool: ...

    # ---------------------------------------------------------------- issuance

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
            for part in _chunks(ids):
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
        for part in _chunks(hashes):
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
                c.c.holdout.is_(False), c.c.issued_at >= as_utc(cooldown_since), c.c.campaign != campaign
            )
            recent = {(r.platform, r.user_id) for r in self._users_in(conn, stmt, c.c.platform, c.c.user_id, users)}
        return existing, recent

    def _codes_taken(self, conn: Connection, codes: Sequence[str]) -> set[str]:
        taken: set[str] = set()
        for part in _chunks(list(codes)):
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

    def issue_coupons(self, spec: IssueSpec, members: Sequence[Member], *, pool_position: int = 0) -> BatchOutcome:
        """One batch of issuance in ONE transaction under the campaign's budget lock: who is opted out, not
        influential enough, already in this campaign or within the cooldown is left out; the holdout gets
        held_out rows; the rest get codes while the budget lasts."""
        now = self.clock()
        out = BatchOutcome(pool_position=pool_position)
        unique: dict[tuple[str, str], Member] = {}
        for m in members:
            unique.setdefault((m.platform, m.user_id), m)
        users = _by_platform(unique)
        with self._tx(f"issuing coupons of {spec.campaign}") as conn:
            issued, _held = self._lock_budget(conn, spec.campaign)
            left = max(spec.budget - issued, 0)
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

    def coupon_budget(self, campaign: str) -> tuple[int, int]:
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

    def coupons(
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

    def coupon_by_code(self, code: str) -> CouponRecord | None:
        with self._tx("reading a coupon") as conn:
            row = conn.execute(self._coupon_select().where(coupon_t.c.code == code)).first()
        return _record(row) if row is not None else None

    # ---------------------------------------------------------------- delivery

    def reply_coupon(
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
                c.c.expires_at > as_utc(now),
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
            parts: Iterable[Sequence[str] | None] = [None] if keys is None else _chunks(sorted(set(keys)))
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

    def dm_coupons(self, campaign: str, account: str, *, limit: int = 1000) -> list[CouponRecord]:
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
            for part in _chunks(authors):
                latest = conn.execute(
                    sa.select(m.c.platform, m.c.author_id, m.c.language)
                    .where(m.c.account == account, m.c.kind == "dm", m.c.author_id.in_(list(part)))
                    .order_by(m.c.id)
                )
                for platform, author, language in latest:
                    languages[(platform, author)] = language  # the latest DM wins
        return [_record(r, languages.get((r.platform, r.user_id))) for r in rows]

    def enqueue_coupon_dms(self, items: Sequence[tuple[int, dict[str, Any]]]) -> int:
        """In ONE transaction: each (coupon id, enqueue() arguments) becomes an outbox DM (unique key) and the
        coupon records its key. Returns how many coupons were newly attached."""
        c = coupon_t
        attached = 0
        with self._tx("enqueueing coupon DMs") as conn:
            for coupon_id, args in items:
                values = self._outbox_values(
                    args["key"], args["account"], "dm", args["text"], None, args["recipient_id"], None, None, None
                )
                values.update(target_platform=args["target_platform"], target_user_id=args["target_user_id"])
                self._insert_outbox(conn, values)
                attached += conn.execute(
                    sa.update(c)
                    .where(c.c.id == coupon_id, c.c.state == "issued", c.c.outbox_key.is_(None))
                    .values(outbox_key=args["key"])
                ).rowcount
        return attached

    def export_coupons(self, campaign: str, *, limit: int | None = None) -> list[CouponRecord]:
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
        now = self.clock()
        total = 0
        with self._tx("recording exported coupons") as conn:
            for part in _chunks(list(coupon_ids)):
                total += conn.execute(
                    sa.update(c)
                    .where(c.c.id.in_(list(part)), c.c.state == "issued")
                    .values(state="delivered", delivered_at=now, outbox_key=key)
                ).rowcount
        return total

    def expire_coupons(self, now: datetime | None = None) -> int:
        """Issued or delivered codes past their expiry become expired."""
        c = coupon_t
        moment = as_utc(now or self.clock())
        with self._tx("expiring coupons") as conn:
            return conn.execute(
                sa.update(c)
                .where(c.c.state.in_(("issued", "delivered")), c.c.expires_at <= moment)
                .values(state="expired")
            ).rowcount

    # ---------------------------------------------------------------- redemptions

    def record_redemptions(self, lines: Sequence[RedemptionLine]) -> list[RedemptionResult]:
        """Each line in order, in ONE transaction: an order seen before (or earlier in `lines`) is a duplicate
        (nothing written); an unknown code, a code past its expiry at the order's time, or a code another order
        redeemed is recorded with that status and never counted; otherwise the coupon becomes redeemed.

        Set-based, for imports of a million lines: recorders take turns (an advisory lock on PostgreSQL, SQLite's
        write lock), the coupons and the orders already recorded are read up front, the redemption rows are
        inserted and the coupons updated together (_bulk), and the coupons read back: one that changed state
        meanwhile (`socialbot forget` voided it) makes its line `reused`, as a lost race always did."""
        c, r = coupon_t, redemption_t
        now = self.clock()
        results: list[RedemptionResult] = []
        with self._tx("recording redemptions") as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_REDEMPTION_LOCK)))
            coupons: dict[str, tuple[int, str, str, datetime | None]] = {}  # code -> id, campaign, state, expiry
            found = _select_in(conn, c, "code", {line.code for line in lines}, _COUPON_COLUMNS)
            for coupon_id, code, campaign, state, expires_at in found:
                coupons[code] = (coupon_id, campaign, state, _opt(expires_at))
            recorded = {
                row[0] for row in _select_in(conn, r, "order_id", {line.order_id for line in lines}, ["order_id"])
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
                when = line.time if line.time.tzinfo is UTC else as_utc(line.time)
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
            redeemed_rows = [(w.coupon_id, as_utc(w.line.time), w.line.order_id, w.line.amount) for w in winners]
            if self.dialect == "postgresql":
                _copy_in(conn, r, _REDEMPTION_COLUMNS, rows)
                _redeem_unnest(conn, redeemed_rows)
            else:
                _bulk(conn, sa.insert(r), _REDEMPTION_COLUMNS, rows)
                _bulk(conn, _REDEEM, ("coupon", "when", "order", "paid"), redeemed_rows)
            lost: list[str] = []
            if self.dialect != "sqlite":  # SQLite: no other writer since the coupons were read (BEGIN IMMEDIATE)
                for coupon_id, state, order_id in _select_in(conn, c, "id", wins, ("id", "state", "order_id")):
                    won = results[wins[coupon_id]]
                    if state != "redeemed" or order_id != won.line.order_id:  # `forget` voided it meanwhile
                        lost.append(won.line.order_id)
                        results[wins[coupon_id]] = RedemptionResult(
                            won.line, RedemptionStatus.REUSED, coupon_id, won.campaign
                        )
            for chunk in _chunks(lost):
                conn.execute(sa.update(r).where(r.c.order_id.in_(chunk)).values(status=RedemptionStatus.REUSED))
        return results

    def redemptions(self, *, status: str | None = None) -> list[Any]:
        r = redemption_t
        stmt = sa.select(r).order_by(r.c.id)
        if status is not None:
            stmt = stmt.where(r.c.status == status)
        with self._tx("reading redemptions") as conn:
            return list(conn.execute(stmt).all())

    # ---------------------------------------------------------------- report

    def coupon_counts(self) -> list[CampaignCounts]:
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
            first = _opt(first)
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
