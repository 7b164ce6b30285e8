"""`socialbot inbox` and `socialbot optout` through typer's CliRunner on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from bot.adapters.store import Store
from bot.app.cli import app
from bot.core.clock import ManualClock
from bot.core.records import InboxRecord, UserRecord

T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, clock=ManualClock(T0))
    s.upgrade()
    yield s
    s.close()


def add_inbox(store: Store, mention_id: str, text: str, username: str = "angry") -> int:
    with store.mentions.unit("shop") as unit:
        writes = unit.write(
            users=[UserRecord("x", "42", username, "Angry Fan")],
            inbox=[InboxRecord("shop", "x", "mention", mention_id, text, "42", username, "complaint")],
        )
    return writes.inbox_ids[0]


def test_inbox_lists_open_items_and_resolves(store: Store, db_url: str) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["inbox", "--database", db_url])
    assert empty.exit_code == 0 and "nothing to handle" in empty.output
    first = add_inbox(store, "1001", "my [bold]parcel[/bold] arrived broken")
    second = add_inbox(store, "1002", "refund please")
    listed = runner.invoke(app, ["inbox", "--database", db_url], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "[bold]parcel[/bold]" in listed.output  # customer text is shown as text, not rich markup
    assert "@angry" in listed.output and "complaint" in listed.output and "refund please" in listed.output
    done = runner.invoke(app, ["inbox", "resolve", str(first), "--note", "called them", "--database", db_url])
    assert done.exit_code == 0, done.output
    item = store.mentions.inbox_item(first)
    assert (item.status, item.note) == ("resolved", "called them") and item.resolved_at is not None
    open_only = runner.invoke(app, ["inbox", "--database", db_url], env={"COLUMNS": "200"})
    assert "refund please" in open_only.output and "parcel" not in open_only.output
    everything = runner.invoke(app, ["inbox", "--all", "--database", db_url], env={"COLUMNS": "200"})
    assert "parcel" in everything.output and "called them" in everything.output
    assert runner.invoke(app, ["inbox", "resolve", str(first), "--database", db_url]).exit_code == 1
    assert runner.invoke(app, ["inbox", "resolve", "999", "--database", db_url]).exit_code == 1
    assert store.mentions.inbox_item(second).status == "open"


def test_optout_add_list_remove(store: Store, db_url: str) -> None:
    runner = CliRunner()
    with store.mentions.unit("shop") as unit:
        unit.write(users=[UserRecord("x", "77", "Known_Fan", "Known")])
    added = runner.invoke(app, ["optout", "add", "@known_fan", "--reason", "asked by email", "--database", db_url])
    assert added.exit_code == 0, added.output
    assert "user id 77" in added.output
    assert store.mentions.is_opted_out("x", "77")
    stranger = runner.invoke(app, ["optout", "add", "stranger", "--database", db_url])
    assert stranger.exit_code == 0 and "matched by handle" in stranger.output
    assert store.mentions.is_opted_out("x", "555", "Stranger")  # an id seen later still matches the handle
    again = runner.invoke(app, ["optout", "add", "@stranger", "--database", db_url])
    assert again.exit_code == 0 and "already" in again.output
    listed = runner.invoke(app, ["optout", "list", "--database", db_url], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "@Known_Fan" in listed.output and "asked by email" in listed.output
    refused = runner.invoke(app, ["optout", "remove", "@known_fan", "--database", db_url], input="n\n")
    assert refused.exit_code != 0 and store.mentions.is_opted_out("x", "77")
    removed = runner.invoke(app, ["optout", "remove", "@known_fan", "--database", db_url], input="y\n")
    assert removed.exit_code == 0, removed.output
    assert not store.mentions.is_opted_out("x", "77")
    assert runner.invoke(app, ["optout", "remove", "@stranger", "--yes", "--database", db_url]).exit_code == 0
    assert store.mentions.optouts() == []
    assert runner.invoke(app, ["optout", "remove", "@nobody", "--yes", "--database", db_url]).exit_code == 1
    bad = runner.invoke(app, ["optout", "add", "not a handle", "--database", db_url])
    assert bad.exit_code == 2
