"""Reply texts: the template context (what the customer controls, neutralised in one place), variant choice, length,
quiet hours."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.core.errors import TemplateError
from bot.core.text import safe_excerpt, safe_name, truncate_weighted, weighted_length
from bot.settings.replies import QuietHours

logger = logging.getLogger(__name__)

DM_MAX_CHARS = 10_000  # X; a platform says its own (Platform.dm_max_length)
# shortest quotes tried when a reply is too long: the customer's excerpt is cut before the reply is dropped
_QUOTE_BUDGETS = (20, 0)
# context values that are the customer's raw input: a template may pass them to a function (recommend(user)),
# never output them (bot.app.checking refuses such a template)
RAW_CUSTOMER_FIELDS = frozenset({"user"})
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
_REF_LENGTH = 6
ALL_SENT = "every variant was already sent (X refuses duplicates)"
# the @handles a reply starts with: X usernames and Bluesky's domain handles (@shop.bsky.social)
_LEADING_HANDLES = re.compile(r"^(?:\s*[@＠](?:[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9_]{1,15}\b))+\s*")


class Renderer(Protocol):
    """The part of bot.adapters.templating.TemplateRenderer used here."""

    def variants(self, template: str) -> int: ...

    def render_variant(self, template: str, variant: int, context: Mapping[str, Any]) -> str: ...

    def uses(self, template: str, name: str) -> bool: ...


@dataclass(frozen=True)
class Composed:
    text: str | None
    reason: str | None = None  # why there is no text
    variant: int | None = field(default=None, compare=False)  # the variant rendered (when there is a text)


def customer_text(text: str) -> str:
    """The customer's words as template data: the leading @handles of a reply dropped, then a short excerpt with
    every link, domain, handle, e-mail address and hashtag replaced by '…' (bot.core.text.safe_excerpt)."""
    return safe_excerpt(_LEADING_HANDLES.sub("", text or ""))


def reference(item_id: str) -> str:
    """A short reference of a mention or DM, from its platform id (nothing the customer wrote): it keeps replies
    that say the same thing distinct, as X refuses a text the account already sent."""
    digest = int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big")
    return "".join(_REF_ALPHABET[(digest >> (5 * i)) & 31] for i in range(_REF_LENGTH))


def reply_context(
    *,
    item_id: str,
    user: str,
    name: str,
    text: str,
    intent: str,
    language: str,
    shop: str,
    channel: str,
    coupon: str | None = None,
    answer: Any = None,
) -> dict[str, Any]:
    """The one way a customer's data reaches a reply template: `name` reduced to a safe short form ('' for a
    neutral greeting: bot.core.text.safe_name, falling back to the handle only when there is no display name),
    `text` a short neutralised excerpt (customer_text), `ref` the mention's reference; `user`, the raw handle,
    is there for recommend(user) only (RAW_CUSTOMER_FIELDS); `answer`, what the shop's data says to the customer's
    question (bot.domains.conversations.answers), for a rule's `answer` template."""
    return {
        "answer": answer,
        "coupon": coupon,
        "user": user,
        "name": safe_name(name or user),
        "intent": intent,
        "language": language,
        "text": customer_text(text),
        "ref": reference(item_id),
        "shop": shop,
        "sequence": sequence_of(item_id),
        "channel": channel,
    }


def sequence_of(item_id: str) -> int:
    """A stable number per mention (its id): the variant is sequence % variants, the same after a restart."""
    return int(item_id) if item_id.isdigit() else zlib.crc32(item_id.encode())


def _broken(reason: str | None) -> bool:
    """Whether a variant failed because its template is broken (no other variant is worth rendering)."""
    return reason is not None and reason.startswith("template error")


class ReplyComposer:
    """Renders one reply per mention from the rule's template, within the platform's length."""

    def __init__(
        self,
        renderer: Renderer,
        *,
        max_length: int = 280,
        length: Callable[[str], int] = weighted_length,
        dm_max_length: int = DM_MAX_CHARS,
    ):
        self.renderer = renderer
        self.max_length = max_length
        self.length = length
        self.dm_max_length = dm_max_length  # counted in code points: never fewer than graphemes
        self._counts: dict[str, int] = {}  # variants per template (a renderer's templates do not change)

    def candidates(
        self, template: str, context: Mapping[str, Any], *, dm: bool = False
    ) -> Iterator[tuple[str | None, str | None]]:
        """(text, None) for each variant that fits, preferred first; (None, reason) when one cannot be made."""
        for _, text, reason in self._variants(template, context, dm=dm):
            yield text, reason

    def _variants(
        self, template: str, context: Mapping[str, Any], *, dm: bool, after: int | None = None
    ) -> Iterator[tuple[int | None, str | None, str | None]]:
        """(variant, text, reason) in preference order; with `after`, only the variants following that one."""
        try:
            count = self._counts.get(template) or self._counts.setdefault(
                template, max(1, self.renderer.variants(template))
            )
        except TemplateError as exc:
            yield None, None, f"template error: {exc}"
            return
        start = int(context.get("sequence", 0)) % count
        offsets = range(count) if after is None else range((after - start) % count + 1, count)
        for offset in offsets:
            variant = (start + offset) % count
            yield (variant, *self._fit(template, variant, context, dm=dm))

    def _fit(
        self, template: str, variant: int, context: Mapping[str, Any], *, dm: bool
    ) -> tuple[str | None, str | None]:
        """Render; when too long, again with the customer's excerpt cut shorter (20, then nothing)."""
        quote = str(context.get("text", ""))
        limit = self.dm_max_length if dm else self.max_length
        attempts = (quote, *(lambda b=b: truncate_weighted(quote, b) if b else "" for b in _QUOTE_BUDGETS))
        size = 0
        tried: set[str] = set()
        for attempt in attempts:
            attempt = attempt if isinstance(attempt, str) else attempt()  # shorter quotes only when needed
            if attempt in tried:
                continue
            tried.add(attempt)
            try:
                text = self.renderer.render_variant(template, variant, {**context, "text": attempt})
            except TemplateError as exc:
                logger.error("reply template %s variant %d failed: %s", template, variant, exc)
                return None, f"template error: {exc}"
            if not text.strip():
                return None, "empty reply"
            size = len(text) if dm else self._measure(text, limit)
            if size <= limit:
                return text, None
        return None, f"too long ({size} > {limit})"

    def _measure(self, text: str, limit: int) -> int:
        """The platform's length, or a cheap upper bound on X's weighted length when that already fits."""
        bound = weight_bound(text)
        return bound if bound <= limit else self.length(text)

    def texts(self, template: str, context: Mapping[str, Any], *, dm: bool) -> tuple[list[str], str | None]:
        """Every variant that fits, preferred first, and why there is none."""
        texts: list[str] = []
        reason = None
        for text, why in self.candidates(template, context, dm=dm):
            if text is None:
                reason = why
                if _broken(why):
                    return [], why
                continue
            texts.append(text)
        return texts, reason

    def alternatives(self, template: str, context: Mapping[str, Any], first: Composed, *, dm: bool) -> Iterator[str]:
        """The variants that fit after `first` (what `first()` returned), in preference order, each rendered
        only when asked for; a template error ends them."""
        if first.text is None or first.variant is None:
            yield from self.texts(template, context, dm=dm)[0][1:]
            return
        for _, text, why in self._variants(template, context, dm=dm, after=first.variant):
            if text is None:
                if _broken(why):
                    return
                continue
            yield text

    def first(self, template: str, context: Mapping[str, Any], *, dm: bool) -> Composed:
        """The first variant (from sequence % n) that fits, without the duplicate check."""
        reason = None
        for variant, text, why in self._variants(template, context, dm=dm):
            if text is not None:
                return Composed(text, variant=variant)
            reason = why
            if _broken(why):
                break
        return Composed(None, reason or "no reply text")

    def with_reference(self, first: Composed, context: Mapping[str, Any], *, dm: bool) -> Iterator[str]:
        """The last resort when every variant was sent before (X refuses duplicates; short replies to customers
        without a name repeat soon): the first variant followed by the mention's reference, when it fits."""
        ref = context.get("ref")
        if first.text is None or not ref or str(ref) in first.text:
            return
        text = f"{first.text.rstrip()} ({ref})"
        limit = self.dm_max_length if dm else self.max_length
        if (len(text) if dm else self._measure(text, limit)) <= limit:
            yield text

    def choose(
        self, template: str, context: Mapping[str, Any], used: Callable[[Collection[str]], set[str]], *, dm: bool
    ) -> Composed:
        """The first variant (from sequence % n) that fits and was not sent by this account before
        (`used` answers for all the variants at once)."""
        texts, reason = self.texts(template, context, dm=dm)
        if _broken(reason):
            return Composed(None, reason)
        texts.extend(self.with_reference(Composed(texts[0]) if texts else Composed(None), context, dm=dm))
        taken = used(texts) if texts else set()
        for text in texts:
            if text not in taken:
                return Composed(text)
        if texts:
            reason = ALL_SENT
        return Composed(None, reason or "no reply text")


# twitter-text v3: weight 1 for U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F, U+2032-U+2037; else 2; an emoji
# counts 2 even inside those ranges (there: only the copyright and registered signs)
_HEAVY = re.compile("[\u00a9\u00ae]|[^\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]")


# a dot a URL's domain may end in: before its top-level domain, which starts with a letter (ASCII or not)
_DOMAIN_DOT = re.compile(r"[.。．](?=[^\W\d_])")


def weight_bound(text: str) -> int:
    """An upper bound of X's weighted length, much cheaper than twitter-text: each code point of the NFC text
    at its weight (an emoji sequence counts 2 in all, here 2 per code point), plus 23 per dot followed by a
    letter (a URL counts 23 however short, and its domain has such a dot; a price's "359.00" or a sentence's
    end has none)."""
    normal = unicodedata.normalize("NFC", text)
    heavy = len(_HEAVY.findall(normal))
    return len(normal) + heavy + 23 * len(_DOMAIN_DOT.findall(normal))


def quiet_until(now: datetime, quiet: QuietHours | None, default_zone: str) -> datetime | None:
    """When `now` falls in the quiet hours: the end of them (aware, UTC-comparable); else None."""
    if quiet is None:
        return None
    zone = ZoneInfo(quiet.timezone or default_zone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    start, end = quiet.start, quiet.end
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    day = local.date()
    if not start < end and clock >= start:  # overnight window, before midnight: ends tomorrow
        day = day + timedelta(days=1)
    return _local(day, end, zone)


def _local(day: Any, at: time, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, at)
    return naive.replace(tzinfo=zone)
