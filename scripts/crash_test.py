#!/usr/bin/env python3
"""Kill the daemon at random moments and prove no scheduled post or reply is lost or sent twice.

Runs `socialbot run` against a standalone sandbox with a campaign that has a slot every second while
customers mention the shop a few times a second, SIGKILLs the daemon K times at random moments (some
land in the middle of a send), restarts it each time, lets the last one finish the schedule and answer
everyone, then compares the sandbox's ledger with the schedule and the mentions.
A coupon campaign (reply channel, depths 5%/10%/15% learned per segment, `target: uplift` ranking people by the
model learned from two earlier, disabled campaigns seeded before the run (random holdouts, codes redeemed and
expired, an orders CSV: seed_history), budget --coupon-budget, 20% holdout) issues codes to a seeded segmentation
of --coupon-people people (the customers among them) in batches while the kills go on; the customers' replies
carry their codes.
--faults: the sandbox also answers 20% of API calls with a 5xx, 10% with a timeout after the request was
processed (the ambiguous case), 5% with a connection reset, and every few seconds with a burst of 429s; the run
fails if any request reached an endpoint before the reset its 429 announced. With a third of all calls failing,
an attempt that needs a lookup and a send fails more often than not, so the run allows 25 attempts per message
before a dead letter instead of the default 8 (whose backoff the test compresses to seconds).
--replicas N: N daemons on the one database (use --database postgresql://... for the real thing); each kill
takes one of them at random, which is restarted.
Two of the customers opt out ("@crashshop unsubscribe") at a random moment and keep writing: the run counts every
message the daemons sent them after their opt-out was recorded (after_optout; the one confirmation excepted): a
reply whose last attempt began after the opt-out, or any reply to what they wrote after it. Their mentions are not
counted as unanswered.
--platform bluesky: the same against the local AT Protocol network (scripts/bluesky-devnet; reused when
SOCIALBOT_BLUESKY_PDS_URL names one or it is running, else started and stopped here): the shop's account and
the customers are real accounts on its PDS, the customers mention the shop through their own sessions (with
mention facets), the daemon logs in with an app password (SOCIALBOT_SHOP_APP_PASSWORD in its environment), and
the ledger is the shop's repository read from the PDS (com.atproto.repo.listRecords). The coupon campaign runs
there too (codes in the replies). --faults is X-only (the X sandbox injects them); --replicas works on both.
Exit 3 when the local network cannot run here.
Last line: RESULT kills=K slots=N published=N duplicates=0 lost=0 replies=N reply_duplicates=0 unanswered=0
           coupons=N coupon_duplicates=0 over_budget=0 after_optout=0 metric_reads=N
  coupons: codes issued; coupon_duplicates: a second code for one person, a code held by two people, or a
  reply that carried someone else's code; over_budget: codes issued beyond the budget.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import ROOT, admin, sandbox_process

SLOT_RE = re.compile(r"slot (\S+)")

CONFIG = """\
timezone: UTC
database_url: {database_url}
templates_dir: templates
accounts:
  shop:
    platform: {platform}
    handle: {handle}
    base_url: {sandbox_url}
campaigns:
  flood:
    account: shop
    template: flood.j2
    schedule:
      interval: "{interval}s"
      start: "{start}"
    start: "{start}"
    end: "{end}"
replies:
  poll_seconds: 1
  direct_messages: false
  caps: {{per_user_per_day: 0, per_conversation: 0}}
  intents:
    - name: opt_out
      keywords: [unsubscribe]
      reply: optout.j2
    - name: other
      reply: reply.j2
segments:
  enabled: false
  orders_csv: orders.csv
metrics:
  ages: ["5s", "30s"]
  every: 2s
coupons:
  every: 1s
  batch_size: 100
  margin_rate: 0.4
  campaigns:
    earlier1:
      enabled: false
      discounts: ["5%", "10%", "15%"]
      budget: 100000
      holdout: 0.3
      channel: reply
      expires_after: 1d
    earlier2:
      enabled: false
      discounts: ["5%", "10%", "15%"]
      budget: 100000
      holdout: 0.3
      channel: reply
      expires_after: 1d
    crash:
      discounts: ["5%", "10%", "15%"]
      target: uplift
      budget: {coupon_budget}
      holdout: 0.2
      channel: reply
      expires_after: 1d
      learn_from: [earlier1, earlier2]
delivery:
  per_account_per_day: null
  min_spacing_seconds: 0
  grace_minutes: 15
  poll_seconds: 0.2
  backoff_base_seconds: 0.5
  backoff_max_seconds: 5
  lease_seconds: {lease}
  max_attempts: {max_attempts}
"""


def write_config(
    folder: Path,
    *,
    sandbox_url: str,
    database_url: str,
    start: datetime,
    end: datetime,
    lease: float,
    coupon_budget: int,
    max_attempts: int = 8,
    platform: str = "sandbox",
    handle: str = "crashshop",
) -> Path:
    (folder / "templates" / "coupons").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "reply.j2").write_text(
        "Thanks {{ name }}, we are on it (ref {{ ref }}){% if coupon %} {{ coupon }}{% endif %}\n",
        encoding="utf-8",
    )
    (folder / "templates" / "optout.j2").write_text(
        "Done, {{ name }}: you will not hear from us again (ref {{ ref }}).\n", encoding="utf-8"
    )
    (folder / "templates" / "coupons" / "coupon.j2").write_text(
        "Your code {{ code }}: {{ discount }} until {{ expires }}.\n", encoding="utf-8"
    )
    (folder / "templates" / "flood.j2").write_text(
        "Crash test post {{ sequence }} for slot {{ slot.strftime('%Y-%m-%dT%H:%M:%S%z') }}\n", encoding="utf-8"
    )
    path = folder / "config.yaml"
    path.write_text(
        CONFIG.format(
            database_url=database_url,
            sandbox_url=sandbox_url,
            interval=1,
            start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            lease=lease,
            coupon_budget=coupon_budget,
            max_attempts=max_attempts,
            platform=platform,
            handle=handle,
        ),
        encoding="utf-8",
    )
    return path


def seed_segments(database_url: str, customers: list[str], people: int, platform: str = "x") -> None:
    """One segmentation: the customers and `people` others (who never write), in two segments."""
    from bot.adapters.store import Store

    others = (f"9{n:08d}" if platform == "x" else f"did:plc:crash{n:08d}" for n in range(people))
    with Store.open(database_url) as store:
        store.upgrade()
        members = [(platform, uid, i % 2, None) for i, uid in enumerate([*customers, *others])]
        sizes = [sum(1 for m in members if m[2] == s) for s in (0, 1)]
        store.segments.save_run(
            created_at=datetime.now(UTC),
            k=2,
            silhouette=None,
            graph_snapshot_id=None,
            params={},
            stats={},
            segments=[(0, "crash a", sizes[0], {}), (1, "crash b", sizes[1], {})],
            members=members,
        )


EARLIER = ("earlier1", "earlier2")  # disabled campaigns of the past the uplift ranking learns from


def seed_history(
    database_url: str, folder: Path, customers: list[str], people: int, seed: int, platform: str = "x"
) -> None:
    """Two earlier campaigns (4 and 2 days ago, over, each with a random 30% holdout and codes at random depths):
    the customers redeemed their codes more often than the others, who never write; the redemptions recorded as
    `socialbot coupons import-redemptions` does, and an orders CSV (segments.orders_csv) with those orders. The
    `crash` campaign (`target: uplift`, learn_from both) ranks people by the model learned from them."""
    from bot.adapters.store import Store
    from bot.core.clock import ManualClock
    from bot.core.records import IssueSpec, Member, RedemptionLine
    from bot.domains.coupons.codes import new_code

    rng = random.Random(f"{seed}:history")
    writers = set(customers)
    others = [f"9{n:08d}" if platform == "x" else f"did:plc:crash{n:08d}" for n in range(people)]
    everyone = [*customers, *others]
    orders = ["handle,order_id,amount,time"]
    now = datetime.now(UTC)
    for days, name in zip((4, 2), EARLIER, strict=True):
        issued_at = now - timedelta(days=days)
        clock = ManualClock(issued_at)
        with Store.open(database_url, clock=clock) as store:
            spec = IssueSpec(name, 100000, "reply", 86_400.0, new_code=lambda: new_code("OLD"))
            members = []
            for i, uid in enumerate(everyone):
                held = rng.random() < 0.3
                arm = None if held else rng.choice(("5%", "10%", "15%"))
                members.append(Member(platform, uid, i % 2, held, arm, 0.3 if held else 0.7 / 3))
            store.coupons.issue(spec, members)
            lines = []
            for row in store.coupons.find(campaign=name):
                chance = 0.7 if row.user_id in writers else 0.1
                if row.code is None or rng.random() >= chance:
                    continue
                when = issued_at + timedelta(hours=rng.uniform(1, 20))
                order_id = f"{name}-{row.user_id}"
                lines.append(RedemptionLine(row.code, order_id, 80.0, when, "crash history"))
                orders.append(f"crashfan{row.user_id},{order_id},80.00,{when:%Y-%m-%dT%H:%M:%SZ}")
            clock.set(issued_at + timedelta(days=1, hours=1))
            store.redemptions.record(lines)
            store.coupons.expire(clock.now())
    (folder / "orders.csv").write_text("\n".join(orders) + "\n", encoding="utf-8")


def metric_readings(database_url: str) -> int:
    """How many post metric readings the daemons stored (read at +5 s and +30 s: reads in the mix of the kills;
    the table's unique (account, post, age) keeps each reading once)."""
    from bot.adapters.store import Store

    with Store.open(database_url) as store:
        return store.post_metrics.count()


CODE_RE = re.compile(r"Your code (\S+):")


def coupon_figures(database_url: str, budget: int, tweets: list[dict[str, object]], authors: dict[str, str]) -> str:
    """coupons=N coupon_duplicates=N over_budget=N from the database and the replies on the timeline."""
    from bot.adapters.store import Store

    with Store.open(database_url) as store:
        rows = store.coupons.find(campaign="crash")
    issued = [r for r in rows if r.code]
    per_person = Counter((r.platform, r.user_id) for r in rows)
    per_code = Counter(r.code for r in issued)
    owner = {r.code: r.user_id for r in issued}
    wrong = 0
    for tweet in tweets:
        match = CODE_RE.search(str(tweet.get("text", "")))
        replied_to = str(tweet.get("in_reply_to_tweet_id") or "")
        if match and replied_to and owner.get(match.group(1)) != authors.get(replied_to):
            wrong += 1
    duplicates = sum(n - 1 for n in per_person.values()) + sum(n - 1 for n in per_code.values()) + wrong
    carried = sum(1 for t in tweets if CODE_RE.search(str(t.get("text", ""))))
    depth = {r.code: r.arm for r in issued}
    wrong_depth = sum(
        1
        for t in tweets
        if (m := CODE_RE.search(str(t.get("text", ""))))
        and f": {depth.get(m.group(1))} until" not in str(t.get("text"))
    )
    arms = ", ".join(f"{arm} {n}" for arm, n in sorted(Counter(r.arm for r in issued).items(), key=str))
    print(
        f"  coupons: {len(issued)} issued ({arms}), {len(rows) - len(issued)} held out, {carried} replies carried a "
        f"code, {wrong_depth} with another depth than the code's"
    )
    return f"coupons={len(issued)} coupon_duplicates={duplicates} over_budget={max(0, len(issued) - budget)}"


class _Background:
    """A loop in a daemon thread: `_run` until stop() (which waits for it)."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        raise NotImplementedError


class Customers(_Background):
    """People mentioning the shop a few times a second through the sandbox's admin API, in a thread. Two of them
    opt out at a random moment between `quit_between` seconds after the start and keep writing."""

    def __init__(
        self,
        url: str,
        seed: int,
        *,
        people: int = 8,
        per_second: float = 3.0,
        quitters: int = 2,
        quit_between: tuple[float, float] = (5.0, 20.0),
    ) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.people = [
            admin(url, "POST", "users", json={"username": f"customer{n}", "name": f"Customer {n}"})["id"]  # type: ignore[index]
            for n in range(people)
        ]
        self.pause = 1 / per_second
        self.mentions: list[str] = []  # the ones that must be answered: not the quitters' questions
        self.quit_at = {person: self.rng.uniform(*quit_between) for person in self.rng.sample(self.people, quitters)}
        self.optout_mentions: dict[str, str] = {}  # quitter -> their "unsubscribe" mention
        self.quitter_mentions: list[str] = []  # what the quitters wrote besides their opt-out
        super().__init__("customers")

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.pause):
            n = len(self.mentions) + len(self.quitter_mentions)
            person = self.rng.choice(self.people)
            quitting = person in self.quit_at and person not in self.optout_mentions
            if quitting and time.monotonic() - started >= self.quit_at[person]:
                tweet = admin(self.url, "POST", "tweets", json={"author_id": person, "text": "@crashshop unsubscribe"})
                self.optout_mentions[person] = tweet["id"]  # type: ignore[index]
                self.mentions.append(tweet["id"])  # type: ignore[index]  (its one confirmation)
                continue
            text = f"@crashshop question {n}: where is my order {self.rng.randrange(10_000, 99_999)}?"
            tweet = admin(self.url, "POST", "tweets", json={"author_id": person, "text": text})
            (self.quitter_mentions if person in self.quit_at else self.mentions).append(tweet["id"])  # type: ignore[index]


class Bursts(_Background):
    """Every few seconds, the sandbox answers the next few API calls with 429s (a short window), in a thread."""

    def __init__(self, url: str, seed: int) -> None:
        self.url = url
        self.rng = random.Random(seed)
        super().__init__("bursts")

    def stop(self) -> None:
        super().stop()
        admin(self.url, "POST", "faults", json={"burst_429": 0})

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(3, 8)):
            admin(self.url, "POST", "faults", json={"burst_429": self.rng.randint(1, 4), "burst_reset_seconds": 2})


def start_daemon(config: Path, log, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--log-level", "INFO"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )


@dataclass
class Run:
    """What a run left behind: the schedule, the shop's posts on the platform (as dicts: id, text,
    in_reply_to_tweet_id, deleted), who wrote each post, the customers' mentions, and the X sandbox's counters."""

    slots: list[datetime]
    posts: list[dict[str, Any]]
    authors: dict[str, str]
    mentions: list[str]
    stats: dict[str, Any] = field(default_factory=dict)
    optout_mentions: dict[str, str] = field(default_factory=dict)  # person who opted out -> that mention's id
    mention_times: dict[str, datetime] = field(default_factory=dict)  # every post's creation time (X sandbox)


def schedule(args: argparse.Namespace) -> tuple[datetime, datetime]:
    expected_life = (args.min_alive + args.max_alive) / 2 + 1.5
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    return start, start + timedelta(seconds=max(20, int(args.kills * expected_life)))


def drive(
    args: argparse.Namespace,
    rng: random.Random,
    work: Path,
    *,
    config: Path,
    end: datetime,
    slots: int,
    env: dict[str, str] | None,
    mentions: Callable[[], list[str]],
    stop_customers: Callable[[], None],
    shop_posts: Callable[[], list[dict[str, Any]]],
    settle: Callable[[], None] = lambda: None,
) -> None:
    """Start the daemons, kill one K times (restarting it), wait until every slot is posted and every mention
    answered (or the deadline), then stop them with SIGTERM."""
    log = open(work / "daemon.log", "ab")  # noqa: SIM115 - lives as long as the run
    procs = [start_daemon(config, log, env) for _ in range(args.replicas)]
    for kill in range(1, args.kills + 1):
        time.sleep(rng.uniform(args.min_alive, args.max_alive) / args.replicas)
        victim = rng.randrange(len(procs))
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        which = f" (daemon {victim + 1} of {len(procs)})" if len(procs) > 1 else ""
        print(f"  kill {kill}/{args.kills} at {datetime.now(UTC):%H:%M:%S.%f}{which}", flush=True)
        procs[victim] = start_daemon(config, log, env)
    deadline = end + timedelta(seconds=240 if args.faults else 60)  # a third of all calls fail with --faults
    while datetime.now(UTC) < deadline:
        if datetime.now(UTC) > end:
            stop_customers()
        posts = shop_posts()
        answered = {t["in_reply_to_tweet_id"] for t in posts if t.get("in_reply_to_tweet_id")}
        done = len(posts) >= slots + len(mentions()) and answered >= set(mentions())
        if datetime.now(UTC) > end + timedelta(seconds=2) and done:
            break
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a daemon exited with {proc.returncode}; see {work / 'daemon.log'}")
        time.sleep(0.5)
    settle()
    time.sleep(2)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)
    log.close()


def run_x(args: argparse.Namespace, rng: random.Random, work: Path, database_url: str) -> Run:
    with sandbox_process() as url:
        # Give the kill a wide window inside a send: every API call takes a little while.
        admin(url, "POST", "faults", json={"rate_limits": None, "latency_seconds": 0.05})
        bursts = Bursts(url, rng.randrange(1 << 30)) if args.faults else None
        if bursts is not None:
            faults = {"error_rate": 0.2, "timeout_rate": 0.1, "reset_rate": 0.05, "timeout_seconds": 1.0}
            admin(url, "POST", "faults", json={**faults, "seed": rng.randrange(1 << 30)})
        start, end = schedule(args)
        config = write_config(
            work,
            sandbox_url=url,
            database_url=database_url,
            start=start,
            end=end,
            lease=3,
            coupon_budget=args.coupon_budget,
            max_attempts=25 if args.faults else 8,
        )
        print(
            f"crash test: {args.kills} kills; slots every 1 s from {start:%H:%M:%S} to {end:%H:%M:%S} UTC; "
            f"work folder {work}",
            flush=True,
        )
        # the shop exists before anyone mentions it (the sandbox links a mention to an existing user only)
        shop_id = admin(url, "POST", "users", json={"username": "crashshop", "name": "crash"})["id"]  # type: ignore[index]
        length = (end - start).total_seconds()
        customers = Customers(url, rng.randrange(1 << 30), quit_between=(0.2 * length, 0.5 * length))
        seed_segments(database_url, customers.people, args.coupon_people)
        seed_history(database_url, work, customers.people, args.coupon_people, args.seed)
        customers.start()
        if bursts is not None:
            bursts.start()
        slots = [start + timedelta(seconds=i) for i in range(int((end - start).total_seconds()))]
        drive(
            args,
            rng,
            work,
            config=config,
            end=end,
            slots=len(slots),
            env=None,
            mentions=lambda: customers.mentions,
            stop_customers=customers.stop,
            shop_posts=lambda: admin(url, "GET", "tweets", params={"author_id": shop_id})["tweets"],  # type: ignore[index]
            settle=bursts.stop if bursts is not None else lambda: None,
        )
        stats = admin(url, "GET", "stats")
        tweets = admin(url, "GET", "tweets", params={"author_id": shop_id})["tweets"]  # type: ignore[index]
        everything = admin(url, "GET", "tweets")["tweets"]  # type: ignore[index]
    authors = {str(t["id"]): str(t["author_id"]) for t in everything}  # type: ignore[index,union-attr]
    times = {str(t["id"]): _x_time(str(t["created_at"])) for t in everything}  # type: ignore[index]
    return Run(
        slots,
        tweets,  # type: ignore[arg-type]
        authors,
        list(customers.mentions),
        stats,  # type: ignore[arg-type]
        dict(customers.optout_mentions),
        times,
    )


def _x_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def after_optout(database_url: str, run: Run) -> int:
    """Messages sent to people after their opt-out was recorded, the one confirmation excepted: outbox rows for
    them whose last attempt began after it, and replies on the timeline to what they wrote after it."""
    from bot.adapters.store import Store

    if not run.optout_mentions:
        return 0
    with Store.open(database_url) as store:
        recorded = {o.user_id: o.created_at for o in store.mentions.optouts() if o.user_id in run.optout_mentions}
        sent = store.outbox.items(state="sent", limit=None)
    confirmations = {f"reply:{mention}" for mention in run.optout_mentions.values()}
    late = {
        item.remote_id or item.key
        for item in sent
        if item.target_user_id in recorded
        and item.key not in confirmations
        and item.attempt_started_at is not None
        and item.attempt_started_at > recorded[item.target_user_id]
    }
    for post in run.posts:
        parent = str(post.get("in_reply_to_tweet_id") or "")
        person = run.authors.get(parent)
        written = run.mention_times.get(parent)
        if person in recorded and parent not in run.optout_mentions.values() and written and written > recorded[person]:
            late.add(str(post["id"]))
    missing = set(run.optout_mentions) - set(recorded)
    print(
        f"  opt-outs: {len(recorded)} of {len(run.optout_mentions)} recorded"
        + (f" ({len(missing)} never recorded)" if missing else "")
        + f"; messages sent to them afterwards: {len(late)}",
        flush=True,
    )
    return len(late) + len(missing)


def run_bluesky(args: argparse.Namespace, rng: random.Random, work: Path, database_url: str) -> Run:
    from bot.sandbox.bluesky_world import BlueskyWorld, DevnetUnavailable, local_network
    from bot.sandbox.bluesky_world import Customers as BlueskyCustomers
    from bot.settings.config import credential_variables

    with contextlib.ExitStack() as stack:
        try:
            net = stack.enter_context(local_network(on_line=lambda line: print(f"  {line}", flush=True)))
        except DevnetUnavailable as exc:
            print(f"crash test: the local Bluesky network cannot run here: {exc.reason}", flush=True)
            raise SystemExit(3) from exc
        world = stack.enter_context(BlueskyWorld(net.pds_url))
        shop = world.create_account("crashshop")
        (variable,) = credential_variables("shop", "bluesky")
        env = {variable: world.app_password(shop)}  # the daemon's environment only; never printed
        start, end = schedule(args)
        config = write_config(
            work,
            sandbox_url=net.pds_url,
            database_url=database_url,
            start=start,
            end=end,
            lease=3,
            coupon_budget=args.coupon_budget,
            platform="bluesky",
            handle=shop.handle,
        )
        print(
            f"crash test on the local Bluesky network (PDS {net.pds_url}): {args.kills} kills; slots every 1 s "
            f"from {start:%H:%M:%S} to {end:%H:%M:%S} UTC; shop @{shop.handle}; work folder {work}",
            flush=True,
        )
        order = rng.randrange(10_000, 99_999)
        customers = BlueskyCustomers(
            world,
            shop.handle,
            people=8,
            seed=rng.randrange(1 << 30),
            social=False,
            intents=("question",),
            label="customer",
            text=lambda n: f"question {n}: where is my order {order + n}?",
        )
        dids = [p.did for p in customers.people]
        seed_segments(database_url, dids, args.coupon_people, platform="bluesky")
        seed_history(database_url, work, dids, args.coupon_people, args.seed, platform="bluesky")
        customers.start(per_second=3.0)

        def shop_posts() -> list[dict[str, Any]]:
            return [
                {"id": r.uri, "text": r.text, "in_reply_to_tweet_id": r.reply_parent} for r in world.ledger(shop.did)
            ]

        slots = [start + timedelta(seconds=i) for i in range(int((end - start).total_seconds()))]
        drive(
            args,
            rng,
            work,
            config=config,
            end=end,
            slots=len(slots),
            env=env,
            mentions=lambda: [m.uri for m in customers.mentions],
            stop_customers=customers.stop,
            shop_posts=shop_posts,
        )
        posts = shop_posts()
        mentions = [m.uri for m in customers.mentions]
        if customers.errors:
            print(f"  customers: {len(customers.errors)} posts failed, e.g. {customers.errors[0]}", flush=True)
    # an at-URI names its author: at://<did>/app.bsky.feed.post/<rkey>
    authors = {uri: uri.removeprefix("at://").split("/", 1)[0] for uri in mentions}
    return Run(slots, posts, authors, mentions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--min-alive", type=float, default=0.5, help="shortest life of a daemon before its kill (s)")
    parser.add_argument("--max-alive", type=float, default=5.0, help="longest life of a daemon before its kill (s)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, database)")
    parser.add_argument("--coupon-budget", type=int, default=400, help="codes the coupon campaign may issue")
    parser.add_argument(
        "--faults", action="store_true", help="5xx, timeouts, resets and 429 bursts from the sandbox (X only)"
    )
    parser.add_argument("--replicas", type=int, default=1, help="daemons running at once on the database")
    parser.add_argument("--coupon-people", type=int, default=2000, help="segmented people besides the customers")
    parser.add_argument(
        "--platform",
        choices=("x", "bluesky"),
        default="x",
        help="x: the built-in X sandbox; bluesky: the local AT Protocol network (scripts/bluesky-devnet)",
    )
    args = parser.parse_args()
    if args.platform == "bluesky" and args.faults:
        parser.error(
            "--faults is X-only: the X sandbox injects them; the Bluesky run uses the real servers as they are"
        )
    rng = random.Random(args.seed)

    work = Path(tempfile.mkdtemp(prefix="socialbot-crash-"))
    database_url = args.database or f"sqlite:///{work / 'crash.db'}"
    run = (
        run_bluesky(args, rng, work, database_url)
        if args.platform == "bluesky"
        else run_x(args, rng, work, database_url)
    )
    report(args, run, work, database_url)


def report(args: argparse.Namespace, run: Run, work: Path, database_url: str) -> None:
    coupons = coupon_figures(database_url, args.coupon_budget, run.posts, run.authors)
    posted: Counter[datetime] = Counter()
    replies: Counter[str] = Counter()
    for tweet in run.posts:
        if tweet.get("deleted"):
            continue
        if tweet.get("in_reply_to_tweet_id"):
            replies[tweet["in_reply_to_tweet_id"]] += 1
            continue
        match = SLOT_RE.search(tweet["text"])
        if match:
            posted[datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)] += 1
    log_text = (work / "daemon.log").read_text(encoding="utf-8", errors="replace")
    print(
        f"  daemon lives that finished start-up: {log_text.count(' started: ')}; "
        f"posts found on the timeline after a kill (reconciled, not re-sent): {log_text.count(': reconciled ')}",
        flush=True,
    )
    expected = set(run.slots)
    duplicates = sum(n - 1 for n in posted.values() if n > 1)
    lost = len(expected - set(posted))
    extra = len(set(posted) - expected)
    published = len(expected & set(posted))
    reply_duplicates = sum(n - 1 for n in replies.values() if n > 1)
    unanswered = len(set(run.mentions) - set(replies))
    answered = len(set(run.mentions) & set(replies))
    if extra:
        print(f"  {extra} posted slot(s) were not in the schedule", flush=True)
    stats = run.stats
    early = int(stats.get("early_requests", 0))
    if args.faults:
        print(
            f"  faults served: {stats.get('faults', {})}; 429s: {stats.get('rate_limited', 0)}; "
            f"requests before a 429's reset: {early} {stats.get('early_by_endpoint', {})}",
            flush=True,
        )
    coupon_fields = dict(part.split("=") for part in coupons.split())
    late = after_optout(database_url, run)
    metric_reads = metric_readings(database_url)
    if args.coupon_budget > 0 and int(coupon_fields["coupons"]) == 0:
        print("  the coupon campaign issued no code at all (its job never ran or always failed)", flush=True)
    failed = bool(
        duplicates
        or lost
        or extra
        or reply_duplicates
        or unanswered
        or int(coupon_fields["coupon_duplicates"])
        or int(coupon_fields["over_budget"])
        or (args.coupon_budget > 0 and int(coupon_fields["coupons"]) == 0)
        or early
        or late
    )
    if not args.keep and not failed:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"  work folder kept: {work}", flush=True)
    print(
        f"RESULT kills={args.kills} slots={len(run.slots)} published={published} duplicates={duplicates} lost={lost} "
        f"replies={answered} reply_duplicates={reply_duplicates} unanswered={unanswered} {coupons} "
        f"after_optout={late} metric_reads={metric_reads}"
    )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
