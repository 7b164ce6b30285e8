"""Forgetting a person (`socialbot forget @handle`): their personal data erased, aggregate counts and opt-out kept.

What happens per table, in ONE transaction (see the README's "Privacy" paragraph):

- social_user, mention (rows they wrote), interaction (either end), graph_score, segment_member: rows deleted.
- inbox (their items): kept for the escalation count, with user id, handle, text, note and mention id blanked.
- optout: the row stays with `user_hash` only (user id, handle and reason cleared): every opt-out check goes
  through that hash, so it holds forever (the count of opt-outs does not change).
- outbox rows addressed to them (target/recipient, coupon DMs, replies to their posts): pending ones cancelled;
  every one keeps its state, account, kind, times and remote id (the counts), but text, recipient, target,
  in-reply-to id and the key's person part are replaced ("[forgotten]", key `<kind prefix>:forgotten:<id>`).
- coupon: rows stay (the campaign report's issued / delivered / redeemed / revenue figures do not drop) with
  the user id replaced by `forgotten:<row id>`; a code not yet redeemed is voided (code cleared, issued or
  delivered -> state `forgotten`); a redeemed one keeps its code, order and amount. coupon_budget, redemption,
  graph_snapshot / segment_run / segment sizes: untouched aggregates.
- other people's rows: their handle inside texts and JSON values (mentions, urls, reasons, snapshot stats) is
  masked as `@[forgotten]`; a list item or key that is exactly their id or handle (community top members, the
  mentions list) is dropped; an id column naming them (in_reply_to_user_id) is cleared. Other people's outbox
  rows being sent right now (`sending`) are left as they are: their exact text is what reconciliation looks for.
- kept as they are: redemption (code, order, amount), cursor, campaign_slot, engagement_post (our posts and
  their counts), read_budget, rate_limit, account_state, job_lease.

After the transaction, the database files: on SQLite every connection has secure_delete on (erased and
overwritten content is zeroed in the pages) and the WAL, which still holds the old page versions, is
checkpointed and truncated; on PostgreSQL the touched tables are vacuumed (docs/deploy.md says what VACUUM
does and does not do). ForgetReport.files says which, and whether it completed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.base import Repository
from bot.adapters.store.engine import checkpoint_wal, vacuum
from bot.adapters.store.keys import text_hash, user_hash, username_hash
from bot.adapters.store.tables import (
    coupon_t,
    graph_community_t,
    graph_score_t,
    graph_snapshot_t,
    inbox_t,
    interaction_t,
    mention_t,
    metadata,
    optout_t,
    outbox_t,
    segment_member_t,
    segment_run_t,
    segment_t,
    social_user_t,
)
from bot.core.errors import StoreError
from bot.core.records import CouponState, OutboxState

logger = logging.getLogger(__name__)

FORGOTTEN = "[forgotten]"
FORGOTTEN_STATE = CouponState.FORGOTTEN  # a coupon whose code was voided by a 'forget'
_WORD = "A-Za-z0-9_"


@dataclass
class ForgetReport:
    """What a 'forget' did, per table: rows deleted, rows of theirs kept but stripped (anonymised), and other
    people's rows where their handle or id was masked."""

    platform: str
    user_id: str | None
    username: str | None
    erased: dict[str, int] = field(default_factory=dict)
    anonymised: dict[str, int] = field(default_factory=dict)
    masked: dict[str, int] = field(default_factory=dict)
    optout_kept: bool = False
    files: str = ""  # what was done so that no old copy stays readable in the database files
    files_clean: bool = True  # False: old copies may still be in the files (files says why)

    @property
    def total(self) -> int:
        return sum(self.erased.values()) + sum(self.anonymised.values()) + sum(self.masked.values())

    def tables(self) -> list[tuple[str, int, int, int]]:
        """(table, erased, anonymised, masked) for every table touched, sorted by name."""
        names = sorted(set(self.erased) | set(self.anonymised) | set(self.masked))
        return [(n, self.erased.get(n, 0), self.anonymised.get(n, 0), self.masked.get(n, 0)) for n in names]

    def _add(self, bucket: dict[str, int], table: str, n: int) -> None:
        if n:
            bucket[table] = bucket.get(table, 0) + n


class _Scrubber:
    """Masks a person's handle and id inside strings and JSON values."""

    def __init__(self, user_id: str | None, handle: str | None) -> None:
        self.user_id = user_id
        self.handle = handle.lower() if handle else None
        # free text: only the handle as a mention or in a link (`@handle`, `x.com/handle`); a bare word or number
        # could be someone else's, so the id is removed only where a value is exactly theirs (ids, list items)
        self.pattern = (
            re.compile(rf"((?<![{_WORD}])[@＠]|/){re.escape(handle)}(?![{_WORD}])", re.IGNORECASE) if handle else None
        )
        self.needles = [n for n in (self.handle, user_id.lower() if user_id else None) if n]

    def is_theirs(self, value: str) -> bool:
        v = value.strip().lstrip("@＠").lower()
        return bool(v) and v in self.needles

    def text(self, value: str) -> str:
        if self.pattern is None:
            return value
        return self.pattern.sub(lambda m: m.group(1) + FORGOTTEN, value)

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value if not (isinstance(v, str) and self.is_theirs(v))]
        if isinstance(value, dict):
            return {self.text(str(k)): self.json(v) for k, v in value.items() if not self.is_theirs(str(k))}
        return value


class PrivacyRepository(Repository):
    """Forgetting a person (store.privacy)."""

    def forget(self, platform: str, user_id: str | None, username: str | None) -> ForgetReport:
        """Erase a person's personal data in ONE transaction; returns the counts per table.

        The person is `user_id` on `platform`; without an id it is resolved from `username` (case-insensitive:
        social_user, else an opt-out or inbox item that recorded both). A handle the bot never stored still
        clears its opt-out row down to the hash and masks it in other people's texts."""
        handle = username.strip().lstrip("@＠") if username else None
        if not user_id and not handle:
            raise ValueError("give user_id or username")
        with self._tx(f"forgetting a person on {platform}") as conn:
            if not user_id and handle:
                user_id = _resolve(conn, platform, handle)
            if user_id and not handle:
                handle = conn.execute(
                    sa.select(social_user_t.c.username).where(
                        social_user_t.c.platform == platform, social_user_t.c.user_id == user_id
                    )
                ).scalar()
            report = ForgetReport(platform, user_id, handle)
            scrub = _Scrubber(user_id, handle)
            their_posts = self._forget_own_rows(conn, report, platform, user_id, handle)
            key_map = self._forget_outbox(conn, report, platform, user_id, their_posts)
            self._forget_coupons(conn, report, platform, user_id, key_map)
            self._keep_optout(conn, report, platform, user_id, handle)
            self._mask_others(conn, report, scrub)
        self._erase_old_copies(report)
        logger.info(
            "forgot %s person %s: %d rows erased, %d anonymised, %d masked",
            platform,
            "known" if user_id else "unknown",
            sum(report.erased.values()),
            sum(report.anonymised.values()),
            sum(report.masked.values()),
        )
        return report

    def _erase_old_copies(self, report: ForgetReport) -> None:
        """The old versions of the rows just changed, out of the database files (see the module's docstring)."""
        if self.dialect == "sqlite":
            problem = checkpoint_wal(self.db.engine)
            report.files_clean = problem is None
            report.files = (
                "database file: erased rows zeroed (secure_delete), write-ahead log checkpointed and emptied"
                if problem is None
                else f"the write-ahead log still holds old copies of the erased rows: {problem}"
            )
            return
        tables = sorted(name for name, *_ in report.tables() if name in metadata.tables)
        if not tables:
            return
        try:
            vacuum(self.db.engine, tables)
        except StoreError as exc:
            report.files_clean = False
            report.files = f"VACUUM failed, dead row versions stay in the table files until autovacuum: {exc}"
            return
        report.files = f"VACUUM run on {', '.join(tables)} (dead row versions removed from the pages)"

    # ---------------------------------------------------------------- their own rows

    def _forget_own_rows(
        self, conn: Connection, report: ForgetReport, platform: str, user_id: str | None, handle: str | None
    ) -> list[str]:
        """Delete profile, texts, edges, scores and memberships; blank their inbox items. Returns the platform
        ids of their mentions/DMs (replies to them are found by these)."""
        their_posts: list[str] = []
        if user_id:
            m = mention_t
            their_posts = list(
                conn.execute(
                    sa.select(m.c.platform_id).where(m.c.platform == platform, m.c.author_id == user_id)
                ).scalars()
            )
            u, i, g, s = social_user_t, interaction_t, graph_score_t, segment_member_t
            deletes: list[tuple[str, sa.Table, Any]] = [
                ("social_user", u, sa.and_(u.c.platform == platform, u.c.user_id == user_id)),
                ("mention", m, sa.and_(m.c.platform == platform, m.c.author_id == user_id)),
                (
                    "interaction",
                    i,
                    sa.and_(
                        i.c.platform == platform, sa.or_(i.c.source_user_id == user_id, i.c.target_user_id == user_id)
                    ),
                ),
                ("graph_score", g, sa.and_(g.c.platform == platform, g.c.user_id == user_id)),
                ("segment_member", s, sa.and_(s.c.platform == platform, s.c.user_id == user_id)),
            ]
            for name, table, where in deletes:
                report._add(report.erased, name, conn.execute(sa.delete(table).where(where)).rowcount)
        ib = inbox_t
        mine = []
        if user_id:
            mine.append(ib.c.user_id == user_id)
        if handle:
            mine.append(sa.func.lower(ib.c.username) == handle.lower())
        rows = conn.execute(sa.select(ib.c.id).where(ib.c.platform == platform, sa.or_(*mine))).scalars().all()
        for item_id in rows:
            conn.execute(
                sa.update(ib)
                .where(ib.c.id == item_id)
                .values(
                    user_id=None,
                    username=None,
                    text=FORGOTTEN,
                    note=sa.case((ib.c.note.is_(None), None), else_=FORGOTTEN),
                    mention_id=f"forgotten:{item_id}",
                )
            )
        report._add(report.anonymised, "inbox", len(rows))
        return their_posts

    def _forget_outbox(
        self, conn: Connection, report: ForgetReport, platform: str, user_id: str | None, their_posts: Sequence[str]
    ) -> dict[str, str]:
        """Outbox rows to them: pending/sending cancelled; text, recipient, target, in-reply-to and the key's
        person part replaced. Returns {old key: new key} (coupons point at their carrying row by key)."""
        if not user_id:
            return {}
        o = outbox_t
        theirs: list[Any] = [
            sa.and_(o.c.target_platform == platform, o.c.target_user_id == user_id),
            o.c.recipient_id == user_id,
        ]
        for start in range(0, len(their_posts), 900):
            theirs.append(o.c.in_reply_to_id.in_(list(their_posts[start : start + 900])))
        rows = conn.execute(sa.select(o.c.id, o.c.key, o.c.state).where(sa.or_(*theirs))).all()
        key_map: dict[str, str] = {}
        cancelled = 0
        for row in rows:
            prefix = row.key.split(":", 1)[0] if ":" in row.key else "outbox"
            new_key = f"{prefix}:forgotten:{row.id}"
            key_map[row.key] = new_key
            values: dict[str, Any] = {
                "key": new_key,
                "text": FORGOTTEN,
                "text_hash": text_hash(FORGOTTEN),
                "recipient_id": None,
                "target_user_id": None,
                "in_reply_to_id": None,
                "last_error": None,
            }
            if row.state in (OutboxState.PENDING, OutboxState.SENDING):
                values.update(state=OutboxState.CANCELLED, lease_owner=None, lease_until=None, last_error="forgotten")
                cancelled += 1
            conn.execute(sa.update(o).where(o.c.id == row.id).values(**values))
        report._add(report.anonymised, "outbox", len(rows))
        if cancelled:
            logger.info("forget: %d outbox rows to the person cancelled", cancelled)
        return key_map

    def _forget_coupons(
        self, conn: Connection, report: ForgetReport, platform: str, user_id: str | None, key_map: dict[str, str]
    ) -> None:
        """Coupon rows stay for the report, without the person; codes not yet redeemed are voided."""
        if not user_id:
            return
        c = coupon_t
        rows = conn.execute(
            sa.select(c.c.id, c.c.state, c.c.outbox_key).where(c.c.platform == platform, c.c.user_id == user_id)
        ).all()
        for row in rows:
            values: dict[str, Any] = {"user_id": f"forgotten:{row.id}"}
            if row.state != "redeemed":
                values["code"] = None
                if row.state in ("issued", "delivered"):
                    values["state"] = FORGOTTEN_STATE
            if row.outbox_key in key_map:
                values["outbox_key"] = key_map[row.outbox_key]
            conn.execute(sa.update(c).where(c.c.id == row.id).values(**values))
        report._add(report.anonymised, "coupon", len(rows))

    def _keep_optout(
        self, conn: Connection, report: ForgetReport, platform: str, user_id: str | None, handle: str | None
    ) -> None:
        """Their opt-out rows keep only the hash (of the id, or of the handle for one added by hand): the check
        (store.mentions.is_opted_out, the claim-time cancel, coupon issuance) still finds it; no row is added, so the
        opt-out count stays the same."""
        o = optout_t
        hashes = []
        if user_id:
            hashes.append(user_hash(platform, user_id))
        if handle:
            hashes.append(username_hash(platform, handle))
        cond: list[Any] = [o.c.user_hash.in_(hashes)]
        if user_id:
            cond.append(sa.and_(o.c.platform == platform, o.c.user_id == user_id))
        if handle:
            cond.append(sa.and_(o.c.platform == platform, sa.func.lower(o.c.username) == handle.lower()))
        rows = conn.execute(sa.select(o.c.id).where(sa.or_(*cond))).scalars().all()
        if not rows:
            return
        conn.execute(sa.update(o).where(o.c.id.in_(rows)).values(user_id=None, username=None, reason="forgotten"))
        report._add(report.anonymised, "optout", len(rows))
        report.optout_kept = True

    # ---------------------------------------------------------------- other people's rows

    def _mask_others(self, conn: Connection, report: ForgetReport, scrub: _Scrubber) -> None:
        if not scrub.needles:
            return
        o, m = outbox_t, mention_t
        spec: list[tuple[str, sa.Table, list[str], list[str], Any]] = [
            (
                "mention",
                mention_t,
                ["text", "reason"],
                ["mentions", "urls", "hashtags"],
                m.c.platform == report.platform,
            ),
            ("inbox", inbox_t, ["text", "note"], [], None),
            ("outbox", o, ["text", "last_error"], [], o.c.state != OutboxState.SENDING),
            ("optout", optout_t, ["reason"], [], None),
            ("graph_score", graph_score_t, [], ["reasons"], None),
            ("graph_community", graph_community_t, [], ["top_members", "top_terms"], None),
            ("graph_snapshot", graph_snapshot_t, [], ["params", "stats"], None),
            ("segment_run", segment_run_t, [], ["params", "stats"], None),
            ("segment", segment_t, ["label"], ["centroid"], None),
        ]
        for name, table, texts, jsons, extra in spec:
            ids = ["in_reply_to_user_id"] if table is mention_t else []
            report._add(report.masked, name, _mask_table(conn, table, texts, jsons, scrub, extra, ids))


def _resolve(conn: Connection, platform: str, handle: str) -> str | None:
    """The user id of a handle: the most recently seen social_user, else an opt-out or inbox item naming both."""
    lowered = handle.lower()
    u = social_user_t
    found = conn.execute(
        sa.select(u.c.user_id)
        .where(u.c.platform == platform, sa.func.lower(u.c.username) == lowered)
        .order_by(u.c.last_seen.desc())
        .limit(1)
    ).scalar()
    if found:
        return str(found)
    for table in (optout_t, inbox_t):
        found = conn.execute(
            sa.select(table.c.user_id)
            .where(
                table.c.platform == platform,
                sa.func.lower(table.c.username) == lowered,
                table.c.user_id.is_not(None),
            )
            .order_by(table.c.id.desc())
            .limit(1)
        ).scalar()
        if found:
            return str(found)
    return None


def _mask_table(
    conn: Connection,
    table: sa.Table,
    texts: list[str],
    jsons: list[str],
    scrub: _Scrubber,
    extra: Any,
    ids: Sequence[str] = (),
) -> int:
    """Mask the person in these text and JSON columns (and clear these id columns naming them) of rows that may
    contain them; returns how many rows changed. `extra`: a further condition (None: every row)."""
    columns = texts + jsons
    like: list[Any] = [
        sa.func.lower(sa.cast(table.c[col], sa.Text)).like(f"%{needle}%") for col in columns for needle in scrub.needles
    ]
    if scrub.user_id:
        like += [table.c[col] == scrub.user_id for col in ids]
    stmt = sa.select(*table.primary_key.columns, *(table.c[col] for col in [*columns, *ids])).where(sa.or_(*like))
    if extra is not None:
        stmt = stmt.where(extra)
    pk = list(table.primary_key.columns)
    changed = 0
    for row in conn.execute(stmt).all():
        m = row._mapping
        values: dict[str, Any] = {col: None for col in ids if scrub.user_id and m[col] == scrub.user_id}
        for col in texts:
            if m[col] is not None:
                new = scrub.text(m[col])
                if new != m[col]:
                    values[col] = new
        for col in jsons:
            value = m[col]
            if isinstance(value, str):  # a JSON document stored as text
                value = json.loads(value)
            if value is not None:
                new_json = scrub.json(value)
                if new_json != value:
                    values[col] = new_json
        if not values:
            continue
        if table is outbox_t and "text" in values:
            values["text_hash"] = text_hash(values["text"])
        conn.execute(sa.update(table).where(*(c == m[c.name] for c in pk)).values(**values))
        changed += 1
    return changed
