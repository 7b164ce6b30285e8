"""What to do with one incoming mention or DM: a pure function of the facts about it and the reply policy.

No store, platform or clock here: the caller gathers the facts (who wrote, whether they summoned the account,
opted out, how many replies they had in 24 h, the intent) and carries out the Decision (an inbox row, an
opt-out, a reply rendered from the template, the reason it stays unanswered).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domains.conversations.replies import quiet_until
from bot.settings.replies import UNANSWERED, Caps, IntentRule, RepliesConfig, format_duration

OPT_OUT = "opt_out"
DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Facts:
    """One incoming item as the policy sees it. The counts include the replies decided earlier in this batch."""

    kind: str  # "mention" | "dm"
    author_id: str | None
    ours: bool  # written by the account itself
    summoned: bool  # a DM, an @mention of the account, a reply to it or a quote of its post
    opted_out: bool  # the author opted out before (or earlier in this batch)
    intent: str
    escalate: bool | str  # the intent goes to the inbox: True, False or "unanswered" (when the data did not answer)
    rule: IntentRule | None  # the intent's rule (its reply templates)
    created_at: datetime | None = None
    conversation_id: str | None = None
    replies_to_author: int = 0  # replies to the author in the last 24 h
    replies_in_conversation: int = 0
    matched: str | None = None  # the keyword, pattern or bound that decided the intent
    answered: bool | None = None  # None: the rule does not answer from the shop's data; else whether it did
    unanswered: str | None = None  # why the shop's data did not answer (the inbox item's reason)


@dataclass(frozen=True, slots=True)
class Policy:
    """The `replies:` rules that decide, fixed for one batch."""

    caps: Caps
    oldest: datetime | None = None  # items created before this are too old to answer (replies.max_age)
    too_old_reason: str = ""
    not_before: datetime | None = None  # quiet hours: replies wait until then

    @classmethod
    def of(cls, replies: RepliesConfig, now: datetime, timezone: str) -> Policy:
        """The policy of a batch handled at `now` (`timezone`: the default of the quiet hours)."""
        max_age = replies.max_age
        return cls(
            replies.caps,
            now - max_age if max_age is not None else None,
            f"older than replies.max_age ({format_duration(max_age)})" if max_age is not None else "",
            quiet_until(now, replies.quiet_hours, timezone),
        )

    def too_old(self, created_at: datetime | None) -> bool:
        return self.oldest is not None and created_at is not None and created_at < self.oldest


@dataclass(frozen=True, slots=True)
class Decision:
    """`template` set: answer with it (the rendering may still fail, with its own reason); else `reason` says why
    not. `target` is the person the reply reaches: None for an opt-out's confirmation, which that opt-out must not
    cancel (and which carries no coupon); `not_before`, when it may leave (quiet hours). `audience`: someone else
    wrote it: record them and their interactions."""

    reason: str | None = None
    template: str | None = None
    target: str | None = None
    escalate: bool = False  # an inbox row for a person
    opt_out: bool = False  # a permanent opt-out of the author
    audience: bool = True
    not_before: datetime | None = None
    inbox_reason: str | None = None  # why a person must look (with `escalate`)
    answers: bool = False  # `template` is the rule's `answer` template: the shop's data answers the question

    @property
    def replies(self) -> bool:
        return self.template is not None


NO_AUTHOR = Decision("no author", audience=False)
OUR_OWN = Decision("our own post", audience=False)


def template_for(rule: IntentRule | None, kind: str) -> str | None:
    """The rule's reply template for a mention, or for a DM (dm_reply, else reply)."""
    if rule is None:
        return None
    return (rule.dm_reply or rule.reply) if kind == "dm" else rule.reply


def handover_reason(facts: Facts) -> str:
    """Why a person must look, in words: the question the data did not answer, or the intent and what matched."""
    if facts.answered is False and facts.unanswered:
        return facts.unanswered
    matched = facts.matched
    if not matched:
        return facts.intent.replace("_", " ")
    if matched.startswith("sentiment<"):
        return f"{facts.intent.replace('_', ' ')} (very unhappy wording)"
    if matched.startswith("sentiment>"):
        return f"{facts.intent.replace('_', ' ')} (very happy wording)"
    return f"{facts.intent.replace('_', ' ')} (said “{matched}”)"


def decide(facts: Facts, policy: Policy) -> Decision:
    """The checks in order: an author other than the account; summoned; not opted out; an opt-out is recorded
    (and confirmed once, unless too old); a template for the intent; not too old; the caps per person and per
    conversation. Escalating intents go to the inbox whatever the reply decision."""
    author = facts.author_id
    if author is None:
        return NO_AUTHOR
    if facts.ours:
        return OUR_OWN
    if facts.intent == OPT_OUT:
        escalate = False
    elif facts.escalate == UNANSWERED:
        escalate = facts.answered is False
    else:
        escalate = facts.escalate is True
    why = handover_reason(facts) if escalate else None
    if not facts.summoned:
        return Decision("does not summon the account", escalate=escalate, inbox_reason=why)
    if facts.opted_out:
        return Decision("opted out", escalate=escalate, inbox_reason=why)
    answers = bool(facts.answered and facts.rule is not None and getattr(facts.rule, "answer", None))
    template = getattr(facts.rule, "answer", None) if answers else template_for(facts.rule, facts.kind)
    if facts.intent == OPT_OUT:
        if policy.too_old(facts.created_at):
            return Decision(policy.too_old_reason, opt_out=True)
        if template:
            return Decision(template=template, opt_out=True, not_before=policy.not_before)
        return Decision("opted out (no confirmation template)", opt_out=True)
    if not template:
        return Decision(f"no reply for intent {facts.intent}", escalate=escalate, inbox_reason=why)
    if policy.too_old(facts.created_at):
        return Decision(policy.too_old_reason, escalate=escalate, inbox_reason=why)
    caps = policy.caps
    if caps.per_user_per_day and facts.replies_to_author >= caps.per_user_per_day:
        reason = f"cap: {caps.per_user_per_day} replies to this user in 24 h"
        return Decision(reason, escalate=escalate, inbox_reason=why)
    if caps.per_conversation and facts.conversation_id and facts.replies_in_conversation >= caps.per_conversation:
        reason = f"cap: {caps.per_conversation} replies in this conversation"
        return Decision(reason, escalate=escalate, inbox_reason=why)
    return Decision(
        template=template,
        target=author,
        escalate=escalate,
        not_before=policy.not_before,
        inbox_reason=why,
        answers=answers,
    )
