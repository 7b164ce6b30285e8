"""Hostile and broken input, in one place: corrupted config, broken templates, template injection and Unicode
tricks in customer text, handles that look like SQL or HTML, an unreachable database. Each case either works
or fails with a clear message naming the file, line or field; nothing is lost and nothing crashes."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.core.errors import ConfigError, StoreError, TemplateError
from bot.core.records import MentionRecord, UserRecord
from bot.core.text import weighted_length
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.replies import ReplyComposer, customer_text, reply_context
from bot.settings.config import RepliesConfig, Settings, load_config
from tests.conftest import REPO_ROOT

SHIPPED = (REPO_ROOT / "config.yaml").read_text(encoding="utf-8")


def setup_copy(tmp_path: Path, text: str) -> Path:
    for folder in ("templates", "data"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BROKEN_CONFIGS = {
    "truncated mid-mapping": SHIPPED[: SHIPPED.index("campaigns:") + 40],
    "unclosed quote": SHIPPED.replace('cron: "0 10,15,20 * * *"', 'cron: "0 10,15,20 * * *'),
    "tab indentation": SHIPPED.replace("  shop:\n", "\tshop:\n", 1),
    "a list where a mapping goes": SHIPPED.replace("accounts:\n", "accounts:\n  - shop\n", 1),
    "binary garbage": "\x00\x01\x02 accounts: {{{",
    "empty file": "",
    "only a comment": "# nothing here\n",
    "wrong types": SHIPPED.replace("poll_seconds: 60", "poll_seconds: soon"),
    "unknown top-level key": SHIPPED + "\nshedule: daily\n",
    "duplicate key": SHIPPED + "\ntimezone: UTC\n",
}


@pytest.mark.parametrize("case", sorted(BROKEN_CONFIGS))
def test_broken_config_names_file_and_line(tmp_path: Path, case: str) -> None:
    path = setup_copy(tmp_path, BROKEN_CONFIGS[case])
    with pytest.raises(ConfigError) as caught:
        load_config(path, require_credentials=False)
    problems = caught.value.problems
    assert problems, case
    assert all(p.file == str(path) for p in problems), problems
    assert all(p.message for p in problems)
    assert any(p.line is not None for p in problems) or case in ("empty file",), problems


BROKEN_TEMPLATES = {
    "syntax": "Hello {{ name \n",
    "undefined name": "Hello {{ nobody_knows_me }}\n",
    "unclosed block": "{% if name %}Hello\n",
    "bad filter": "Hello {{ name | no_such_filter }}\n",
}


@pytest.mark.parametrize("case", sorted(BROKEN_TEMPLATES))
def test_broken_template_names_template_and_line(tmp_path: Path, case: str) -> None:
    (tmp_path / "templates" / "replies").mkdir(parents=True)
    (tmp_path / "templates" / "replies" / "t.j2").write_text("{# line 1 #}\n" + BROKEN_TEMPLATES[case])
    settings = Settings(accounts={}, templates_dir=tmp_path / "templates")
    renderer = TemplateRenderer(settings)
    with pytest.raises(TemplateError) as caught:
        renderer.render("replies/t.j2", {"name": "Mia", "language": "en"})
    assert caught.value.template == "replies/t.j2" and caught.value.line in (1, 2), caught.value


INJECTIONS = [
    "{{ 7*7 }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config }}{{ self }}",
    "${7*7} #{7*7} <%= 7*7 %>",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_customer_text_is_data_never_template_source(text: str) -> None:
    settings = Settings(accounts={}, templates_dir=REPO_ROOT / "templates")
    composer = ReplyComposer(TemplateRenderer(settings))
    context = reply_context(item_id="0", user="mia", name="Mia", text=text, intent="question", language="en",
                            shop="lumenhome", channel="reply")  # fmt: skip
    composed = composer.first("replies/question.j2", context, dm=False)
    assert composed.text is not None
    assert "49" not in composed.text and "subclasses" not in composed.text.replace(text, "")


UNICODE = {
    "right-to-left override": "@lumenhome \u202eredro ym si erehw\u202c?",
    "zero-width joiners and spaces": "@lumenhome wh\u200bere is my\u200d order\u2060?",
    "combining marks": "@lumenhome whe\u0301re i\u0308s my o\u0300rder?" + "\u0301" * 200,
    "10 kB text": "@lumenhome where is my order? " + "好" * 5000 + "a" * 5000,
    "emoji and flags": "@lumenhome 🇨🇳👨‍👩‍👧‍👦🔥 where is my order?",
    "lone surrogate-like and controls": "@lumenhome \x07\x1b[31mred\x1b[0m where is my order?",
    "full-width handle and stop": "＠ｌｕｍｅｎｈｏｍｅ　ＳＴＯＰ",
}


@pytest.mark.parametrize("case", sorted(UNICODE))
def test_unicode_edge_cases_classify_and_fit(case: str) -> None:
    text = UNICODE[case]
    classifier = Classifier(RepliesConfig())
    intent = classifier.classify(text, account_handle="lumenhome")
    assert intent.name in {rule.name for rule in RepliesConfig().intents}
    settings = Settings(accounts={}, templates_dir=REPO_ROOT / "templates")
    composer = ReplyComposer(TemplateRenderer(settings))
    context = reply_context(item_id="0", user="mia", name="Mia", text=text, intent=intent.name,
                            language=intent.language, shop="lumenhome", channel="reply")  # fmt: skip
    composed = composer.first("replies/question.j2", context, dm=False)
    assert composed.text is not None and weighted_length(composed.text) <= 280
    if case == "full-width handle and stop":
        assert intent.name == "opt_out"


HANDLES = [
    "robert'); DROP TABLE outbox;--",
    "<script>alert(1)</script>",
    '" OR 1=1 --',
    "%s%s%s%n",
    "../../etc/passwd",
]


@pytest.mark.parametrize("handle", HANDLES)
def test_handles_like_sql_or_html_are_stored_as_text(db_url: str, handle: str) -> None:
    with Store.open(db_url) as store:
        store.upgrade()
        with store.mentions.unit("shop") as unit:
            unit.write(
                users=[UserRecord("x", "42", handle, handle)],
                mentions=[MentionRecord("shop", "x", "mention", "m1", f"@shop hi from {handle}", "not_answered", "42")],
            )
        found = store.people.social_user("x", username=handle)
        assert found is not None and found.username == handle
        assert store.mentions.get("shop", "m1").text == f"@shop hi from {handle}"  # type: ignore[union-attr]
        assert store.outbox.summary()["posts_published"] == 0  # the outbox table is still there


def test_unreachable_database_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql+psycopg://bot:s3cretPassw0rd@127.0.0.1:1/socialbot")
    message = str(caught.value)
    assert "s3cretPassw0rd" not in message and "127.0.0.1:1" in message


def test_missing_sqlite_folder_without_create_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(f"sqlite:///{tmp_path / 'nope' / 'bot.db'}", create=False)
    assert "does not exist" in str(caught.value)


def test_locked_sqlite_database_waits_then_says_so(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'bot.db'}"
    with Store.open(url) as store:
        store.upgrade()
    holder = sqlite3.connect(tmp_path / "bot.db", timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        import bot.adapters.store.engine as engine_module

        before = engine_module.SQLITE_BUSY_TIMEOUT_SECONDS
        engine_module.SQLITE_BUSY_TIMEOUT_SECONDS = 1  # wait a second, not the default
        try:
            with pytest.raises(StoreError) as caught, Store.open(url) as store:
                store.outbox.enqueue("k1", account="shop", kind="post", text="hello", not_before=datetime.now(UTC))
        finally:
            engine_module.SQLITE_BUSY_TIMEOUT_SECONDS = before
        assert "locked" in str(caught.value)
    finally:
        holder.rollback()
        holder.close()
    with Store.open(url) as store:  # once the lock is gone the same write goes through: nothing lost
        assert store.outbox.enqueue("k1", account="shop", kind="post", text="hello", not_before=datetime.now(UTC))


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("@shop.test where is my order?", "where is my order?"),
        ("@shop.bsky.social @friend.test hi", "hi"),
        ("@shop hello", "hello"),
        ("@shop. thanks", ". thanks"),
    ],
)
def test_leading_handles_of_either_platform_are_dropped_from_the_quote(text: str, quoted: str) -> None:
    assert customer_text(text) == quoted
