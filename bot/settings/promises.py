"""Words by which a reply promises that a person will follow up. A reply that says them must reach a person: its
intent escalates (`escalate: true`), or `socialbot check` warns. The one list of them is here."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from bot.core.errors import Problem
from bot.settings.replies import RepliesConfig

logger = logging.getLogger(__name__)

PROMISE_PHRASES: tuple[str, ...] = (
    # English (matched case-insensitively, spaces as any run of white space)
    "get back to you",
    "get back with you",
    "come back to you",
    "will answer you",
    "will reply",
    "will respond",
    "will follow up",
    "follow up with you",
    "reach out to you",
    "be in touch",
    "contact you",
    "our team",
    "a colleague",
    "someone will",
    # Chinese
    "同事",
    "尽快回复",
    "稍后回复",
    "尽快答复",
    "尽快给你答复",
    "尽快给您答复",
    "稍后答复",
    "尽快联系",
    "会联系你",
    "会联系您",
    "客服会",
    "专人",
)

_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_PROMISE = re.compile(
    "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in sorted(PROMISE_PHRASES, key=len, reverse=True)),
    re.I,
)


def find_promises(source: str) -> list[tuple[int, str]]:
    """(line, phrase as written) of every follow-up promise in a template's text; Jinja comments left out."""
    text = _COMMENT.sub(lambda match: "\n" * match.group(0).count("\n"), source)
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        found.extend((number, match.group(0)) for match in _PROMISE.finditer(line))
    return found


def promise_warnings(replies: RepliesConfig, templates_dir: Path, source: Callable[[str], str]) -> list[Problem]:
    """Reply templates (their text: `source(template)`) that promise a follow-up while their intent does not
    escalate: nobody would be told to follow up. With `escalate: unanswered` the `answer` template (said when the
    shop's data answered, and not escalated then) must not promise one either. One warning per template."""
    warnings: list[Problem] = []
    if not replies.enabled:
        return warnings
    for index, rule in enumerate(replies.intents):
        if rule.escalate is True:
            continue
        fields = ("answer",) if rule.escalate else ("reply", "dm_reply", "answer")
        seen: set[str] = set()
        for field_name in fields:
            template = getattr(rule, field_name, None)
            if not template or template in seen:
                continue
            seen.add(template)
            found = find_promises(source(template))
            if not found:
                continue
            phrases = ", ".join(dict.fromkeys(repr(phrase) for _, phrase in found))
            when = "when the shop's data answered, which is not escalated" if rule.escalate else "but does not escalate"
            warnings.append(
                Problem(
                    str(templates_dir / template),
                    found[0][0],
                    f"replies.intents.{index}.{field_name}",
                    f"intent {rule.name!r}: {template} promises a follow-up ({phrases}) {when}, so no person is told "
                    "to follow up: set `escalate: true` on the intent, or reword the reply",
                )
            )
    return warnings
