"""Per-platform test harnesses: everything platform-specific the contract suite needs.

A harness builds adapters for accounts, acts as other users (posts, DMs), injects faults and reads the
platform's ledger. The contract tests only talk to `Harness`: X over the sandbox, Bluesky over a local AT Protocol
network (scripts/bluesky-devnet: real PLC, PDS and AppView servers).
"""

from __future__ import annotations

import math
import os
import queue
import random
import re
import string
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from bot.core.ports import Platform
from tests.contract.faultproxy import FaultProxy

REPO_ROOT = Path(__file__).resolve().parents[2]


class Harness(Protocol):
    name: str
    supports_dms: bool  # the platform (as the harness runs it) has direct messages
    refuses_duplicate_text: bool  # a second post with the same words is DuplicateContent (X)
    finds_sent_by_text: bool  # find_sent matches words and target (X), not the outbox message's own identity
    mentions_overlap: bool  # mentions(since_id) may deliver again a few items at or below since_id
    has_sessions: bool  # the adapter logs in (Bluesky: createSession) and must renew expired sessions
    supports_edits: bool  # people can edit a post (X: an edit is a new post listing the earlier versions)

    def platform(self, handle: str, *, timeout: float | None = None) -> Platform:
        """The adapter for the bot account `handle`; `timeout` None: the harness's own (short where the server
        runs in this process, longer for servers that share the machine with other test runs)."""
        ...

    def username(self, handle: str) -> str:
        """The platform's username of the account the test calls `handle` (Bluesky: a unique '.test' handle)."""
        ...

    def is_user_id(self, value: str) -> bool: ...

    def sort_key(self, post_id: str) -> Any:
        """A key under which the ids of one account's posts sort in the order they were made."""
        ...

    def expected_followers(self, requested: int) -> int:
        """The follower count a user made with user(..., followers=requested) really has."""
        ...

    def unknown_post_id(self, platform: Platform) -> str:
        """A well-formed id of a post that does not exist."""
        ...

    def user(self, handle: str, *, followers: int | None = None) -> str:
        """Create (or look up) a user other than the bot, with this many followers when given; return its id."""
        ...

    def like_as(self, user_id: str, post_id: str) -> None: ...

    def retweet_as(self, user_id: str, post_id: str) -> None: ...

    def post_as(self, user_id: str, text: str, *, reply_to: str | None = None, quote: str | None = None) -> str: ...

    def dm_as(self, sender_id: str, recipient_id: str, text: str) -> str: ...

    def edit_as(self, post_id: str, text: str) -> str:
        """The post's author edits it to `text`; returns the new version's id (supports_edits only)."""
        ...

    def fail_next_writes(self, kind: str) -> None:
        """kind: 'error' (5xx before processing) or 'timeout' (processed, then no response)."""
        ...

    def rate_limit_next(self, seconds: float) -> int:
        """Make the next API request get a 429 whose window resets `seconds` from now; return the reset epoch."""
        ...

    def clear_faults(self) -> None: ...

    def bad_credentials_platform(self) -> Platform: ...

    def unreachable_platform(self, url: str) -> Platform:
        """An adapter for an account whose server at `url` refuses connections."""
        ...


class XSandboxHarness:
    name = "x"
    supports_dms = True
    refuses_duplicate_text = True
    finds_sent_by_text = True
    mentions_overlap = False
    has_sessions = False  # OAuth 1.0a: every request is signed, nothing expires
    supports_edits = True

    def __init__(self, server: Any) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, trust_env=False, timeout=5)

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(path, json=body)
        resp.raise_for_status()
        return dict(resp.json())

    def platform(self, handle: str, *, timeout: float | None = None) -> Platform:
        from bot.adapters.platforms.x import XPlatform

        return XPlatform.for_sandbox(self.server.url, handle, timeout=0.5 if timeout is None else timeout)

    def username(self, handle: str) -> str:
        return handle

    def is_user_id(self, value: str) -> bool:
        return value.isdigit()

    def sort_key(self, post_id: str) -> Any:
        return int(post_id)

    def expected_followers(self, requested: int) -> int:
        return requested

    def unknown_post_id(self, platform: Platform) -> str:
        return "1" + "0" * 18

    def user(self, handle: str, *, followers: int | None = None) -> str:
        body: dict[str, Any] = {"username": handle, "name": handle.title()}
        if followers is not None:
            body["followers"] = followers
        return str(self._post("/_sandbox/users", body)["id"])

    def like_as(self, user_id: str, post_id: str) -> None:
        self._post("/_sandbox/likes", {"user_id": user_id, "tweet_id": post_id})

    def retweet_as(self, user_id: str, post_id: str) -> None:
        self._post("/_sandbox/retweets", {"user_id": user_id, "tweet_id": post_id})

    def post_as(self, user_id: str, text: str, *, reply_to: str | None = None, quote: str | None = None) -> str:
        body: dict[str, Any] = {"author_id": user_id, "text": text}
        if reply_to:
            body["in_reply_to_tweet_id"] = reply_to
        if quote:
            body["quote_tweet_id"] = quote
        return str(self._post("/_sandbox/tweets", body)["id"])

    def dm_as(self, sender_id: str, recipient_id: str, text: str) -> str:
        return str(
            self._post("/_sandbox/dms", {"from_user_id": sender_id, "to_user_id": recipient_id, "text": text})["id"]
        )

    def edit_as(self, post_id: str, text: str) -> str:
        return str(self._post("/_sandbox/edits", {"tweet_id": post_id, "text": text})["id"])

    def fail_next_writes(self, kind: str) -> None:
        rates = {"error": "error_rate", "timeout": "timeout_rate"}
        self._post("/_sandbox/faults", {rates[kind]: 1.0, "timeout_seconds": 1.0})

    def rate_limit_next(self, seconds: float) -> int:
        import math
        import time

        self._post("/_sandbox/faults", {"burst_429": 1, "burst_reset_seconds": seconds})
        return math.ceil(time.time() + seconds)

    def clear_faults(self) -> None:
        self._post("/_sandbox/faults", {"error_rate": 0, "timeout_rate": 0, "reset_rate": 0, "burst_429": 0})

    def bad_credentials_platform(self) -> Platform:
        from bot.adapters.platforms.x import XPlatform
        from bot.settings.config import XCredentials

        creds = XCredentials(consumer_key="k", consumer_secret="s", access_token="999-nobody", access_token_secret="t")
        return XPlatform(creds, base_url=self.server.url, timeout=0.5, account="nobody")

    def unreachable_platform(self, url: str) -> Platform:
        from bot.adapters.platforms.x import XPlatform
        from bot.settings.config import XCredentials

        creds = XCredentials(consumer_key="k", consumer_secret="s", access_token="1-x", access_token_secret="t")
        return XPlatform(creds, base_url=url, timeout=0.5, account="gone")


# ---- Bluesky: a local AT Protocol network ----------------------------------------------------------------------
DEVNET_SCRIPT = REPO_ROOT / "scripts" / "bluesky-devnet"
PDS_ENV = "SOCIALBOT_BLUESKY_PDS_URL"
APPVIEW_ENV = "SOCIALBOT_BLUESKY_APPVIEW_URL"
DEVNET_CANNOT_RUN = 3  # scripts/bluesky-devnet's exit code when the network cannot be had on this machine
FOLLOWER_POOL = 2  # accounts that follow users asked to have followers (a real count, capped at this)
SETTLE_TIMEOUT = 60.0  # a deadline, not a wait: the AppView is slower while other test runs load the machine
ADAPTER_TIMEOUT = 10.0  # the adapter's HTTP timeout against the network (a test asking for a timeout sets its own)
PREFETCH = 8  # user("fan7") also starts making fan8..fan15 in the background (fan0: fan1 only, fan2: fan3-fan5)
WRITERS = 4  # background writer threads of a harness (each author always on the same one)
BATCH = 50  # records in one applyWrites at most
POST = "app.bsky.feed.post"
_BACKDATE = timedelta(seconds=2)


class DevnetUnavailable(Exception):
    """The network cannot be had here (the script's exit code 3): the Bluesky cases skip with this reason."""


@dataclass
class DevnetState:
    """What the session's bluesky_devnet fixture found, for the terminal summary."""

    skipped: str | None = None
    started: bool = False


DEVNET_STATE = DevnetState()


@dataclass
class DevnetAccount:
    name: str  # what the test calls it
    handle: str
    did: str
    access: str = field(repr=False)  # its session's access token (2 h), for acting as it
    app_password: str = field(default="", repr=False)


class BlueskyDevnet:
    """The session's AT Protocol network (a PDS, and the AppView behind it) and the accounts made on it.

    Helpers others can use: `BlueskyDevnet.acquire()` (env SOCIALBOT_BLUESKY_PDS_URL, else scripts/bluesky-devnet
    start --hold; `release()` lets it go), `create_account(name, app_password=True)` -> DevnetAccount with a handle
    '<name>-<suffix>.test'; then `BlueskyPlatform(devnet.pds_url, account.handle, account.app_password)` is that
    account's adapter."""

    def __init__(
        self, pds_url: str, appview_url: str | None = None, *, started: bool = False, held: bool = False
    ) -> None:
        self.pds_url = pds_url.rstrip("/")
        self.appview_url = appview_url.rstrip("/") if appview_url else None
        self.started = started
        self.held = held  # this process holds scripts/bluesky-devnet's network (`start --hold`): release it
        self.pds = httpx.Client(base_url=self.pds_url, trust_env=False, timeout=30)
        self.appview = httpx.Client(base_url=self.appview_url, trust_env=False, timeout=30) if appview_url else None
        self.suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
        self._lock = threading.Lock()
        self._accounts: dict[str, Future[DevnetAccount]] = {}  # shared by the session's tests
        self._spares: dict[str, list[Future[DevnetAccount]]] = {}  # fresh accounts made ahead of need
        self._counter = 0
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="devnet-accounts")
        self._follows: dict[tuple[str, str], str] = {}  # (follower did, subject did) -> follow record uri
        self._last_created = datetime.fromtimestamp(0, UTC)

    # ---- the network ---------------------------------------------------------------------------------
    @classmethod
    def acquire(cls) -> BlueskyDevnet:
        """The network given by the environment, or the one scripts/bluesky-devnet runs (started if needed)."""
        pds = os.environ.get(PDS_ENV)
        if pds:
            return cls(pds, os.environ.get(APPVIEW_ENV))
        if not DEVNET_SCRIPT.exists():
            raise DevnetUnavailable(f"{DEVNET_SCRIPT} is missing")
        # --hold: the network stays up while this session uses it, whoever started it; `release` at the end stops
        # it only if a holder started it and no other session (of this checkout) still holds it
        run = subprocess.run(
            [str(DEVNET_SCRIPT), "start", "--hold", str(os.getpid())],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        if run.returncode == DEVNET_CANNOT_RUN:
            reason = next((ln for ln in reversed(lines) if "UNAVAILABLE" in ln), lines[-1] if lines else "")
            reason = reason.replace("bluesky-devnet: ", "").replace("UNAVAILABLE: ", "")
            raise DevnetUnavailable(reason or "scripts/bluesky-devnet exit 3")
        if run.returncode != 0:
            tail = "\n".join(lines[-15:])
            raise RuntimeError(f"scripts/bluesky-devnet start failed (exit {run.returncode}):\n{tail}")
        started = not any("already running" in ln or "already starting" in ln for ln in lines)
        values = dict(line.split("=", 1) for line in run.stdout.splitlines() if re.match(r"^[A-Z_]+=", line))
        if "PDS_URL" not in values:
            raise RuntimeError(f"scripts/bluesky-devnet printed no PDS_URL: {run.stdout!r}")
        return cls(values["PDS_URL"], values.get("APPVIEW_URL"), started=started, held=True)

    def release(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.pds.close()
        if self.appview is not None:
            self.appview.close()
        if self.held:
            release = [str(DEVNET_SCRIPT), "release", str(os.getpid())]
            subprocess.run(release, capture_output=True, text=True, timeout=120, check=False)

    # ---- accounts --------------------------------------------------------------------------------------
    def create_account(self, name: str, *, app_password: bool = False) -> DevnetAccount:
        """A new account '<name>-<suffix>.test' (with an app password for an adapter when asked)."""
        with self._lock:
            self._counter += 1
            tail = f"-{self.suffix}{self._counter:x}"
        front = re.sub(r"[^a-z0-9-]", "", name.lower())[: 18 - len(tail)] or "u"
        handle = f"{front}{tail}.test"
        password = "".join(random.choices(string.ascii_letters + string.digits, k=24))
        resp = self.pds.post(
            "/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{front}{tail}@example.com", "password": password},
        )
        _check(resp, f"createAccount {handle}")
        body = resp.json()
        account = DevnetAccount(name=name, handle=body["handle"], did=body["did"], access=body["accessJwt"])
        if app_password:
            made = self.pds.post(
                "/xrpc/com.atproto.server.createAppPassword",
                headers=account_headers(account),
                json={"name": "socialbot"},
            )
            _check(made, f"createAppPassword {handle}")
            account.app_password = made.json()["password"]
        return account

    def account(self, name: str, *, prefetch: bool = True) -> DevnetAccount:
        """The session's account called `name` (made on first use; names ending in a number make the next few
        ahead of time, in parallel, as tests ask for fan0, fan1, ... one by one: more the further they go)."""
        with self._lock:
            wanted = self._submit(name)
            numbered = re.match(r"^(.*?)(\d+)$", name) if prefetch else None
            if numbered:
                stem, number = numbered.group(1), int(numbered.group(2))
                for ahead in range(number + 1, number + 1 + min(PREFETCH, number + 1)):
                    self._submit(f"{stem}{ahead}")
        return wanted.result()

    def _submit(self, name: str) -> Future[DevnetAccount]:
        future = self._accounts.get(name)
        if future is None:
            future = self._accounts[name] = self._pool.submit(self.create_account, name)
        return future

    def fresh_account(self, name: str) -> DevnetAccount:
        """A new account with an app password, never handed out before (the next one is made meanwhile)."""
        with self._lock:
            spares = self._spares.setdefault(name, [])
            future = spares.pop(0) if spares else self._pool.submit(self.create_account, name, app_password=True)
            spares.append(self._pool.submit(self.create_account, name, app_password=True))
        return future.result()

    def followers(self) -> list[DevnetAccount]:
        return [self.account(f"follower{i}", prefetch=False) for i in range(FOLLOWER_POOL)]

    def follows(self) -> dict[tuple[str, str], str]:
        """(follower DID, followed DID) -> follow record uri, of the follows the harnesses made this session."""
        return self._follows

    def created_at(self) -> datetime:
        """createdAt for the next record the harness writes: strictly increasing by at least 1 ms, and a little
        in the past, so the AppView sorts by it (it sorts by min(createdAt, indexing time)), not by indexing
        order, even when the writes are made in parallel."""
        with self._lock:
            moment = max(datetime.now(UTC) - _BACKDATE, self._last_created + timedelta(milliseconds=1))
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            self._last_created = moment
            return moment

    def view(self, nsid: str, params: dict[str, Any], as_account: DevnetAccount) -> dict[str, Any]:
        """An app.bsky read: from the AppView directly when its URL is known, else through the PDS."""
        if self.appview is not None:
            resp = self.appview.get(f"/xrpc/{nsid}", params=params)
        else:
            resp = self.pds.get(f"/xrpc/{nsid}", params=params, headers=account_headers(as_account))
        _check(resp, nsid)
        return dict(resp.json())


def account_headers(account: DevnetAccount) -> dict[str, str]:
    return {"authorization": f"Bearer {account.access}"}


def _check(resp: httpx.Response, what: str) -> None:
    if resp.status_code >= 400:
        raise RuntimeError(f"devnet {what}: HTTP {resp.status_code} {resp.text[:300]}")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _tid_now() -> str:
    from bot.adapters.platforms.richtext import tid

    micros = time.time_ns() // 1000
    return tid(micros, random.randrange(1024))


class SettlingPlatform:
    """The adapter under test, called only once the AppView has indexed everything the harness wrote.

    Bluesky indexes asynchronously (the AppView follows the PDS's event stream, ~0.05-1 s behind); other users'
    posts and likes are written in the background and waited for here, before the adapter's next call, so a
    test reads what it wrote without racing the indexer. `adapter` is the BlueskyPlatform itself."""

    _UNSETTLED = frozenset({"close", "length", "rate_limits", "use_rate_limit_memory", "engagers_cost"})

    def __init__(self, adapter: Any, settle: Callable[[], None]) -> None:
        self.adapter = adapter
        self._settle = settle
        self.name = adapter.name
        self.max_length = adapter.max_length

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.adapter, attr)
        if attr.startswith("_") or attr in self._UNSETTLED or not callable(value):
            return value

        def settled(*args: Any, **kwargs: Any) -> Any:
            self._settle()
            return value(*args, **kwargs)

        return settled


class BlueskyHarness:
    """Bluesky on the local network. Bot accounts are new in every test; other users ('alice', 'fan3') are the
    session's (made once; each test mentions its own bot account). The adapters under test talk to the PDS
    through a FaultProxy; the harness's own writes go to the PDS directly, in the background (one lane per
    author keeps each repository's writes in order), and are waited for before the adapter's next call."""

    name = "bluesky"
    supports_dms = False
    dm_skip_reason = "Bluesky DMs need the chat service (chat.bsky.*), which is not open source: not in dev-env"
    refuses_duplicate_text = False
    finds_sent_by_text = False  # the record key of (key, created_at)
    mentions_overlap = True
    has_sessions = True
    supports_edits = False
    edit_skip_reason = "Bluesky has no post edits: no edit history, no new post for changed words"

    def __init__(self, net: BlueskyDevnet) -> None:
        self.net = net
        self.proxy = FaultProxy(net.pds_url).start()
        self._bots: dict[str, DevnetAccount] = {}  # this test's bot accounts, by the test's name
        self._users: dict[str, DevnetAccount] = {}  # other users this test used, by name
        self._by_did: dict[str, DevnetAccount] = {}
        self._writers = [_Writer(net, f"devnet-writer{i}") for i in range(WRITERS)]
        self._writes: dict[str, Future[dict[str, Any]]] = {}  # uri -> createRecord answer (+ the record)
        self._refs: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}  # others' posts: uri -> (ref, record)
        self._pending_posts: set[str] = set()
        self._pending_likes: dict[str, set[str]] = {}  # subject uri -> liker DIDs
        self._pending_reposts: dict[str, set[str]] = {}
        self._pending_followers: dict[str, int] = {}  # DID -> follower count
        self._settle_lock = threading.Lock()

    def close(self) -> None:
        for writer in self._writers:
            writer.stop()
        self.proxy.stop()

    # ---- accounts and adapters -------------------------------------------------------------------------
    def _bot(self, handle: str) -> DevnetAccount:
        account = self._bots.get(handle)
        if account is None:
            account = self._bots[handle] = self.net.fresh_account(handle)
            self._by_did[account.did] = account
        return account

    def platform(self, handle: str, *, timeout: float | None = None) -> Platform:
        from bot.adapters.platforms.bluesky import BlueskyPlatform

        account = self._bot(handle)
        timeout = ADAPTER_TIMEOUT if timeout is None else timeout
        adapter = BlueskyPlatform(self.proxy.url, account.handle, account.app_password, account=handle, timeout=timeout)
        assert isinstance(adapter, Platform)
        return SettlingPlatform(adapter, self.settle)  # type: ignore[return-value]

    def username(self, handle: str) -> str:
        account = self._bots.get(handle) or self._users.get(handle)
        return account.handle if account else handle

    def is_user_id(self, value: str) -> bool:
        return value.startswith("did:plc:")

    def sort_key(self, post_id: str) -> Any:
        return post_id.rsplit("/", 1)[-1]  # the record key: a TID, sorting as text in time order

    def expected_followers(self, requested: int) -> int:
        return min(requested, FOLLOWER_POOL)

    def unknown_post_id(self, platform: Platform) -> str:
        return f"at://{platform.me().id}/{POST}/{_tid_now()}"

    def user(self, handle: str, *, followers: int | None = None) -> str:
        account = self._users.get(handle) or self.net.account(handle)
        self._users[handle] = account
        self._by_did[account.did] = account
        if followers is not None:
            wanted = self.expected_followers(followers)
            self._set_followers(account, wanted)
            self._pending_followers[account.did] = wanted
        return account.did

    def _set_followers(self, target: DevnetAccount, count: int) -> None:
        """Make exactly `count` (<= FOLLOWER_POOL) of the session's pool accounts follow `target`."""
        follows = self.net.follows()
        for index, follower in enumerate(self.net.followers()):
            self._by_did.setdefault(follower.did, follower)
            key = (follower.did, target.did)
            if index < count and key not in follows:
                record = {"$type": "app.bsky.graph.follow", "subject": target.did}
                follows[key] = self._write(follower, "app.bsky.graph.follow", record)
            elif index >= count and key in follows:
                uri = follows.pop(key)
                self.settle()  # its creation may still be on its way
                gone = self.net.pds.post(
                    "/xrpc/com.atproto.repo.deleteRecord",
                    headers=account_headers(follower),
                    json={"repo": follower.did, "collection": "app.bsky.graph.follow", "rkey": uri.rsplit("/", 1)[-1]},
                )
                _check(gone, "unfollow")

    # ---- acting as other users -------------------------------------------------------------------------
    def _author(self, user_id: str) -> DevnetAccount:
        try:
            return self._by_did[user_id]
        except KeyError:
            raise AssertionError(f"{user_id} was not made by this harness (call user() first)") from None

    def _write(self, author: DevnetAccount, collection: str, record: dict[str, Any]) -> str:
        """Create a record in the background under a fresh TID record key; returns the record's uri at once."""
        record.setdefault("createdAt", _iso(self.net.created_at()))
        rkey = _tid_now()
        writer = self._writers[hash(author.did) % len(self._writers)]  # one writer per author: writes stay in order
        future = writer.submit(author, collection, rkey, record)
        uri = f"at://{author.did}/{collection}/{rkey}"
        self._writes[uri] = future
        return uri

    def _strong_ref(self, uri: str) -> tuple[dict[str, str], dict[str, Any]]:
        """({uri, cid}, record) of a post: from the harness's own write, else from the PDS."""
        written = self._writes.get(uri)
        if written is not None:
            body = written.result()
            return {"uri": uri, "cid": body["cid"]}, body["value"]
        known = self._refs.get(uri)
        if known is None:
            repo, collection, rkey = uri[len("at://") :].split("/")
            resp = self.net.pds.get(
                "/xrpc/com.atproto.repo.getRecord", params={"repo": repo, "collection": collection, "rkey": rkey}
            )
            _check(resp, f"getRecord {uri}")
            body = resp.json()
            known = self._refs[uri] = ({"uri": uri, "cid": body["cid"]}, body["value"])
        return known

    def _names(self) -> dict[str, DevnetAccount]:
        return {**self._users, **self._bots}

    def _with_mentions(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """`text` with each '@name' of an account of this test replaced by its handle, and the mention facets
        (UTF-8 byte offsets) for them, as a Bluesky client would write them."""
        names = self._names()

        def handle_of(match: re.Match[str]) -> str:
            account = names.get(match.group(1))
            return f"@{account.handle}" if account else match.group(0)

        text = re.sub(r"(?<![\w@])@([A-Za-z0-9_-]+)(?![\w.-])", handle_of, text)
        by_handle = {a.handle: a for a in names.values()}
        facets = []
        for match in re.finditer(r"(?<![\w@])@([a-z0-9.-]+\.test)\b", text):
            account = by_handle.get(match.group(1))
            if account is None:
                continue
            start = len(text[: match.start()].encode())
            end = start + len(match.group(0).encode())
            facets.append(
                {
                    "index": {"byteStart": start, "byteEnd": end},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": account.did}],
                }
            )
        return text, facets

    def post_as(self, user_id: str, text: str, *, reply_to: str | None = None, quote: str | None = None) -> str:
        author = self._author(user_id)
        text, facets = self._with_mentions(text)
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": _iso(self.net.created_at())}
        if facets:
            record["facets"] = facets
        if reply_to:
            parent, value = self._strong_ref(reply_to)
            root = (value.get("reply") or {}).get("root") or parent
            record["reply"] = {"root": root, "parent": parent}
            self._pending_posts.add(reply_to)
        if quote:
            subject, _ = self._strong_ref(quote)
            record["embed"] = {"$type": "app.bsky.embed.record", "record": subject}
            self._pending_posts.add(quote)
        uri = self._write(author, POST, record)
        self._pending_posts.add(uri)
        return uri

    def _engage(self, collection: str, user_id: str, post_id: str, pending: dict[str, set[str]]) -> None:
        author = self._author(user_id)
        subject, _ = self._strong_ref(post_id)
        record = {"$type": collection, "subject": subject, "createdAt": _iso(self.net.created_at())}
        self._write(author, collection, record)
        pending.setdefault(post_id, set()).add(author.did)

    def like_as(self, user_id: str, post_id: str) -> None:
        self._engage("app.bsky.feed.like", user_id, post_id, self._pending_likes)

    def retweet_as(self, user_id: str, post_id: str) -> None:
        self._engage("app.bsky.feed.repost", user_id, post_id, self._pending_reposts)

    def dm_as(self, sender_id: str, recipient_id: str, text: str) -> str:
        raise NotImplementedError(self.dm_skip_reason)

    def edit_as(self, post_id: str, text: str) -> str:
        raise NotImplementedError(self.edit_skip_reason)

    # ---- waiting for the AppView -----------------------------------------------------------------------
    def settle(self) -> None:
        """Wait until every background write is done and the AppView shows it (posts, likes, reposts, follower
        counts); raise if that takes longer than SETTLE_TIMEOUT."""
        with self._settle_lock:
            for future in list(self._writes.values()):
                future.result()
            if not (self._pending_posts or self._pending_likes or self._pending_reposts or self._pending_followers):
                return
            reader = next(iter(self._by_did.values()))
            deadline = time.monotonic() + SETTLE_TIMEOUT
            pause = 0.005
            while True:
                self._settle_posts(reader)
                self._settle_engagers("app.bsky.feed.getLikes", "likes", self._pending_likes, reader)
                self._settle_engagers("app.bsky.feed.getRepostedBy", "repostedBy", self._pending_reposts, reader)
                self._settle_followers(reader)
                left = (
                    len(self._pending_posts)
                    + sum(map(len, self._pending_likes.values()))
                    + sum(map(len, self._pending_reposts.values()))
                    + len(self._pending_followers)
                )
                if not left:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"the AppView has not indexed {left} write(s) after {SETTLE_TIMEOUT} s")
                time.sleep(pause)
                pause = min(0.05, pause * 2)

    def _settle_posts(self, reader: DevnetAccount) -> None:
        for chunk in _chunks(sorted(self._pending_posts), 25):
            body = self.net.view("app.bsky.feed.getPosts", {"uris": chunk}, reader)
            self._pending_posts.difference_update(p["uri"] for p in body.get("posts") or [])

    def _settle_engagers(self, nsid: str, field_name: str, pending: dict[str, set[str]], reader: DevnetAccount) -> None:
        for subject, wanted in list(pending.items()):
            cursor = None
            while wanted:
                params: dict[str, Any] = {"uri": subject, "limit": 100}
                if cursor:
                    params["cursor"] = cursor
                body = self.net.view(nsid, params, reader)
                items = body.get(field_name) or []
                wanted.difference_update((item.get("actor") or item).get("did") for item in items)
                cursor = body.get("cursor")
                if not cursor or not items:
                    break
            if not wanted:
                del pending[subject]

    def _settle_followers(self, reader: DevnetAccount) -> None:
        for chunk in _chunks(sorted(self._pending_followers), 25):
            body = self.net.view("app.bsky.actor.getProfiles", {"actors": chunk}, reader)
            for profile in body.get("profiles") or []:
                if profile.get("followersCount") == self._pending_followers.get(profile["did"]):
                    del self._pending_followers[profile["did"]]

    # ---- faults ------------------------------------------------------------------------------------------
    def fail_next_writes(self, kind: str) -> None:
        self.proxy.fail_writes(kind)  # the proxy is in front of the adapters only: background writes pass

    def rate_limit_next(self, seconds: float) -> int:
        reset = math.ceil(time.time() + seconds)
        self.proxy.rate_limit_next(reset)
        return reset

    def clear_faults(self) -> None:
        self.proxy.clear()

    def expire_session(self) -> None:
        """The adapter's next authenticated request is answered ExpiredToken (its access token ran out)."""
        self.proxy.expire_next_session()

    def logins(self) -> int:
        """createSession requests the adapters of this test sent."""
        return self.proxy.count("/xrpc/com.atproto.server.createSession")

    def refreshes(self) -> int:
        return self.proxy.count("/xrpc/com.atproto.server.refreshSession")

    def bad_credentials_platform(self) -> Platform:
        from bot.adapters.platforms.bluesky import BlueskyPlatform

        account = self.net.account("nobody")
        return BlueskyPlatform(self.proxy.url, account.handle, "wrong-app-password", account="nobody", timeout=0.5)

    def unreachable_platform(self, url: str) -> Platform:
        from bot.adapters.platforms.bluesky import BlueskyPlatform

        return BlueskyPlatform(url, "gone.test", "xxxx-xxxx-xxxx-xxxx", account="gone", timeout=0.5)


class _Writer:
    """A thread writing records for the harness: whatever is queued for one author when it gets to it goes out as
    one com.atproto.repo.applyWrites (one commit), as a busy client would; each write's future gets {uri, cid,
    value}."""

    def __init__(self, net: BlueskyDevnet, name: str) -> None:
        self.net = net
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, author: DevnetAccount, collection: str, rkey: str, record: dict[str, Any]) -> Future[Any]:
        job = _Job(author, collection, rkey, record)
        self._queue.put(job)
        return job.future

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                jobs.append(more)
            by_author: dict[str, list[_Job]] = {}
            for job in jobs:
                by_author.setdefault(job.author.did, []).append(job)
            for batch in by_author.values():
                self._apply(batch)

    def _apply(self, jobs: list[_Job]) -> None:
        author = jobs[0].author
        create = "com.atproto.repo.applyWrites#create"
        writes = [{"$type": create, "collection": j.collection, "rkey": j.rkey, "value": j.record} for j in jobs]
        try:
            resp = self.net.pds.post(
                "/xrpc/com.atproto.repo.applyWrites",
                headers=account_headers(author),
                json={"repo": author.did, "writes": writes},
            )
            _check(resp, f"applyWrites ({len(jobs)} records) as {author.handle}")
            results = resp.json().get("results") or []
        except Exception as exc:
            for job in jobs:
                job.future.set_exception(exc)
            return
        for job, result in zip(jobs, results, strict=False):
            job.future.set_result({**result, "value": job.record})


@dataclass
class _Job:
    author: DevnetAccount
    collection: str
    rkey: str
    record: dict[str, Any]
    future: Future[Any] = field(default_factory=Future)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
