"""The texts of a batch of replies: each one's preferred variant, none the account sent before (X refuses a
duplicate) and none twice in the batch, in as few look-ups of the sent texts as possible."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from bot.domains.conversations.replies import ALL_SENT, Composed, ReplyComposer


@dataclass(frozen=True, slots=True)
class Wanted:
    """One reply to render: the template, its context, and whether it goes by DM."""

    template: str
    context: Mapping[str, Any]
    dm: bool


def reply_texts(
    composer: ReplyComposer, wanted: Sequence[Wanted], sent: Callable[[Collection[str]], set[str]]
) -> list[Composed]:
    """One Composed per wanted reply, in order: a text, or the reason there is none. `sent(texts)` answers
    which of `texts` the account already sent.

    The preferred variant of each, one look-up for all; on a clash (sent before, or an earlier reply of this
    batch) the next variant of each, one more look-up for all; a next variant that clashes too: all the rest,
    one look-up; any later variant is rendered (and looked up) only when that one is taken too."""
    firsts = [composer.first(w.template, w.context, dm=w.dm) for w in wanted]
    used = sent([c.text for c in firsts if c.text])
    checked = {c.text for c in firsts if c.text}  # texts whose look-up is done
    others: dict[int, tuple[list[str], Iterator[str]]] = {}
    seen: set[str] = set()
    for n, (w, composed) in enumerate(zip(wanted, firsts, strict=True)):
        if composed.text is not None and (composed.text in used or composed.text in seen):
            rest = chain(
                composer.alternatives(w.template, w.context, composed, dm=w.dm),
                composer.with_reference(composed, w.context, dm=w.dm),
            )
            others[n] = ([text] if (text := next(rest, None)) is not None else [], rest)
        if composed.text is not None:
            seen.add(composed.text)

    def look_up() -> None:
        more = {t for head, _ in others.values() for t in head} - checked
        if more:
            used.update(sent(more))
            checked.update(more)

    look_up()
    claimed = set(seen)
    for head, rest in others.values():
        if head and (head[0] in used or head[0] in claimed):
            head.extend(rest)
        claimed.update(head[:1])
    look_up()
    batch: set[str] = set()

    def taken(texts: Collection[str]) -> set[str]:
        return (set(texts) & batch) | sent(texts)

    def free(head: list[str], rest: Iterator[str]) -> str | None:
        for text in chain(head, rest):
            if text in batch:
                continue
            if text not in checked:
                used.update(sent([text]))
                checked.add(text)
            if text not in used:
                return text
        return None

    results: list[Composed] = []
    for n, (w, composed) in enumerate(zip(wanted, firsts, strict=True)):
        if n in others:
            text = free(*others[n])
            composed = Composed(text) if text is not None else Composed(None, ALL_SENT)
        elif composed.text is not None and composed.text in batch:
            composed = composer.choose(w.template, w.context, taken, dm=w.dm)
        if composed.text is not None:
            batch.add(composed.text)
        results.append(composed)
    return results
