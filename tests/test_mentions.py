"""MentionService over the real sandbox X API (HTTP), real databases, the real classifier and templates."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.adapters.escalation import Escalator
from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer
from bot.core.clock import ManualClock
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.mentions import MentionService, PollReport
from bot.domains.conversations.replies import reference
from bot.domains.publishing.outbox import Outbox
from bot.settings.config import AccountConfig, Settings
from bot.settings.replies import Caps, Escalation, RepliesConfig
from tests.conftest import REPO_ROOT
from tests.helpers import delivery

NO_CAPS = Caps(per_user_per_day=0, per_conversation=0)


def make_settings(**replies: Any) -> Settings:
    return Settings(
        accounts={"shop": AccountConfig(platform="sandbox", handle="shop")},
        templates_dir=REPO_ROOT / "templates",
        replies=RepliesConfig(**{"enabled": True, **replies}),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def shop(sandbox: Any) -> Iterator[XPlatform]:
    platform = XPlatform.for_sandbox(sandbox.url, "shop", account="shop")
    yield platform
    platform.close()


@pytest.fixture
def admin(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=5) as client:
        yield client


@pytest.fixture
def timed(clock: ManualClock) -> Iterator[tuple[Any, XPlatform, httpx.Client]]:
    """A sandbox whose rate-limit windows follow the test's clock, its shop account and admin client."""
    from bot.sandbox.server import SandboxServer

    server = SandboxServer(clock=clock).start()
    platform = XPlatform.for_sandbox(server.url, "shop", account="shop", clock=clock)
    client = httpx.Client(base_url=server.url, trust_env=False, timeout=5)
    try:
        yield server, platform, client
    finally:
        client.close()
        platform.close()
        server.stop()


def service(
    store: Store, shop: XPlatform, clock: ManualClock, settings: Settings | None = None, **kwargs: Any
) -> MentionService:
    settings = settings or make_settings(caps=NO_CAPS)
    kwargs.setdefault("escalator", Escalator(settings.replies.escalation, url=""))
    return MentionService(
        settings, store, {"shop": shop}, Classifier(settings.replies), TemplateRenderer(settings), clock, **kwargs
    )


def outbox(store: Store, shop: XPlatform, clock: ManualClock, owner: str = "test") -> Outbox:
    return Outbox(store, {"shop": shop}, delivery=delivery(), owner=owner, clock=clock, rng=random.Random(3))


def replies_of(store: Store) -> list[Any]:
    return [i for i in store.outbox.items(limit=None) if i.kind in ("reply", "dm")]


def test_pagination_and_cursor(store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock) -> None:
    users = [sandbox.add_user(f"fan{i}") for i in range(5)]
    ids = [sandbox.add_tweet(users[i % 5], f"@shop where is order A{i}?") for i in range(250)]
    nudged: list[int] = []
    svc = service(store, shop, clock, on_enqueue=lambda: nudged.append(1))
    report = svc.poll("shop")
    assert nudged == [1]
    assert (report.mentions, report.new, report.replies, report.pages, report.complete) == (250, 250, 250, 3, True)
    assert store.mentions.cursor("shop", "mentions") == ids[-1]
    stored = store.mentions.find("shop")
    assert sorted(m.platform_id for m in stored) == sorted(ids)
    assert {m.intent for m in stored} == {"question"} and all(m.summoned for m in stored)
    assert {i.key for i in replies_of(store)} == {f"reply:{i}" for i in ids}
    again = svc.poll("shop")
    assert (again.mentions, again.new, again.replies) == (0, 0, 0)
    newer = sandbox.add_tweet(users[0], "@shop love it, thank you!")
    third = svc.poll("shop")
    assert (third.mentions, third.new, third.replies) == (1, 1, 1)
    assert store.mentions.cursor("shop", "mentions") == newer
    assert store.mentions.get("shop", newer).intent == "praise"


class _CrashOnSecondBatch(Classifier):
    """The real classifier, with a process 'crash' while the second page is being handled."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.batches: set[str] = set()

    def classify(self, text: str, *, account_handle: str | None = None) -> Any:
        self.batches.add(text.split()[1])
        if len(self.batches) > 1:
            raise SystemExit("killed")
        return super().classify(text, account_handle=account_handle)


def test_restart_mid_stream_loses_and_doubles_nothing(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    fan = sandbox.add_user("fan")
    # pages are handled oldest first; the texts name their page so the crash hits the second page handled
    ids = [
        sandbox.add_tweet(fan, f"@shop p{0 if i < 50 else 1 if i < 150 else 2} how much is item {i}?")
        for i in range(250)
    ]
    settings = make_settings(caps=NO_CAPS)
    crashing = MentionService(
        settings,
        store,
        {"shop": shop},
        _CrashOnSecondBatch(settings.replies),
        TemplateRenderer(settings),
        clock,
        escalator=Escalator(settings.replies.escalation, url=""),
    )
    with pytest.raises(SystemExit):
        crashing.poll("shop")
    assert len(store.mentions.find("shop")) == 50  # the oldest page, whole
    assert len(replies_of(store)) == 50
    assert store.mentions.cursor("shop", "mentions") is None  # never past what is stored
    report = service(store, shop, clock, settings).poll("shop")  # the "restarted" daemon
    assert (report.mentions, report.new, report.replies) == (250, 200, 200)
    assert sorted(m.platform_id for m in store.mentions.find("shop")) == sorted(ids)
    assert sorted(i.key for i in replies_of(store)) == sorted(f"reply:{i}" for i in ids)
    assert store.mentions.cursor("shop", "mentions") == ids[-1]


def test_rate_limit_stops_paging_without_a_429_and_resumes(store: Store, clock: ManualClock, timed: Any) -> None:
    sandbox, shop, admin = timed
    fan = sandbox.add_user("fan")
    ids = [sandbox.add_tweet(fan, f"@shop is item {i} in stock?") for i in range(250)]
    limits = {"GET /2/users/:id/mentions": {"limit": 2, "window": 900}}
    admin.post("/_sandbox/faults", json={"rate_limits": limits}).raise_for_status()
    svc = service(store, shop, clock)
    first = svc.poll("shop")
    assert not first.complete and first.pages == 2 and first.waiting_until is not None
    assert first.new == 200 and store.mentions.cursor("shop", "mentions") is None
    waiting = svc.poll("shop")  # the window is used up: no request at all
    assert waiting.pages == 0 and waiting.waiting_until == first.waiting_until
    other_daemon = service(store, shop, clock).poll("shop")  # the block is in the database
    assert other_daemon.pages == 0
    stats = admin.get("/_sandbox/stats").json()
    assert stats["rate_limited"] == 0 and stats["requests"]["GET /2/users/:id/mentions"] == 2
    clock.set(first.waiting_until + timedelta(seconds=1))
    done = svc.poll("shop")
    assert done.complete and (done.new, done.replies) == (50, 50)
    assert store.mentions.cursor("shop", "mentions") == ids[-1]
    assert len(replies_of(store)) == 250
    assert admin.get("/_sandbox/stats").json()["rate_limited"] == 0


def test_a_429_ends_the_poll_and_the_next_waits_for_retry_at(store: Store, clock: ManualClock, timed: Any) -> None:
    sandbox, shop, admin = timed
    fan = sandbox.add_user("fan")
    sandbox.add_tweet(fan, "@shop hello?")
    shop.me()
    admin.post(
        "/_sandbox/faults",
        json={"burst_429": 1, "burst_endpoint": "GET /2/users/:id/mentions", "burst_reset_seconds": 30},
    ).raise_for_status()
    svc = service(store, shop, clock)
    first = svc.poll("shop")
    assert not first.complete and first.waiting_until is not None and first.new == 0
    assert svc.poll("shop").pages == 0
    clock.set(first.waiting_until + timedelta(seconds=1))
    assert svc.poll("shop").new == 1
    assert admin.get("/_sandbox/stats").json()["early_requests"] == 0


def test_duplicates_delivered_twice_store_one_mention_and_one_reply(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    fan = sandbox.add_user("fan")
    tid = sandbox.add_tweet(fan, "@shop do you have a coupon?")
    [page] = list(shop.mentions())
    svc = service(store, shop, clock)
    first = svc.ingest_page("shop", page)
    second = svc.ingest_page("shop", page)
    doubled = svc.ingest_page("shop", type(page)(items=page.items * 2, users=page.users))
    assert (first.new, first.replies) == (1, 1)
    assert (second.new, second.replies, doubled.new, doubled.replies) == (0, 0, 0, 0)
    assert [m.platform_id for m in store.mentions.find()] == [tid]
    assert [i.key for i in replies_of(store)] == [f"reply:{tid}"]
    assert store.mentions.get("shop", tid).intent == "coupon_request"


def test_opt_out_is_confirmed_once_and_then_silence(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock, admin: httpx.Client
) -> None:
    fan = sandbox.add_user("fan")
    svc = service(store, shop, clock)
    question = sandbox.add_tweet(fan, "@shop when do you restock the red scarf?")
    svc.poll("shop")  # a reply is queued but not delivered yet
    stop = sandbox.add_tweet(fan, "@shop STOP")
    report = svc.poll("shop")
    assert (report.optouts, report.replies) == (1, 1)
    assert store.mentions.is_opted_out("x", fan)
    later = [sandbox.add_tweet(fan, f"@shop is the scarf back {i}?") for i in range(2)]
    stop_again = sandbox.add_tweet(fan, "@shop stop")
    quiet = svc.poll("shop")
    assert (quiet.new, quiet.replies, quiet.optouts, quiet.skipped) == (3, 0, 0, 3)
    assert {store.mentions.get("shop", t).reason for t in [*later, stop_again]} == {"opted out"}
    delivered = outbox(store, shop, clock).deliver_due()
    assert delivered.sent == 1
    # the reply queued before the opt-out is cancelled at delivery; only the confirmation went out
    assert store.outbox.item(key=f"reply:{question}").state == "cancelled"
    tweets = admin.get("/_sandbox/tweets", params={"author_id": shop.me().id}).json()["tweets"]
    assert [t["in_reply_to_tweet_id"] for t in tweets] == [stop]


def test_caps_per_user_and_per_conversation(store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock) -> None:
    fan = sandbox.add_user("fan")
    bot = sandbox.add_user("otherbot")
    # the sandbox stamps tweets with the real time while this clock jumps a day: no max_age here
    settings = make_settings(caps=Caps(per_user_per_day=2, per_conversation=3), max_age=None)
    svc = service(store, shop, clock, settings)
    asks = [sandbox.add_tweet(fan, f"@shop question number {i}?") for i in range(3)]
    report = svc.poll("shop")
    assert (report.replies, report.skipped) == (2, 1)
    assert store.mentions.get("shop", asks[2]).reason == "cap: 2 replies to this user in 24 h"
    clock.advance(timedelta(hours=25))
    assert svc.poll("shop").replies == 0  # nothing new: the cap never re-answers old mentions
    sandbox.add_tweet(fan, "@shop one more question?")
    assert svc.poll("shop").replies == 1  # a day later the user may be answered again
    # a bot loop: another bot keeps replying in one conversation
    root = sandbox.add_tweet(bot, "@shop ping?")
    parent = root
    for i in range(5):
        parent = sandbox.add_tweet(bot, f"@shop ping {i}?", in_reply_to_tweet_id=parent)
    loop_settings = make_settings(caps=Caps(per_user_per_day=0, per_conversation=3), max_age=None)
    loop = service(store, shop, clock, loop_settings).poll("shop")
    assert (loop.new, loop.replies, loop.skipped) == (6, 3, 3)
    reasons = {m.reason for m in store.mentions.find("shop") if m.conversation_id == root and m.reason}
    assert reasons == {"cap: 3 replies in this conversation"}


def test_quiet_hours_delay_replies_to_their_end(store: Store, shop: XPlatform, sandbox: Any) -> None:
    from datetime import time

    from bot.settings.replies import QuietHours

    clock = ManualClock(datetime(2026, 11, 27, 23, 30, tzinfo=UTC))  # 07:30 next day in Shanghai
    store.clock = clock
    fan = sandbox.add_user("fan")
    settings = make_settings(
        caps=NO_CAPS, quiet_hours=QuietHours(start=time(22), end=time(8), timezone="Asia/Shanghai")
    )
    tid = sandbox.add_tweet(fan, "@shop how long is shipping?")
    svc = service(store, shop, clock, settings)
    assert svc.poll("shop").replies == 1
    item = store.outbox.item(key=f"reply:{tid}")
    assert item.next_attempt_at == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    assert outbox(store, shop, clock).deliver_due().sent == 0
    clock.set(datetime(2026, 11, 28, 0, 0, 1, tzinfo=UTC))
    sandbox.add_tweet(fan, "@shop and what about returns?")
    assert svc.poll("shop").replies == 1
    assert store.outbox.items(limit=1)[0].next_attempt_at == clock.now()
    assert outbox(store, shop, clock).deliver_due().sent == 2


def test_non_summoning_and_own_posts_are_stored_but_never_answered(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock, admin: httpx.Client
) -> None:
    from bot.core.models import Page, Post, User

    alice, bob = sandbox.add_user("alice"), sandbox.add_user("bob")
    sandbox.add_user("carol")
    me = shop.me()
    ours = sandbox.add_tweet(me.id, "New arrivals are in!")
    thread = sandbox.add_tweet(alice, "@shop are these in blue?", in_reply_to_tweet_id=ours)
    side = sandbox.add_tweet(bob, "@carol look at this", in_reply_to_tweet_id=thread)  # only mentions carol
    raw = {t["id"]: t for t in admin.get("/_sandbox/tweets").json()["tweets"]}

    def post(tid: str, mentions: tuple[str, ...]) -> Post:
        t = raw[tid]
        parent = raw.get(t["in_reply_to_tweet_id"] or "")
        return Post(
            id=tid,
            text=t["text"],
            author_id=t["author_id"],
            conversation_id=ours,
            in_reply_to_user_id=parent["author_id"] if parent else None,
            replied_to_id=t["in_reply_to_tweet_id"],
            mentions=mentions,
        )

    users = {alice: User(alice, "alice", "Alice"), bob: User(bob, "bob", "Bob"), me.id: me}
    page = Page(items=[post(side, ("carol",)), post(ours, ()), post(thread, ("shop",))], users=users)
    report = service(store, shop, clock).ingest_page("shop", page)
    assert (report.new, report.replies, report.skipped) == (3, 1, 2)
    assert store.mentions.get("shop", side).reason == "does not summon the account"
    assert not store.mentions.get("shop", side).summoned
    assert store.mentions.get("shop", ours).reason == "our own post"
    assert store.mentions.get("shop", thread).outcome == "answered"
    assert outbox(store, shop, clock).deliver_due().sent == 1  # the sandbox accepted the summoned reply


def test_dm_path_answers_by_dm_once(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock, admin: httpx.Client
) -> None:
    fan = sandbox.add_user("fan")
    me = shop.me()
    event = sandbox.add_dm(fan, me.id, "Hi, do you ship to Canada?")
    svc = service(store, shop, clock)
    report = svc.poll("shop")
    assert (report.dms, report.new, report.replies) == (1, 1, 1)
    [row] = replies_of(store)
    assert (row.key, row.kind, row.recipient_id) == (f"dm-reply:{event}", "dm", fan)
    assert outbox(store, shop, clock).deliver_due().sent == 1
    sent = admin.get("/_sandbox/dms", params={"from_user_id": me.id}).json()["dms"]
    assert [d["to_user_id"] for d in sent] == [fan] and sent[0]["text"] == row.text
    again = svc.poll("shop")  # our own DM and the old one are not answered again
    assert (again.dms, again.new, again.replies) == (0, 0, 0)
    assert store.mentions.cursor("shop", "dms") == sent[0]["id"]
    assert [i.kind for i in store.people.interactions(kind="dm")] == ["dm"]
    stop = sandbox.add_dm(fan, me.id, "unsubscribe")
    assert svc.poll("shop").optouts == 1
    assert store.outbox.item(key=f"dm-reply:{stop}").kind == "dm"


def test_interactions_are_recorded_with_timestamps(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    alice, bob, carol = (sandbox.add_user(n) for n in ("alice", "bob", "carol"))
    root = sandbox.add_tweet(bob, "what a day")
    tid = sandbox.add_tweet(alice, "@shop @carol have you seen this?", in_reply_to_tweet_id=root)
    service(store, shop, clock).poll("shop")
    me = shop.me()
    edges = {(i.kind, i.source_user_id, i.target_user_id, i.post_id) for i in store.people.interactions()}
    assert edges == {("mention", alice, me.id, tid), ("mention", alice, carol, tid), ("reply", alice, bob, tid)}
    assert all(i.created_at.tzinfo is not None for i in store.people.interactions())
    assert store.people.social_user("x", username="CAROL").user_id == carol  # mentioned users are known too


def test_two_daemons_polling_one_account_answer_each_mention_once(
    db_url: str, shop: XPlatform, sandbox: Any, clock: ManualClock, admin: httpx.Client
) -> None:
    import threading

    admin.post("/_sandbox/faults", json={"rate_limits": {"POST /2/tweets": None}}).raise_for_status()
    fans = [sandbox.add_user(f"fan{i}") for i in range(10)]
    for i in range(300):
        sandbox.add_tweet(fans[i % 10], f"@shop what colours does item {i} come in?")
    stores = [Store.open(db_url, clock=clock) for _ in range(2)]
    stores[0].upgrade()
    platforms = [XPlatform.for_sandbox(sandbox.url, "shop", account="shop") for _ in range(2)]
    reports: list[PollReport] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            settings = make_settings(caps=NO_CAPS)
            svc = MentionService(
                settings,
                stores[index],
                {"shop": platforms[index]},
                Classifier(settings.replies),
                TemplateRenderer(settings),
                clock,
                escalator=Escalator(settings.replies.escalation, url=""),
            )
            for _ in range(2):
                reports.append(svc.poll("shop"))
            box = Outbox(stores[index], {"shop": platforms[index]}, delivery=delivery(), owner=f"d{index}", clock=clock)
            box.deliver_due()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert sum(r.new for r in reports) == 300 and sum(r.replies for r in reports) == 300
        outbox(stores[0], shop, clock).deliver_due()
        tweets = admin.get("/_sandbox/tweets", params={"author_id": shop.me().id}).json()["tweets"]
        answered = [t["in_reply_to_tweet_id"] for t in tweets]
        assert len(answered) == 300 and len(set(answered)) == 300
    finally:
        for s in stores:
            s.close()
        for p in platforms:
            p.close()


class _Hook:
    def __init__(self, status: int = 200) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received: list[dict[str, Any]] = []
        self.received = received
        answer = status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_escalation_goes_to_the_inbox_with_an_acknowledgement_and_a_webhook(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    hook = _Hook()
    try:
        fan = sandbox.add_user("angryfan")
        settings = make_settings(caps=NO_CAPS, escalation=Escalation(webhook=True, timeout_seconds=5))
        svc = service(store, shop, clock, settings, escalator=Escalator(settings.replies.escalation, url=hook.url))
        tid = sandbox.add_tweet(fan, "@shop my parcel arrived damaged and I want a refund @someone")
        report = svc.poll("shop")
        assert (report.escalations, report.replies) == (1, 1)
        [item] = store.mentions.inbox_items()
        assert (item.mention_id, item.intent, item.username, item.status) == (tid, "complaint", "angryfan", "open")
        assert item.webhook_status == "sent: HTTP 200"
        [posted] = hook.received
        assert posted["inbox_id"] == item.id and posted["intent"] == "complaint" and "damaged" in posted["text"]
        assert item.reason == posted["reason"] == "complaint (said “damaged”)"
        reply = store.outbox.item(key=f"reply:{tid}")
        assert "@someone" not in reply.text  # customer text is never a mention when echoed
        stored = store.mentions.get("shop", tid)
        assert (stored.outcome, stored.reason, stored.reply_key) == ("handed_over", item.reason, f"reply:{tid}")
    finally:
        hook.close()


def test_a_failing_webhook_is_recorded_and_never_breaks_the_poll(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    hook = _Hook(status=500)
    dead_port = "http://127.0.0.1:9/hook"
    try:
        fan = sandbox.add_user("fan")
        settings = make_settings(caps=NO_CAPS, escalation=Escalation(webhook=True, timeout_seconds=1))
        sandbox.add_tweet(fan, "@shop worst service ever, the lid is broken")
        report = service(
            store, shop, clock, settings, escalator=Escalator(settings.replies.escalation, url=hook.url)
        ).poll("shop")
        assert report.escalations == 1
        assert store.mentions.inbox_items()[0].webhook_status == "error: HTTP 500"
        sandbox.add_tweet(fan, "@shop still broken, I want a refund")
        report = service(
            store, shop, clock, settings, escalator=Escalator(settings.replies.escalation, url=dead_port)
        ).poll("shop")
        assert report.escalations == 1 and report.replies == 1
        assert store.mentions.inbox_items()[1].webhook_status.startswith("error: ConnectError")
    finally:
        hook.close()


def test_hostile_texts_never_crash_and_replies_fit(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    fan = sandbox.add_user("fan")
    texts = [
        "@shop",
        "@shop " + "😀" * 140,
        "@shop {{7*7}} {% for x in range(9) %}x{% endfor %} where is my order?",
        "@shop مرحبا، أين طلبي؟",
        "@shop 我的快递什么时候到？",
        "@shop " + "complaint broken " * 20,
    ]
    ids = [sandbox.add_tweet(fan, t) for t in texts]
    report = service(store, shop, clock).poll("shop")
    assert report.new == len(texts)
    refs = [reference(i) for i in ids]  # random letters and digits, which may spell 49 by chance
    for item in replies_of(store):
        assert shop.length(item.text) <= 280
        assert "49" not in functools.reduce(lambda text, ref: text.replace(ref, ""), refs, item.text)
    assert outbox(store, shop, clock).deliver_due().failed == 0
    assert {m.platform_id for m in store.mentions.find()} == set(ids)


def test_a_gap_beyond_the_800_mention_window_is_logged(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    fan = sandbox.add_user("fan")
    sandbox.add_tweet(fan, "@shop first?")
    svc = service(store, shop, clock)
    assert svc.poll("shop").new == 1
    for i in range(850):
        sandbox.add_tweet(fan, f"@shop while we were down {i}?")
    with caplog.at_level("WARNING", logger="bot.domains.conversations.mentions"):
        report = svc.poll("shop")
    assert report.complete and report.new == 800
    assert any("800-mention window" in r.getMessage() for r in caplog.records)


def test_paused_and_unauthorised_accounts_are_not_polled(
    store: Store, sandbox: Any, clock: ManualClock, admin: httpx.Client
) -> None:
    from bot.settings.config import XCredentials

    bad = XPlatform(
        XCredentials(consumer_key="k", consumer_secret="s", access_token="999-x", access_token_secret="t"),
        base_url=sandbox.url,
        account="shop",
    )
    try:
        report = service(store, bad, clock).poll("shop")
        assert not report.complete and "authentication failed" in report.errors[0]
        assert store.accounts.paused_reason("shop")
        requests = admin.get("/_sandbox/stats").json()["requests_total"]
        assert service(store, bad, clock).poll("shop").errors == []
        assert admin.get("/_sandbox/stats").json()["requests_total"] == requests
    finally:
        bad.close()


def test_replies_disabled_or_other_accounts_do_nothing(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    fan = sandbox.add_user("fan")
    sandbox.add_tweet(fan, "@shop hello?")
    off = service(store, shop, clock, make_settings(enabled=False))
    assert off.accounts() == [] and off.poll("shop").mentions == 0
    elsewhere = service(store, shop, clock, make_settings(accounts=[]))
    assert elsewhere.poll("shop").mentions == 0
    assert store.mentions.find() == []


def test_direct_messages_since_id_stops_paging(shop: XPlatform, sandbox: Any, admin: httpx.Client) -> None:
    fan = sandbox.add_user("fan")
    me = shop.me()
    ids = [sandbox.add_dm(fan, me.id, f"message {i}") for i in range(150)]
    assert [d.id for d in shop.direct_messages()] == list(reversed(ids))
    before = admin.get("/_sandbox/stats").json()["requests"]["GET /2/dm_events"]
    newer = shop.direct_messages(since_id=ids[139])
    assert [d.id for d in newer] == list(reversed(ids[140:]))
    assert all(d.sender_id == fan and d.created_at is not None for d in newer)
    assert admin.get("/_sandbox/stats").json()["requests"]["GET /2/dm_events"] == before + 1
    assert shop.direct_messages(since_id=ids[-1]) == []


def test_jobs_poll_each_account_and_never_raise(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    fan = sandbox.add_user("fan")
    tid = sandbox.add_tweet(fan, "@shop can I pay by card?")
    svc = service(store, shop, clock, make_settings(caps=NO_CAPS, poll_seconds=30))
    [job] = svc.jobs()
    assert (job.job_id, job.spec) == ("mentions:shop", 30.0)
    job.func()
    assert store.mentions.get("shop", tid).outcome == "answered"
    import sqlalchemy as sa

    with store.engine.begin() as conn:  # a broken database: the job logs, the daemon lives on
        conn.execute(sa.text("DROP TABLE mention"))
    sandbox.add_tweet(fan, "@shop and by cash?")
    with caplog.at_level("ERROR", logger="bot.domains.conversations.mentions"):
        job.func()
    assert any("the poll failed" in r.getMessage() for r in caplog.records)


def test_dm_reads_are_paced_by_their_own_window(store: Store, clock: ManualClock, timed: Any) -> None:
    sandbox, shop, admin = timed
    fan = sandbox.add_user("fan")
    me = shop.me()
    sandbox.add_dm(fan, me.id, "hello, is the shop open on Sunday?")
    limits = {"GET /2/dm_events": {"limit": 1, "window": 60}}
    admin.post("/_sandbox/faults", json={"rate_limits": limits}).raise_for_status()
    svc = service(store, shop, clock)
    first = svc.poll("shop")
    assert first.dms == 1 and first.complete
    sandbox.add_dm(fan, me.id, "and on Monday?")
    waiting = svc.poll("shop")
    assert waiting.dms == 0 and waiting.waiting_until is not None
    clock.advance(61)
    assert svc.poll("shop").dms == 1
    stats = admin.get("/_sandbox/stats").json()
    assert stats["rate_limited"] == 0 and stats["requests"]["GET /2/dm_events"] == 2


def test_identical_replies_take_the_next_free_variant_then_the_first_with_the_reference(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    fan = sandbox.add_user("fan")
    svc = service(store, shop, clock)
    sandbox.add_tweet(fan, "@shop love it, thank you")
    assert svc.poll("shop").replies == 1
    # praise.j2 has 3 variants and does not quote the customer: 3 texts, then the first with the mention's ref
    more = [sandbox.add_tweet(fan, "@shop love it, thank you" + "!" * i) for i in range(1, 4)]
    report = svc.poll("shop")
    assert (report.new, report.replies, report.skipped) == (3, 3, 0)
    texts = [i.text for i in replies_of(store)]
    assert len(texts) == len(set(texts)) == 4
    assert {store.mentions.get("shop", t).intent for t in more} == {"praise"}
    [referenced] = [t for t in texts if t.endswith(")")]
    assert referenced.rsplit(" (", 1)[0] in texts


def test_a_backlog_older_than_max_age_is_stored_but_not_answered(
    store: Store, shop: XPlatform, sandbox: Any, clock: ManualClock
) -> None:
    fan, other = sandbox.add_user("fan"), sandbox.add_user("other")
    old_question = sandbox.add_tweet(fan, "@shop when do you restock?")
    old_stop = sandbox.add_tweet(other, "@shop stop")
    old_dm = sandbox.add_dm(fan, shop.me().id, "do you ship to Berlin?")
    clock.advance(timedelta(hours=25))  # the daemon was down for a day: these are 25 h old when first seen
    svc = service(store, shop, clock)
    report = svc.poll("shop")
    assert (report.new, report.replies, report.optouts, report.skipped) == (3, 0, 1, 3)
    reason = "older than replies.max_age (24h)"
    assert store.mentions.get("shop", old_question).reason == reason
    assert store.mentions.get("shop", old_stop).reason == reason  # the opt-out counts, unconfirmed
    assert store.mentions.get("shop", old_dm, kind="dm").reason == reason
    assert store.mentions.is_opted_out("x", other) and replies_of(store) == []
    fresh = sandbox.add_tweet(fan, "@shop and when do you restock the blue one?")
    clock.set(datetime.now(UTC))
    assert svc.poll("shop").replies == 1
    assert store.mentions.get("shop", fresh).outcome == "answered"
    # a longer max_age answers the same backlog
    sandbox.add_tweet(fan, "@shop how long is shipping?")
    clock.advance(timedelta(hours=25))
    relaxed = service(store, shop, clock, make_settings(caps=NO_CAPS, max_age="2d"))
    assert relaxed.poll("shop").replies == 1


def test_max_age_is_a_positive_duration_or_null() -> None:
    assert RepliesConfig().max_age == timedelta(hours=24)
    assert RepliesConfig(max_age="1h30m").max_age == timedelta(minutes=90)
    assert RepliesConfig(max_age=None).max_age is None
    assert RepliesConfig(max_age=RepliesConfig().model_dump(mode="json")["max_age"]).max_age == timedelta(hours=24)
    for bad in (24, "0s", "soon", "-1h"):
        with pytest.raises(ValueError, match=r"max_age|interval"):
            RepliesConfig(max_age=bad)
