"""X's escaping undone exactly once: whatever a person types, escaped as X serves it (& < > only), reads back as
typed, however many entities, ampersands or half-entities it holds."""

from __future__ import annotations

import html
import itertools

from bot.adapters.platforms.x.records import post_of, x_text
from bot.sandbox.views import x_escaped

PIECES = ("&", "amp;", "lt;", "gt;", "<", ">", ";", "a", "&#39;", '"', "'")


def test_every_typed_text_reads_back_as_typed() -> None:
    for size in range(1, 5):
        for parts in itertools.product(PIECES, repeat=size):
            typed = "".join(parts)
            served = x_escaped(typed)
            assert served == html.escape(typed, quote=False)  # the sandbox escapes as X: & < > only
            assert x_text(served) == typed, (typed, served)


def test_an_edit_history_in_the_newest_openapi_spelling_is_read() -> None:
    item = {"id": "30", "text": "@shop A &amp;lt; B", "edit_history_post_ids": ["10", "20", "30"]}
    post = post_of(item)
    assert post.edit_of == ("10", "20") and post.text == "@shop A &lt; B"
    assert post_of({**item, "id": "10"}).edit_of == ()  # the first version: nothing earlier
    assert post_of({**item, "id": "40", "edit_history_post_ids": ["10", "20"]}).edit_of == ("10", "20")
    assert post_of({"id": "5", "text": "never edited", "edit_history_tweet_ids": ["5"]}).edit_of == ()
