"""A driver for the local AT Protocol network (`scripts/bluesky-devnet`): people, their posts, and ledgers.

    with local_network() as net:                      # reuses SOCIALBOT_BLUESKY_PDS_URL or a running devnet
        world = BlueskyWorld(net.pds_url)
        shop = world.create_account("shop")           # a unique handle like shop-3f9a1c.test
        ann = world.create_account("ann")
        ref = world.post(ann, f"@{shop.handle} where is my order?")   # with a mention facet -> notifies
        world.reply(shop, ref, "on its way"); world.like(ann, ref); world.repost(ann, ref)
        for record in world.ledger(shop.did): ...     # com.atproto.repo.listRecords, every page

Every call goes through the adapter's XRPC client (bot.adapters.platforms.bluesky.xrpc; failures are its
bot.core.errors), to 127.0.0.1 only. Facets (mentions with the DID their handle resolves
to, links, #tags; bot.adapters.platforms.richtext) carry UTF-8 byte offsets, as Bluesky's own clients write them; a
handle that does not resolve gets no facet (and notifies nobody), as in the app.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import secrets
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.adapters.platforms.bluesky.records import POST, iso, mentioned_dids, parent_uri
from bot.adapters.platforms.bluesky.session import Session
from bot.adapters.platforms.bluesky.xrpc import SessionExpired, XrpcClient
from bot.adapters.platforms.richtext import (
    facets,  # the adapter's detection rules: what the bot writes, people write too
)
from bot.core.errors import BotError, PlatformError

logger = logging.getLogger(__name__)

LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
ENV_PDS = "SOCIALBOT_BLUESKY_PDS_URL"
ENV_APPVIEW = "SOCIALBOT_BLUESKY_APPVIEW_URL"
ENV_PLC = "SOCIALBOT_BLUESKY_PLC_URL"
DEVNET_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bluesky-devnet"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class BlueskyWorldError(BotError):
    """The local network could not be started or is not on this machine (XRPC failures: bot.core.errors)."""


class DevnetUnavailable(BotError):
    """The local network cannot run on this machine (`scripts/bluesky-devnet start` exit 3, or no script)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- the network ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Devnet:
    pds_url: str
    appview_url: str | None = None
    plc_url: str | None = None
    started_here: bool = False  # this process started it (and stops it when done)

    def environ(self) -> dict[str, str]:
        """The SOCIALBOT_BLUESKY_* variables that point tests and scripts at this network."""
        out = {ENV_PDS: self.pds_url}
        if self.appview_url:
            out[ENV_APPVIEW] = self.appview_url
        if self.plc_url:
            out[ENV_PLC] = self.plc_url
        return out


def devnet_from_env(environ: Mapping[str, str] | None = None) -> Devnet | None:
    env = os.environ if environ is None else environ
    pds = env.get(ENV_PDS)
    if not pds:
        return None
    return Devnet(_loopback(pds), env.get(ENV_APPVIEW) or None, env.get(ENV_PLC) or None)


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    if not DEVNET_SCRIPT.exists():
        raise DevnetUnavailable(f"{DEVNET_SCRIPT} not found (the local network runs from a clone of the repository)")
    return subprocess.run([str(DEVNET_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False)


def start_devnet(*, timeout: float = 600, on_line: Callable[[str], None] | None = None) -> Devnet:
    """`scripts/bluesky-devnet start` (installs on first use, ~90 s; later ~6 s). Its progress lines go to
    `on_line`; raises DevnetUnavailable (exit 3: no Node/npm/PostgreSQL here) or BlueskyWorldError."""
    if not DEVNET_SCRIPT.exists():
        raise DevnetUnavailable(f"{DEVNET_SCRIPT} not found (the local network runs from a clone of the repository)")
    proc = subprocess.Popen([str(DEVNET_SCRIPT), "start"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line.rstrip("\n"))
            if on_line is not None:
                on_line(line.rstrip("\n"))

    reader = threading.Thread(target=pump, name="devnet-stderr", daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)  # stdout is a few KEY=VALUE lines at the end: no pipe fills up
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BlueskyWorldError(f"scripts/bluesky-devnet start took more than {timeout:g} s") from None
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    reader.join(timeout=5)
    if proc.returncode == 3:
        reasons = [line.split("UNAVAILABLE:", 1)[1].strip() for line in err_lines if "UNAVAILABLE:" in line]
        raise DevnetUnavailable(reasons[-1] if reasons else "scripts/bluesky-devnet start: exit 3")
    if proc.returncode != 0:
        tail = "\n".join(err_lines[-15:])
        raise BlueskyWorldError(f"scripts/bluesky-devnet start failed (exit {proc.returncode}):\n{tail}")
    values = dict(line.split("=", 1) for line in out.splitlines() if re.match(r"^[A-Z_]+=", line))
    if "PDS_URL" not in values:
        raise BlueskyWorldError(f"scripts/bluesky-devnet start printed no PDS_URL: {out!r}")
    reused = any("already running" in line or "already starting" in line for line in err_lines)
    return Devnet(
        _loopback(values["PDS_URL"]), values.get("APPVIEW_URL"), values.get("PLC_URL"), started_here=not reused
    )


def stop_devnet() -> None:
    _script("stop", timeout=60)


@contextlib.contextmanager
def local_network(
    environ: Mapping[str, str] | None = None, *, on_line: Callable[[str], None] | None = None
) -> Iterator[Devnet]:
    """The network named by SOCIALBOT_BLUESKY_PDS_URL (CI sets it), else the running devnet, else one started
    here and stopped on exit. A network this process did not start is never stopped."""
    given = devnet_from_env(environ)
    if given is not None:
        yield given
        return
    net = start_devnet(on_line=on_line)
    try:
        yield net
    finally:
        if net.started_here:
            stop_devnet()


def _loopback(url: str) -> str:
    host = urlsplit(url).hostname
    if host not in _LOOPBACK:
        raise BlueskyWorldError(f"refusing {url}: the Bluesky test world talks to 127.0.0.1 only")
    return url.rstrip("/")


# ---- accounts and records -------------------------------------------------------------------------------


@dataclass
class Account:
    did: str
    handle: str
    password: str = field(repr=False)
    session: Session = field(repr=False)


@dataclass(frozen=True)
class Ref:
    """A strong reference to a record (what replies, likes and reposts point at)."""

    uri: str
    cid: str

    def strong(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


@dataclass(frozen=True)
class LedgerRecord:
    uri: str
    cid: str
    value: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.value.get("text", ""))

    @property
    def reply_parent(self) -> str | None:
        """The at-URI this post replies to, or None for a top-level post."""
        return parent_uri(self.value)

    @property
    def mentioned_dids(self) -> list[str]:
        return mentioned_dids(self.value)


def _now() -> str:
    return iso(datetime.now(UTC))


class BlueskyWorld:
    """People on the local network and what they do, over XRPC (thread-safe: one client)."""

    def __init__(self, pds_url: str, *, timeout: float = 10.0) -> None:
        self.pds_url = _loopback(pds_url)
        self._client = XrpcClient(self.pds_url, timeout=timeout)
        self._dids: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> BlueskyWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- XRPC --------------------------------------------------------------------------------------------
    def _xrpc(self, method: str, nsid: str, *, account: Account | None = None, **kwargs: Any) -> dict[str, Any]:
        """One call (XrpcClient.call's arguments), as `account` when given: its expired token is refreshed once."""
        if account is None:
            return self._client.call(method, nsid, **kwargs)
        try:
            return self._client.call(method, nsid, token=account.session.access, **kwargs)
        except SessionExpired as exc:
            if exc.error != "ExpiredToken":
                raise
        body = self._client.call("POST", "com.atproto.server.refreshSession", token=account.session.refresh)
        account.session = Session.from_answer(body)
        return self._client.call(method, nsid, token=account.session.access, **kwargs)

    # ---- accounts ----------------------------------------------------------------------------------------
    def create_account(self, name: str, *, unique: bool = True, password: str | None = None) -> Account:
        """A new account `name[-<6 hex>].test` (unique by default: the network may outlive one run). The PDS takes
        3 to 18 characters before its domain, so `name` is cut to 11 (unique) or 18 characters."""
        label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[: 11 if unique else 18].strip("-") or "user"
        handle = f"{label}-{secrets.token_hex(3)}.test" if unique else f"{label}.test"
        password = password or secrets.token_urlsafe(12)
        body = self._xrpc(
            "POST",
            "com.atproto.server.createAccount",
            body={"handle": handle, "email": f"{handle}@example.com", "password": password},
        )
        with self._lock:
            self._dids[body["handle"]] = body["did"]
        return Account(body["did"], body["handle"], password, Session.from_answer(body))

    def login(self, identifier: str, password: str) -> Account:
        body = self._xrpc(
            "POST", "com.atproto.server.createSession", body={"identifier": identifier, "password": password}
        )
        return Account(body["did"], body["handle"], password, Session.from_answer(body))

    def app_password(self, account: Account, name: str = "socialbot") -> str:
        """A new app password of `account` (what the bot is given instead of the account's password)."""
        return str(
            self._xrpc("POST", "com.atproto.server.createAppPassword", account=account, body={"name": name})["password"]
        )

    def resolve(self, handle: str) -> str | None:
        """The DID of `handle`, or None when it does not resolve (cached)."""
        with self._lock:
            if handle in self._dids:
                return self._dids[handle]
        try:
            did: str | None = self._xrpc("GET", "com.atproto.identity.resolveHandle", params={"handle": handle})["did"]
        except PlatformError:
            did = None
        with self._lock:
            self._dids[handle] = did
        return did

    # ---- records -----------------------------------------------------------------------------------------
    def _create(self, account: Account, collection: str, record: dict[str, Any]) -> Ref:
        body = self._xrpc(
            "POST",
            "com.atproto.repo.createRecord",
            account=account,
            body={"repo": account.did, "collection": collection, "record": {"$type": collection, **record}},
        )
        return Ref(body["uri"], body["cid"])

    def post(self, account: Account, text: str, *, reply_to: Ref | None = None, langs: list[str] | None = None) -> Ref:
        """Post `text` as `account` with its mention, link and tag facets; a reply when `reply_to` is given."""
        record: dict[str, Any] = {"text": text, "createdAt": _now()}
        found = facets(text, self.resolve)
        if found:
            record["facets"] = found
        if langs:
            record["langs"] = langs
        if reply_to is not None:
            parent = self.record(reply_to.uri)
            root = (parent.value.get("reply") or {}).get("root") or reply_to.strong()
            record["reply"] = {"root": root, "parent": reply_to.strong()}
        return self._create(account, POST, record)

    def reply(self, account: Account, parent: Ref, text: str) -> Ref:
        return self.post(account, text, reply_to=parent)

    def like(self, account: Account, subject: Ref) -> Ref:
        return self._create(account, LIKE, {"subject": subject.strong(), "createdAt": _now()})

    def repost(self, account: Account, subject: Ref) -> Ref:
        return self._create(account, REPOST, {"subject": subject.strong(), "createdAt": _now()})

    def record(self, uri: str) -> LedgerRecord:
        """One record by its at-URI (com.atproto.repo.getRecord)."""
        repo, collection, rkey = uri.removeprefix("at://").split("/", 2)
        body = self._xrpc(
            "GET", "com.atproto.repo.getRecord", params={"repo": repo, "collection": collection, "rkey": rkey}
        )
        return LedgerRecord(body["uri"], body["cid"], body["value"])

    def ledger(self, repo: str, collection: str = POST) -> list[LedgerRecord]:
        """Every record of `collection` in `repo` (a DID or handle), newest first, following every cursor."""
        out: list[LedgerRecord] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"repo": repo, "collection": collection, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            body = self._xrpc("GET", "com.atproto.repo.listRecords", params=params)
            records = body.get("records") or []
            out.extend(LedgerRecord(r["uri"], r["cid"], r["value"]) for r in records)
            cursor = body.get("cursor")
            if not records or not cursor:
                return out

    def notifications(self, account: Account, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest notifications of `account` (through the PDS, which asks the AppView)."""
        body = self._xrpc("GET", "app.bsky.notification.listNotifications", account=account, params={"limit": limit})
        return list(body.get("notifications") or [])


# ---- customers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """A post that mentions the shop (with a mention facet, so the shop is notified)."""

    uri: str
    author: str  # handle
    kind: str  # mention, group_mention, reply (under a shop post), shout_out, star_reply (under a shout-out)
    text: str
    intent: str
    language: str


class Customers:
    """People on the local network who talk to the shop, each through their own session: `people` of them in
    `communities` groups, the first of each group an influencer who posts shout-outs about the shop. Mostly
    English, some Chinese; the intents of the X sandbox audience (bot.sandbox.phrases) except opt-outs unless
    asked. Every post that mentions the shop carries a mention facet and is recorded in `mentions`.

        customers = Customers(world, shop.handle, people=12, seed=7)
        customers.mention()                      # one post to the shop -> Mention
        customers.act()                          # one weighted random action (mention, like, repost, ...)
        customers.start(per_second=2); ...; customers.stop()

    social=False: only plain mentions from random people (no friends, shout-outs, likes or reposts).
    """

    def __init__(
        self,
        world: BlueskyWorld,
        shop_handle: str,
        *,
        people: int = 8,
        communities: int = 2,
        seed: int = 7,
        intents: tuple[str, ...] | None = None,
        social: bool = True,
        label: str = "customer",
        text: Callable[[int], str] | None = None,
    ) -> None:
        from bot.sandbox import phrases

        self.world = world
        self.shop_handle = shop_handle
        self.rng = random.Random(seed)
        self.intents = intents or tuple(i for i in phrases.INTENTS if i != "opt_out")
        self.social = social
        self._fixed_text = text
        # one at a time: createAccount is a PLC operation (~0.2 s), and concurrent ones fail (HTTP 502)
        self.people = [world.create_account(f"{label}{n}") for n in range(people)]
        groups = max(1, min(communities, people))
        self.community = {p.did: i % groups for i, p in enumerate(self.people)}
        self.influencers = self.people[:groups] if social and people > 2 * groups else []
        self.mentions: list[Mention] = []
        self.actions: Counter[str] = Counter()
        self.errors: list[str] = []
        self._shout_outs: dict[str, list[Ref]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- texts -------------------------------------------------------------------------------------------
    def _text(self, intent: str, language: str) -> str:
        from bot.sandbox import phrases

        if self._fixed_text is not None:
            return self._fixed_text(len(self.mentions))
        template = self.rng.choice(phrases.TEMPLATES[intent][language])
        en, zh, _price = self.rng.choice(phrases.PRODUCTS)
        return template.format(product=zh if language == "zh" else en, order=f"#{self.rng.randint(100000, 999999)}")

    def _friend(self, person: Account) -> Account:
        own = [p for p in self.people if p is not person and self.community[p.did] == self.community[person.did]]
        pool = own if own and self.rng.random() < 0.85 else [p for p in self.people if p is not person]
        return self.rng.choice(pool or [person])

    # ---- actions -----------------------------------------------------------------------------------------
    def mention(self, *, intent: str | None = None, language: str | None = None, kind: str | None = None) -> Mention:
        """One post to the shop: a plain mention, one that also tags a friend, a reply under one of the shop's
        posts, an influencer's shout-out, or a reply under a shout-out that tags the influencer."""
        with self._lock:
            roll = self.rng.random()
            if kind is None:
                kind = "mention"
                if self.social:
                    kind = (
                        "group_mention"
                        if roll < 0.2
                        else "reply"
                        if roll < 0.35
                        else "shout_out"
                        if roll < 0.42 and self.influencers
                        else "star_reply"
                        if roll < 0.6 and any(self._shout_outs.values())
                        else "mention"
                    )
            person = self.rng.choice(self.people)
            intent = intent or self.rng.choice(self.intents)
            language = language or ("zh" if self.rng.random() < 0.2 else "en")
            parent: Ref | None = None
            tags = [self.shop_handle]
            if kind == "group_mention":
                tags.append(self._friend(person).handle)
            elif kind == "shout_out":
                person = self.rng.choice(self.influencers)
                intent = "praise"
            elif kind == "star_reply":
                star = self.rng.choice([s for s in self.influencers if self._shout_outs.get(s.did)])
                person = self._friend(star) if self.rng.random() < 0.8 else person
                parent = self.rng.choice(self._shout_outs[star.did][-5:])
                tags.insert(0, star.handle)
            text = " ".join(f"@{tag}" for tag in tags) + " " + self._text(intent, language)
        if kind == "reply":
            parent = self._shop_post()
            if parent is None:
                kind = "mention"
        ref = self.world.post(person, text, reply_to=parent, langs=[language])
        mention = Mention(ref.uri, person.handle, kind, text, intent, language)
        with self._lock:
            self.mentions.append(mention)
            self.actions[kind] += 1
            if kind == "shout_out":
                self._shout_outs.setdefault(person.did, []).append(ref)
        return mention

    def _shop_posts(self) -> list[LedgerRecord]:
        return [r for r in self.world.ledger(self.shop_handle) if r.reply_parent is None][:20]

    def _shop_post(self) -> Ref | None:
        posts = self._shop_posts()
        if not posts:
            return None
        with self._lock:
            target = posts[self.rng.randrange(len(posts))]
        return Ref(target.uri, target.cid)

    def engage(self) -> str | None:
        """One person likes or reposts one of the shop's recent posts; the kind, or None (no posts yet)."""
        target = self._shop_post()
        if target is None:
            return None
        with self._lock:
            person = self.rng.choice(self.people)
            kind = "like" if self.rng.random() < 0.7 else "repost"
        (self.world.like if kind == "like" else self.world.repost)(person, target)
        with self._lock:
            self.actions[kind] += 1
        return kind

    def act(self) -> None:
        """One random action: mostly a post to the shop, sometimes (social) a like or repost of its posts."""
        if self.social and self.rng.random() < 0.25 and self.engage() is not None:
            return
        self.mention()

    def write_orders_csv(self, path: Path, *, orders_per_person: tuple[int, int] = (0, 4)) -> int:
        """The shop's order history of these people (handle,order_id,amount,time,product), seeded; the number of
        orders. Influencers order more."""
        import csv

        from bot.sandbox import phrases

        rng = random.Random(f"{self.rng.random()}:orders")
        now = datetime.now(UTC).replace(microsecond=0)
        rows: list[list[str]] = []
        for person in self.people:
            count = orders_per_person[1] if person in self.influencers else rng.randint(*orders_per_person)
            for _ in range(count):
                en, _zh, price = rng.choice(phrases.PRODUCTS)
                when = now.timestamp() - rng.uniform(0, 365) * 86_400
                stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                rows.append([person.handle, "", f"{price * rng.choice((1, 1, 2)):.2f}", stamp, en])
        rows.sort(key=lambda row: row[3])
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["handle", "order_id", "amount", "time", "product"])
            for seq, row in enumerate(rows, start=1):
                row[1] = f"BS{100000 + seq}"
                writer.writerow(row)
        return len(rows)

    def start(self, per_second: float = 2.0) -> Customers:
        """Act about `per_second` times a second in a thread until stop(); errors are logged and counted."""
        pause = 1 / per_second

        def loop() -> None:
            while not self._stop.wait(pause):
                try:
                    self.act()
                except BotError as exc:  # keep going: the network may be slow for a moment
                    self.errors.append(str(exc))
                    logger.warning("customers: %s", exc)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="bluesky-customers", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
