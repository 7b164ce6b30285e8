"""What to do with one mention or DM (bot.domains.conversations.decide) as a pure function: every branch of the
policy, with the shipped intent rules and real RepliesConfig values; no store, platform or clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bot.domains.conversations.decide import NO_AUTHOR, OUR_OWN, Decision, Facts, Policy, decide, template_for
from bot.settings.replies import Caps, IntentRule, QuietHours, RepliesConfig, default_intents

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
RULES = {rule.name: rule for rule in default_intents()}
REPLIES = RepliesConfig(caps=Caps(per_user_per_day=2, per_conversation=3))
POLICY = Policy.of(REPLIES, NOW, "UTC")
TOO_OLD = "older than replies.max_age (24h)"


def facts(intent: str = "question", **changes: Any) -> Facts:
    """A fresh mention from a customer who summoned the account, asking a question."""
    rule = RULES.get(intent)
    base = Facts(
        kind="mention",
        author_id="42",
        ours=False,
        summoned=True,
        opted_out=False,
        intent=intent,
        escalate=rule.escalate if rule else False,
        rule=rule,
        created_at=NOW - timedelta(minutes=5),
        conversation_id="c1",
    )
    return dataclasses.replace(base, **changes)


def test_a_summoning_question_is_answered_with_its_template_to_its_author() -> None:
    decision = decide(facts(), POLICY)
    assert decision == Decision(template="replies/question.j2", target="42")
    assert decision.replies and decision.audience and not decision.escalate and not decision.opt_out


def test_items_without_an_author_or_from_the_account_itself_are_ignored_and_not_recorded() -> None:
    assert decide(facts(author_id=None), POLICY) == NO_AUTHOR == Decision("no author", audience=False)
    assert decide(facts(ours=True), POLICY) == OUR_OWN == Decision("our own post", audience=False)
    assert decide(facts("complaint", ours=True), POLICY) == OUR_OWN  # our own complaint goes to no inbox
    assert decide(facts("opt_out", author_id=None), POLICY) == NO_AUTHOR


def test_a_mention_that_does_not_summon_the_account_is_recorded_and_escalated_but_not_answered() -> None:
    assert decide(facts(summoned=False), POLICY) == Decision("does not summon the account")
    complaint = decide(facts("complaint", summoned=False), POLICY)
    assert complaint == Decision("does not summon the account", escalate=True, inbox_reason="complaint")
    stop = decide(facts("opt_out", summoned=False), POLICY)
    assert stop == Decision("does not summon the account") and not stop.opt_out  # X refuses such replies


def test_an_opted_out_author_gets_nothing_more() -> None:
    assert decide(facts(opted_out=True), POLICY) == Decision("opted out")
    assert decide(facts("complaint", opted_out=True), POLICY) == Decision(
        "opted out", escalate=True, inbox_reason="complaint"
    )
    again = decide(facts("opt_out", opted_out=True), POLICY)  # a second "stop": no second opt-out, no confirmation
    assert again == Decision("opted out")


def test_an_opt_out_is_recorded_and_confirmed_once_without_a_target() -> None:
    decision = decide(facts("opt_out"), POLICY)
    assert decision == Decision(template="replies/opt_out.j2", opt_out=True)
    assert decision.target is None  # the opt-out it records must not cancel its own confirmation
    assert not decision.escalate


def test_an_opt_out_too_old_to_answer_still_counts_unconfirmed() -> None:
    old = NOW - timedelta(hours=25)
    assert decide(facts("opt_out", created_at=old), POLICY) == Decision(TOO_OLD, opt_out=True)


def test_an_opt_out_without_a_confirmation_template_counts_silently() -> None:
    silent = IntentRule(name="opt_out", keywords=["stop"])
    assert decide(facts("opt_out", rule=silent), POLICY) == Decision(
        "opted out (no confirmation template)", opt_out=True
    )
    assert decide(facts("opt_out", rule=None), POLICY).reason == "opted out (no confirmation template)"


def test_an_opt_out_rule_marked_escalate_never_goes_to_the_inbox() -> None:
    loud = IntentRule(name="opt_out", keywords=["stop"], reply="replies/opt_out.j2", escalate=True)
    assert not decide(facts("opt_out", rule=loud, escalate=True), POLICY).escalate
    assert not decide(facts("opt_out", rule=loud, escalate=True, summoned=False), POLICY).escalate


def test_an_intent_without_a_reply_is_not_answered() -> None:
    assert decide(facts("other"), POLICY) == Decision("no reply for intent other")
    quiet_complaint = IntentRule(name="complaint", keywords=["broken"], escalate=True)
    assert decide(facts("complaint", rule=quiet_complaint), POLICY) == Decision(
        "no reply for intent complaint", escalate=True, inbox_reason="complaint"
    )


def test_a_complaint_is_escalated_and_answered() -> None:
    decision = decide(facts("complaint"), POLICY)
    assert decision == Decision(template="replies/complaint.j2", target="42", escalate=True, inbox_reason="complaint")


def test_older_than_max_age_is_not_answered_unless_max_age_is_off() -> None:
    old = NOW - timedelta(hours=25)
    assert decide(facts(created_at=old), POLICY) == Decision(TOO_OLD)
    assert decide(facts("complaint", created_at=old), POLICY) == Decision(
        TOO_OLD, escalate=True, inbox_reason="complaint"
    )
    assert decide(facts(created_at=NOW - timedelta(hours=23)), POLICY).replies
    assert decide(facts(created_at=None), POLICY).replies  # no creation time: never too old
    unlimited = Policy.of(REPLIES.model_copy(update={"max_age": None}), NOW, "UTC")
    assert decide(facts(created_at=NOW - timedelta(days=30)), unlimited).replies
    longer = Policy.of(REPLIES.model_copy(update={"max_age": timedelta(days=2)}), NOW, "UTC")
    assert decide(facts(created_at=old), longer).replies
    assert decide(facts(created_at=NOW - timedelta(days=3)), longer).reason == "older than replies.max_age (48h)"


def test_the_cap_per_user_in_24_hours() -> None:
    assert decide(facts(replies_to_author=1), POLICY).replies
    assert decide(facts(replies_to_author=2), POLICY) == Decision("cap: 2 replies to this user in 24 h")
    assert decide(facts("complaint", replies_to_author=5), POLICY).escalate  # capped, still in the inbox
    no_caps = Policy.of(REPLIES.model_copy(update={"caps": Caps(per_user_per_day=0, per_conversation=0)}), NOW, "UTC")
    assert decide(facts(replies_to_author=100, replies_in_conversation=100), no_caps).replies


def test_the_cap_per_conversation() -> None:
    assert decide(facts(replies_in_conversation=2), POLICY).replies
    assert decide(facts(replies_in_conversation=3), POLICY) == Decision("cap: 3 replies in this conversation")
    assert decide(facts(conversation_id=None, replies_in_conversation=3), POLICY).replies  # no conversation: no cap
    # the per-user cap is checked first
    both = decide(facts(replies_to_author=2, replies_in_conversation=3), POLICY)
    assert both.reason == "cap: 2 replies to this user in 24 h"


def test_the_opt_out_confirmation_is_not_capped() -> None:
    capped = facts("opt_out", replies_to_author=9, replies_in_conversation=9)
    assert decide(capped, POLICY) == Decision(template="replies/opt_out.j2", opt_out=True)


def test_a_dm_is_answered_with_the_dm_template_else_the_reply_template() -> None:
    both = IntentRule(name="question", keywords=["?"], reply="replies/question.j2", dm_reply="dm/question.j2")
    assert decide(facts(kind="dm", rule=both), POLICY).template == "dm/question.j2"
    assert decide(facts(kind="mention", rule=both), POLICY).template == "replies/question.j2"
    assert decide(facts(kind="dm"), POLICY).template == "replies/question.j2"
    dm_only = IntentRule(name="question", keywords=["?"], dm_reply="dm/question.j2")
    assert decide(facts(kind="mention", rule=dm_only), POLICY) == Decision("no reply for intent question")
    assert template_for(None, "dm") is None


def test_quiet_hours_delay_replies_and_confirmations_to_their_end() -> None:
    night = QuietHours(start=time(22), end=time(8), timezone="Asia/Shanghai")
    policy = Policy.of(
        REPLIES.model_copy(update={"quiet_hours": night}), datetime(2026, 11, 27, 23, 30, tzinfo=UTC), "UTC"
    )
    morning = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    fresh = {"created_at": datetime(2026, 11, 27, 23, 0, tzinfo=UTC)}
    assert policy.not_before == morning
    assert decide(facts(**fresh), policy).not_before == morning
    assert decide(facts("opt_out", **fresh), policy).not_before == morning
    assert decide(facts("other", **fresh), policy).not_before is None  # nothing to send
    assert POLICY.not_before is None and decide(facts(), POLICY).not_before is None
    local_zone = Policy.of(
        REPLIES.model_copy(update={"quiet_hours": QuietHours(start=time(22), end=time(8))}), NOW, "UTC"
    )
    assert local_zone.not_before is None  # 12:00 UTC is outside 22:00-08:00 UTC


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"author_id": None, "summoned": False, "opted_out": True}, "no author"),
        ({"ours": True, "summoned": False, "opted_out": True}, "our own post"),
        ({"summoned": False, "opted_out": True}, "does not summon the account"),
        ({"opted_out": True, "rule": None}, "opted out"),
        ({"rule": None, "created_at": NOW - timedelta(days=2)}, "no reply for intent question"),
        ({"created_at": NOW - timedelta(days=2), "replies_to_author": 9}, TOO_OLD),
        ({"replies_to_author": 9, "replies_in_conversation": 9}, "cap: 2 replies to this user in 24 h"),
    ],
)
def test_the_checks_come_in_order(changes: dict[str, Any], reason: str) -> None:
    assert decide(facts(**changes), POLICY).reason == reason


def test_decisions_are_values() -> None:
    assert decide(facts(), POLICY) == decide(facts(), POLICY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decide(facts(), POLICY).reason = "changed"  # type: ignore[misc]


def test_a_question_the_shops_data_answers_gets_the_answer_template_and_no_inbox_item() -> None:
    rule = IntentRule(
        name="question",
        keywords=["how"],
        reply="replies/question.j2",
        answer="replies/answer.j2",
        escalate="unanswered",
    )
    answered = decide(facts(rule=rule, escalate="unanswered", answered=True), POLICY)
    assert (answered.template, answered.answers, answered.escalate) == ("replies/answer.j2", True, False)


def test_a_question_the_data_does_not_answer_is_handed_over_with_the_reason_and_may_promise_a_follow_up() -> None:
    rule = IntentRule(
        name="question",
        keywords=["how"],
        reply="replies/question.j2",
        answer="replies/answer.j2",
        escalate="unanswered",
    )
    why = "a question about a product we do not sell"
    handed = decide(facts(rule=rule, escalate="unanswered", answered=False, unanswered=why), POLICY)
    assert (handed.template, handed.answers, handed.escalate, handed.inbox_reason) == (
        "replies/question.j2",
        False,
        True,
        why,
    )
    capped = decide(
        facts(rule=rule, escalate="unanswered", answered=False, unanswered=why, replies_to_author=2), POLICY
    )
    assert (capped.template, capped.escalate, capped.inbox_reason) == (None, True, why)  # a person still follows up


def test_the_inbox_reason_says_what_matched_in_words() -> None:
    said = decide(facts("complaint", matched="broken"), POLICY)
    assert said.inbox_reason == "complaint (said “broken”)"
    unhappy = decide(facts("complaint", matched="sentiment<-0.5"), POLICY)
    assert unhappy.inbox_reason == "complaint (very unhappy wording)"
