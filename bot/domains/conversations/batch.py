"""One batch of incoming mentions or DMs in one transaction: stored with their authors and interactions,
classified, decided (bot.domains.conversations.decide), answered through the outbox, escalated; the cursor
moved in the same transaction. A batch that cannot be stored because of what it holds is retried one item at
a time, and an item that still fails is set aside for a person."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.adapters.escalation import Escalator
from bot.core.clock import Clock
from bot.core.errors import BotError, StoreError, StoreRefused
from bot.core.models import User
from bot.core.ports import MentionUnit, Platform
from bot.core.records import (
    FROM_DATA,
    InboxRecord,
    InteractionRecord,
    MentionRecord,
    OptOutRecord,
    Outcome,
    ReplyRecord,
    UserRecord,
    dm_reply_key,
    reply_key,
)
from bot.core.text import safe_name
from bot.domains.conversations.decide import DAY, Decision, Facts, Policy, decide
from bot.domains.conversations.incoming import Incoming, seen, summons
from bot.domains.conversations.records import interactions, mention_record
from bot.domains.conversations.replies import ReplyComposer, reply_context
from bot.domains.conversations.texts import Wanted, reply_texts
from bot.settings.replies import UNANSWERED, IntentRule

if TYPE_CHECKING:
    from bot.core.ports import MentionStore
    from bot.domains.conversations.replies import Renderer
    from bot.settings.config import Settings

logger = logging.getLogger(__name__)

MENTIONS = "mentions"
DMS = "dms"
# an edited post's older version in the same batch as its newer one: only the newest is answered
EDITED_LATER = Decision("an earlier version of an edited post", audience=False)

Cursor = str | tuple[str, str | None] | None


class IntentClassifier(Protocol):
    def classify(self, text: str, *, account_handle: str | None = None) -> Any: ...


class Answers(Protocol):
    """What the shop's own data says to a question (bot.domains.conversations.answers.Answerer)."""

    def answer(self, text: str, language: str, now: datetime) -> Any: ...


class CouponOffers(Protocol):
    """Reply-channel coupons (bot.domains.coupons.issuing.CouponService): the code a person's reply may carry."""

    def coupon_for_reply(
        self, account: str, platform: str, user_id: str, *, language: str | None = None, name: str = ""
    ) -> Any: ...

    def mark_delivering(self, coupon_id: int, outbox_key: str) -> bool: ...


@dataclass(frozen=True)
class Source:
    """Where a batch comes from: the account, its platform and identity, the users the read brought along, and
    the stream (MENTIONS or DMS)."""

    account: str
    platform: Platform
    me: User
    users: Mapping[str, User]
    stream: str

    @property
    def kind(self) -> str:
        return "dm" if self.stream == DMS else "mention"


@dataclass
class Tally:
    """What batches stored (PollReport's counts)."""

    new: int = 0  # mentions and DMs stored for the first time
    replies: int = 0  # outbox rows enqueued (replies and DM answers)
    escalations: int = 0  # inbox rows
    optouts: int = 0
    skipped: int = 0  # new mentions/DMs not answered (see each one's reason)
    set_aside: int = 0  # mentions/DMs that could not be processed: in the inbox for a person, never retried
    answered_from_data: int = 0  # questions the shop's data answered


@dataclass
class _Plan:
    users: list[UserRecord] = field(default_factory=list)
    mentions: list[MentionRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)
    replies: list[ReplyRecord] = field(default_factory=list)
    inbox: list[InboxRecord] = field(default_factory=list)
    optouts: list[OptOutRecord] = field(default_factory=list)
    coupons: list[tuple[int, str]] = field(default_factory=list)  # (coupon id, outbox key of the reply carrying it)
    answered: set[str] = field(default_factory=set)  # outbox keys of replies that answer from the shop's data


def _poisoned(exc: Exception) -> bool:
    """Whether a failure to store and answer items may be down to one of them: the database refused a value, or
    the code failed on an item's content; not an unavailable database or a broken schema."""
    return isinstance(exc, StoreRefused) or not isinstance(exc, StoreError)


class Batches:
    """Stores and answers batches of one account's incoming items (MentionService's writing half)."""

    def __init__(
        self,
        settings: Settings,
        store: MentionStore,
        classifier: IntentClassifier,
        renderer: Renderer,
        clock: Clock,
        escalator: Escalator,
        coupons: CouponOffers | None = None,
        answers: Answers | None = None,
    ) -> None:
        self.settings = settings
        self.replies = settings.replies
        self.store = store
        self.classifier = classifier
        self.renderer = renderer
        self.clock = clock
        self.escalator = escalator
        self.coupons = coupons
        self.answers = answers
        self._composers: dict[str, ReplyComposer] = {}

    def handle(self, source: Source, items: Sequence[Incoming], cursor: Cursor) -> Tally:
        """One transaction: store and answer `items`; then move the cursor. `cursor` is the new cursor value,
        or (newest, None) for a complete run, or (newest, oldest stored) for an interrupted one.

        When that fails because of what was written (the database refused a value, or the code failed on an
        item), each item is tried in a transaction of its own; one that still fails is set aside (an open inbox
        item with the reason, counted by /healthz) and the cursor moves on, so one poison message never blocks the
        messages after it. Any other database failure (unavailable, a broken schema) fails the poll as before:
        the cursor stays and nothing is set aside."""
        tally = Tally()
        account, stream = source.account, source.stream
        try:
            self._unit(source, items, cursor, tally)
            return tally
        except Exception as exc:
            if not items or not _poisoned(exc):
                raise
            logger.warning(
                "%s of %s: a batch of %d could not be stored (%s); trying them one by one",
                stream,
                account,
                len(items),
                exc,
            )
        for item in items:
            try:
                self._unit(source, [item], None, tally)
            except Exception as exc:
                if not _poisoned(exc):
                    raise
                logger.exception("%s of %s: %s %s cannot be processed; set aside", stream, account, item.kind, item.id)
                net = source.platform.name
                self.store.mentions.set_aside(account, net, item.kind, item.id, item.author_id, item.text, exc)
                tally.set_aside += 1
        self._unit(source, [], cursor, tally)
        return tally

    def _composer(self, platform: Platform) -> ReplyComposer:
        composer = self._composers.get(platform.name)
        if composer is None:
            composer = ReplyComposer(
                self.renderer,
                max_length=platform.max_length,
                length=platform.length,
                dm_max_length=platform.dm_max_length,
            )
            self._composers[platform.name] = composer
        return composer

    def _unit(self, source: Source, items: Sequence[Incoming], cursor: Cursor, tally: Tally) -> None:
        account, platform, stream, kind = source.account, source.platform, source.stream, source.kind
        unique = {item.id: item for item in items}
        ids = {e for i in unique.values() for e in (i.id, *i.edit_of)}  # and edits' earlier versions
        known = self.store.mentions.stored_ids(account, kind, ids) if unique else set()
        age_key = platform.age_key
        ordered = sorted(
            (i for i in unique.values() if not seen(i, known)), key=lambda i: age_key(i.id, i.created_at)
        )  # oldest first; an edit whose earlier version is stored is known: that version was handled
        handle = self.settings.accounts[account].handle
        intents = {i.id: self.classifier.classify(i.text, account_handle=handle) for i in ordered}
        now = self.clock.now()
        offers = self._offers(source, ordered, intents)  # (reads outside the unit)
        answers = self._answers(ordered, intents, now)
        plan = None
        with self.store.mentions.unit(account) as unit:
            existing = unit.existing(kind, {e for i in ordered for e in (i.id, *i.edit_of)})
            fresh = [i for i in ordered if not seen(i, existing)]
            if fresh:
                plan = self._plan(unit, source, fresh, intents, now, offers, answers)
                writes = unit.write(
                    users=plan.users,
                    mentions=plan.mentions,
                    interactions=plan.interactions,
                    replies=plan.replies,
                    inbox=plan.inbox,
                    optouts=plan.optouts,
                )
                tally.new += writes.mentions
                tally.replies += writes.replies
                tally.escalations += len(writes.inbox_ids)
                tally.optouts += writes.optouts
                tally.skipped += sum(1 for m in plan.mentions if m.outcome == Outcome.NOT_ANSWERED)
                tally.answered_from_data += sum(1 for r in plan.replies if r.key in plan.answered)
            if isinstance(cursor, tuple):
                newest, oldest = cursor
                if oldest is None:
                    unit.advance_cursor(stream, newest)
                    unit.clear_resume(stream)
                else:
                    unit.set_resume(stream, newest, oldest)
            elif cursor:
                unit.advance_cursor(stream, cursor)
        if plan is not None and plan.coupons and self.coupons is not None:
            for coupon_id, key in plan.coupons:  # the reply row exists now: the coupon is on its way with it
                self.coupons.mark_delivering(coupon_id, key)

    def _answers(
        self, items: Sequence[Incoming], intents: Mapping[str, Any], now: datetime
    ) -> dict[str, tuple[bool, str | None, Any]]:
        """item id -> (answered, why not, the answer) for items whose rule answers from the shop's data (an
        `answer` template) or escalates when unanswered; the others are not asked."""
        found: dict[str, tuple[bool, str | None, Any]] = {}
        for item in items:
            intent = intents[item.id]
            rule = self._rule(intent)
            if rule is None or not (rule.answer or rule.escalate == UNANSWERED):
                continue
            if not rule.answer or self.answers is None:
                found[item.id] = (False, f"a {intent.name.replace('_', ' ')} the bot cannot answer", None)
                continue
            try:
                answer = self.answers.answer(item.text, intent.language, now)
            except BotError:
                logger.exception("%s %s: the shop's data could not be searched; handing it over", item.kind, item.id)
                found[item.id] = (False, "the shop's data could not be searched", None)
                continue
            why = answer.reason or f"a {intent.name.replace('_', ' ')} the shop's data does not answer"
            found[item.id] = (bool(answer.answered), why, answer)
        return found

    def _rule(self, intent: Any) -> IntentRule | None:
        return intent.rule if isinstance(intent.rule, IntentRule) else self.replies.rule(intent.name)

    def _offers(self, source: Source, items: Sequence[Incoming], intents: Mapping[str, Any]) -> dict[str, Any]:
        """author -> the reply-channel coupon waiting for them (bot.domains.coupons.issuing),
        for the templates' `coupon`."""
        offers: dict[str, Any] = {}
        if self.coupons is None:
            return offers
        for item in items:
            author = item.author_id
            if not author or author == source.me.id or author in offers:
                continue
            user = source.users.get(author)
            try:
                offers[author] = self.coupons.coupon_for_reply(
                    source.account,
                    source.platform.name,
                    author,
                    language=intents[item.id].language,
                    name=safe_name(user.name or user.username) if user else "",
                )
            except BotError:
                logger.exception(
                    "mentions of %s: cannot look up a coupon for %s; answering without", source.account, author
                )
                offers[author] = None
        return offers

    def _plan(
        self,
        unit: MentionUnit,
        source: Source,
        items: Sequence[Incoming],
        intents: Mapping[str, Any],
        now: datetime,
        offers: Mapping[str, Any],
        answers: Mapping[str, tuple[bool, str | None, Any]],
    ) -> _Plan:
        """The rows of one batch: the facts read in the unit, a decision per item, then the reply texts."""
        plan = _Plan()
        account, platform, me = source.account, source.platform, source.me
        net = platform.name
        replies = self.replies
        caps = replies.caps
        handle = self.settings.accounts[account].handle
        authors = {i.author_id for i in items if i.author_id}
        known = dict(source.users)
        missing = [a for a in authors if a not in known]
        if missing:
            known.update(unit.users(net, missing))
        opted = unit.opted_out(net, [(a, known[a].username if a in known else None) for a in authors])
        per_user = unit.replies_to_users(authors, now - DAY) if caps.per_user_per_day else {}
        conversations = {i.conversation_id for i in items if i.conversation_id}
        per_conv = unit.replies_in_conversations(conversations) if caps.per_conversation else {}
        own = unit.own_posts({i.quoted_id for i in items if i.quoted_id})
        by_name = {u.username.lower(): uid for uid, u in known.items() if u.username}
        by_name[me.username.lower()] = me.id
        policy = Policy.of(replies, now, self.settings.timezone)
        mentioned: set[str] = set()
        summoned_flags: list[bool] = []
        decisions: list[Decision] = []
        wanted: list[Wanted] = []
        asked: list[tuple[int, Incoming, Decision, Any]] = []  # replies to render: index, item, decision, offer
        edited = {e for i in items for e in i.edit_of}  # versions of a post edited later in this batch: one answer
        for item in items:
            intent = intents[item.id]
            rule = self._rule(intent)
            answered, unanswered, answer = answers.get(item.id, (None, None, None))
            author = item.author_id
            user = known.get(author) if author else None
            summoned = summons(item, me, own)
            conversation = item.conversation_id
            facts = Facts(
                kind=item.kind,
                author_id=author,
                ours=author == me.id,
                summoned=summoned,
                opted_out=author in opted,
                intent=intent.name,
                escalate=intent.escalate,
                rule=rule,
                created_at=item.created_at,
                conversation_id=conversation,
                replies_to_author=per_user.get(author, 0) if author else 0,
                replies_in_conversation=per_conv.get(conversation, 0) if conversation else 0,
                matched=intent.matched,
                answered=answered,
                unanswered=unanswered,
            )
            decision = EDITED_LATER if item.id in edited else decide(facts, policy)
            if decision.audience and author is not None:
                plan.interactions.extend(interactions(net, item, me, by_name, own, now, mentioned))
                if decision.escalate:
                    plan.inbox.append(self._inbox(account, net, item, user, intent.name, decision.inbox_reason))
                if decision.opt_out:
                    plan.optouts.append(
                        OptOutRecord(net, author, user.username if user else None, f"{item.kind} {item.id}")
                    )
                    opted.add(author)
                if decision.template is not None:
                    offer = offers.get(author) if decision.target else None
                    quoted = self.renderer.uses(decision.template, "text")  # the excerpt is made only when shown
                    answered = answer if decision.answers else None
                    context = self._context(item, user, intent, handle, offer, answered, quoted=quoted)
                    wanted.append(Wanted(decision.template, context, item.kind == "dm"))
                    asked.append((len(decisions), item, decision, offer))
                    if decision.target:
                        per_user[author] = per_user.get(author, 0) + 1
                        if conversation:
                            per_conv[conversation] = per_conv.get(conversation, 0) + 1
                plan.users.append(UserRecord.of(net, user) if user else UserRecord(net, author))
            decisions.append(decision)
            summoned_flags.append(summoned)

        for uid in mentioned:
            user = known.get(uid)
            if user is not None:
                plan.users.append(UserRecord.of(net, user))

        outcomes: list[tuple[str, str | None, str | None]] = [
            (Outcome.HANDED_OVER, d.inbox_reason, None) if d.escalate else (Outcome.NOT_ANSWERED, d.reason, None)
            for d in decisions
        ]
        texts = reply_texts(self._composer(platform), wanted, unit.used_texts)
        for (index, item, decision, offer), composed in zip(asked, texts, strict=True):
            if composed.text is None:
                if decision.answers:  # the data answers but the answer cannot be written: a person writes it
                    why = f"the answer from the shop's data could not be sent ({composed.reason})"
                    user = known.get(item.author_id) if item.author_id else None
                    plan.inbox.append(self._inbox(account, net, item, user, intents[item.id].name, why))
                    outcomes[index] = (Outcome.HANDED_OVER, why, None)
                elif not decision.escalate:
                    outcomes[index] = (Outcome.NOT_ANSWERED, composed.reason, None)
                continue
            dm = item.kind == "dm"
            key = dm_reply_key(item.id) if dm else reply_key(item.id)
            if offer is not None and offer.code in composed.text:
                plan.coupons.append((offer.coupon_id, key))
            if decision.escalate:
                outcomes[index] = (Outcome.HANDED_OVER, decision.inbox_reason, key)
            elif decision.answers:
                topic = getattr(answers[item.id][2], "topic", None)
                outcomes[index] = (Outcome.ANSWERED, f"{FROM_DATA} ({topic})" if topic else FROM_DATA, key)
                plan.answered.add(key)
            else:
                outcomes[index] = (Outcome.ANSWERED, decision.reason, key)
            plan.replies.append(
                ReplyRecord(
                    key=key,
                    account=account,
                    kind="dm" if dm else "reply",
                    text=composed.text,
                    in_reply_to_id=None if dm else item.id,
                    recipient_id=item.author_id if dm else None,
                    not_before=decision.not_before,
                    target_platform=net if decision.target else None,
                    target_user_id=decision.target,
                )
            )
        plan.mentions = [
            mention_record(account, net, item, intents[item.id], summoned, now, outcome)
            for item, summoned, outcome in zip(items, summoned_flags, outcomes, strict=True)
        ]
        if logger.isEnabledFor(logging.DEBUG):
            for record in plan.mentions:
                logger.debug(
                    "%s %s by %s: intent=%s %s%s",
                    record.kind,
                    record.platform_id,
                    record.author_id,
                    record.intent,
                    record.outcome,
                    f" ({record.reason})" if record.reason else "",
                )
        return plan

    def _inbox(
        self, account: str, net: str, item: Incoming, user: User | None, intent: str, reason: str | None
    ) -> InboxRecord:
        return InboxRecord(
            account=account,
            platform=net,
            kind=item.kind,
            mention_id=item.id,
            text=item.text,
            user_id=item.author_id,
            username=user.username if user else None,
            intent=intent,
            webhook=self.escalator.enabled,
            reason=reason,
        )

    @staticmethod
    def _context(
        item: Incoming,
        user: User | None,
        intent: Any,
        handle: str,
        offer: Any = None,
        answer: Any = None,
        *,
        quoted: bool = True,
    ) -> dict[str, Any]:
        return reply_context(
            item_id=item.id,
            user=user.username if user else "",
            name=(user.name if user else "") or "",
            text=item.text if quoted else "",
            intent=intent.name,
            language=intent.language,
            shop=handle,
            channel="dm" if item.kind == "dm" else "reply",
            coupon=offer.text if offer is not None else None,
            answer=answer,
        )
