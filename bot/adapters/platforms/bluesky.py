"""Bluesky (AT Protocol) over httpx: the only module that speaks XRPC. Errors are mapped here, once (`_call`).

Ids: a post is its at-URI, a person their DID (User.username is the handle). Sessions: one createSession per
adapter (the server allows 30 per 5 minutes), refreshed on ExpiredToken. Writes use a deterministic TID record key
per outbox message, so a retry can never post twice and find_sent is one getRecord. Mentions come from
listNotifications; their cursor (Page.newest_id) is the newest indexedAt, a fixed-width ISO time that sorts as text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.adapters.platforms import richtext
from bot.adapters.platforms.base import RateLimitBlocks
from bot.core.errors import (
    AuthError,
    NotAllowed,
    PlatformError,
    RateLimited,
    Rejected,
    TransientError,
)
from bot.core.models import (
    ENGAGEMENT_KINDS,
    DirectMessage,
    Engagers,
    MessageKind,
    OutgoingMessage,
    Page,
    Post,
    RateLimitBuckets,
    RateLimitStatus,
    User,
    numeric_or_text_newer,
)
from bot.core.ports import RateLimitMemory

logger = logging.getLogger(__name__)
# httpcore logs response headers at DEBUG; keep it quiet like every transport logger.
logging.getLogger("httpcore").setLevel(logging.WARNING)

PLATFORM = "bluesky"
POST = "app.bsky.feed.post"
CHAT_PROXY = {"atproto-proxy": "did:web:api.bsky.chat#bsky_chat"}
MENTION_REASONS = ("mention", "reply", "quote")
# indexedAt is min(createdAt, indexing time): a post indexed late (a slow AppView, a client clock behind) can sort
# below the newest one already read. Each read goes this far below the stored cursor; the mentions service drops
# what it already has (it de-duplicates by post id).
MENTION_OVERLAP = timedelta(minutes=5)
FIRST_READ_MAX = 800  # without a cursor, read at most this many mentions (the newest)
RATE_WINDOW = timedelta(minutes=5)  # Bluesky's usual window, for a 429 that does not say when it resets
SESSION_TIMEOUT = 10.0  # seconds, at least: createSession checks a password hash (~0.4 s on an idle PDS)
AUTH_FAILURE_HOLD = timedelta(minutes=5)  # no second createSession with the same wrong password before this
CHAT_RECHECK = timedelta(hours=1)
RKEY_ATTEMPTS = 3  # record keys tried per message (another is only needed when two messages' keys clash)
PROFILE_BATCH = 25  # app.bsky.actor.getProfiles takes at most 25 actors
HANDLE_TTL = timedelta(hours=1)  # handles move: a resolved (or unresolvable) one is asked again after this
CACHE_SIZE = 50_000  # DIDs and handles remembered, at most
RECENT_SLACK = timedelta(days=1)  # record keys carry the outbox time: recent_posts(since) reads this far past it
DM_MAX_PAGES = 10
FIND_SENT_MARGIN = timedelta(minutes=5)
_CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENGAGER_ENDPOINTS = {
    "like": ("app.bsky.feed.getLikes", "likes"),
    "retweet": ("app.bsky.feed.getRepostedBy", "repostedBy"),
    "quote": ("app.bsky.feed.getQuotes", "posts"),
}
_AUTH_ERRORS = ("AuthenticationRequired", "AccountTakedown", "AccountDeactivated", "AuthFactorTokenRequired")


@dataclass
class _Session:
    did: str
    handle: str
    access: str = field(repr=False)
    refresh: str = field(repr=False)


@dataclass(frozen=True)
class AtUri:
    repo: str
    collection: str
    rkey: str

    @classmethod
    def parse(cls, uri: str) -> AtUri | None:
        if not uri.startswith("at://"):
            return None
        parts = uri[len("at://") :].split("/")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)

    def __str__(self) -> str:
        return f"at://{self.repo}/{self.collection}/{self.rkey}"


class _XrpcError(Rejected):
    """A 4xx XRPC answer the adapter looks at (error name in `error`); a plain Rejected to everyone else."""

    def __init__(self, reason: str, error: str, status: int) -> None:
        self.error = error
        self.status = status
        super().__init__(PLATFORM, reason)


class _ServerError(TransientError):
    """A 5xx answer (status in `status`); a plain TransientError to everyone else."""

    def __init__(self, message: str, status: int, *, maybe_sent: bool) -> None:
        self.status = status
        super().__init__(PLATFORM, message, maybe_sent=maybe_sent)


def cursor_of(moment: datetime | str) -> str:
    """The mentions cursor for a time: fixed-width ISO UTC with microseconds, so cursors sort as text."""
    if isinstance(moment, str):
        moment = _parse_time(moment) or datetime.fromtimestamp(0, UTC)
    return moment.astimezone(UTC).strftime(_CURSOR_FORMAT)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _did_of(uri: str | None) -> str | None:
    parsed = AtUri.parse(uri) if uri else None
    return parsed.repo if parsed else None


def _ref_uri(ref: Any) -> str | None:
    return ref.get("uri") if isinstance(ref, dict) and isinstance(ref.get("uri"), str) else None


def _quoted_uri(record: dict[str, Any]) -> str | None:
    embed = record.get("embed")
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    if kind == "app.bsky.embed.record":
        return _ref_uri(embed.get("record"))
    if kind == "app.bsky.embed.recordWithMedia":
        inner = embed.get("record")
        return _ref_uri(inner.get("record")) if isinstance(inner, dict) else None
    return None


class BlueskyPlatform:
    """bot.core.ports.Platform for a Bluesky account on its PDS (`service_url`, e.g. https://bsky.social)."""

    name = PLATFORM
    max_length = richtext.MAX_GRAPHEMES
    dm_max_length = 1_000  # chat.bsky.convo.sendMessage: 1,000 graphemes
    buckets = RateLimitBuckets(
        mentions="GET app.bsky.notification.listNotifications",
        dms="GET chat.bsky.convo.listConvos",
        engagers={kind: f"GET {nsid}" for kind, (nsid, _) in ENGAGER_ENDPOINTS.items()},
    )

    @staticmethod
    def newer(a: str, b: str | None) -> bool:
        return numeric_or_text_newer(a, b)  # cursors are fixed-width ISO timestamps; DM ids are TIDs

    @staticmethod
    def age_key(item_id: str, created_at: datetime | None) -> tuple[object, ...]:
        """at-URIs (one repository per author) say nothing about time across authors: by creation time, then id."""
        created = created_at if created_at is not None else _EPOCH
        return (1, 0, created if created.tzinfo is not None else created.replace(tzinfo=UTC), item_id)

    def __init__(
        self,
        service_url: str,
        handle: str,
        app_password: str,
        *,
        account: str = "",
        timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self.handle = handle.lstrip("@")
        self.account = account or self.handle
        self._password = app_password  # sent to createSession only; never formatted
        self._now = clock or (lambda: datetime.now(UTC))
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.service_url,
            timeout=timeout,
            trust_env=False,
            headers={"user-agent": "socialbot"},
        )
        self._session: _Session | None = None
        self._session_lock = threading.Lock()
        self._auth_failed: tuple[datetime, str] | None = None
        self._limits: dict[str, RateLimitStatus] = {}
        self._blocks = RateLimitBlocks(PLATFORM, self._now)
        self._handles: dict[str, str] = {}  # DID -> handle, as the network last said
        self._dids: dict[str, tuple[str | None, datetime]] = {}  # handle -> (DID or None: unresolvable, when)
        self._chat_lock = threading.Lock()
        self._chat_checked: datetime | None = None
        self._chat_missing: str | None = None  # why this server offers no DMs, when it does not

    # ---- the one error boundary ----------------------------------------------------------------------
    def use_rate_limit_memory(self, memory: RateLimitMemory) -> None:
        self._blocks.memory = memory

    def _call(
        self,
        method: str,
        nsid: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        write: bool = False,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One XRPC request, every failure mapped to bot.core.errors. An expired or unverifiable session is renewed
        once and the request repeated; `token` overrides the session (refreshSession sends the refresh token)."""
        endpoint = f"{method} {nsid}"
        self._blocks.check(endpoint)
        renewed = False
        while True:
            session = self._ensure_session() if auth and token is None else None
            request_headers = dict(headers or {})
            bearer = token or (session.access if session else None)
            if bearer:
                request_headers["authorization"] = f"Bearer {bearer}"
            response = self._send(method, nsid, endpoint, write, params, body, request_headers, timeout)
            self._record_limits(endpoint, response)
            status = response.status_code
            if status < 400:
                if not response.content:
                    return {}
                try:
                    data = response.json()
                except ValueError as exc:
                    raise PlatformError(PLATFORM, f"{endpoint}: HTTP {status} without JSON") from exc
                return data if isinstance(data, dict) else {}
            error, message = _xrpc_error(response)
            if status == 429:
                retry_at = self._retry_at(response)
                self._blocks.block(endpoint, retry_at)
                raise RateLimited(PLATFORM, f"{endpoint} rate limited", retry_at, endpoint)
            if session is not None and not renewed and _renewable(status, error, message):
                renewed = True
                self._renew(session, error)
                continue
            detail = f"{endpoint}: {error or f'HTTP {status}'}: {message}" if message else f"{endpoint}: HTTP {status}"
            if status == 401 or error in _AUTH_ERRORS or _renewable(status, error, message):
                raise AuthError(PLATFORM, detail)
            if status == 501:
                raise _XrpcError(detail, error or "MethodNotImplemented", status)
            if status >= 500:
                # 502-504: the server did not take the request; a 500 on a write may have been processed
                maybe = write and status not in (502, 503, 504)
                raise _ServerError(detail, status, maybe_sent=maybe)
            raise _XrpcError(detail, error, status)

    def _send(
        self,
        method: str,
        nsid: str,
        endpoint: str,
        write: bool,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        timeout: float | None,
    ) -> httpx.Response:
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            return self._http.request(method, f"/xrpc/{nsid}", params=params, json=body, headers=headers, **extra)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(PLATFORM, f"{endpoint}: cannot connect: {exc}", maybe_sent=False) from exc
        except httpx.TimeoutException as exc:
            raise TransientError(PLATFORM, f"{endpoint}: timeout", maybe_sent=write) from exc
        except httpx.TransportError as exc:  # RemoteProtocolError, ReadError, WriteError...
            raise TransientError(PLATFORM, f"{endpoint}: {type(exc).__name__}: {exc}", maybe_sent=write) from exc

    def _retry_at(self, response: httpx.Response) -> datetime:
        now = self._now()
        try:
            reset = int(response.headers.get("ratelimit-reset", "0") or 0)
        except ValueError:
            reset = 0
        if not reset:
            logger.warning("bluesky answered 429 without ratelimit-reset; waiting %s", RATE_WINDOW)
            return now + RATE_WINDOW
        return max(datetime.fromtimestamp(reset, UTC), now + timedelta(seconds=1))

    def _record_limits(self, endpoint: str, response: httpx.Response) -> None:
        headers = response.headers
        reset = headers.get("ratelimit-reset")
        if reset is None:
            return
        try:
            status = RateLimitStatus(
                endpoint=endpoint,
                limit=int(headers.get("ratelimit-limit", "0")),
                remaining=int(headers.get("ratelimit-remaining", "0")),
                reset_at=datetime.fromtimestamp(int(reset), UTC),
            )
        except ValueError:
            return
        self._limits[endpoint] = status

    # ---- the session -----------------------------------------------------------------------------------
    def _ensure_session(self) -> _Session:
        session = self._session
        if session is not None:
            return session
        with self._session_lock:
            if self._session is None:
                self._session = self._create_session()
            return self._session

    def _create_session(self) -> _Session:
        if self._auth_failed is not None:
            failed_at, reason = self._auth_failed
            if self._now() < failed_at + AUTH_FAILURE_HOLD:
                raise AuthError(PLATFORM, reason)
        try:
            body = self._call(
                "POST",
                "com.atproto.server.createSession",
                body={"identifier": self.handle, "password": self._password},
                auth=False,
                timeout=max(self._timeout, SESSION_TIMEOUT),
            )
        except AuthError as exc:
            self._auth_failed = (self._now(), f"{exc} (account {self.account})")
            raise
        self._auth_failed = None
        session = _session_from(body)
        self._remember_handle(session.did, session.handle)
        logger.info("bluesky session created for %s (account=%s)", session.handle, self.account)
        return session

    def _renew(self, stale: _Session, error: str) -> None:
        """Replace `stale`: refreshSession when the access token expired, a new session when that fails or the
        token was not accepted at all. Another thread may have done it already."""
        with self._session_lock:
            if self._session is not stale:
                return
            self._session = None
            if error == "ExpiredToken":
                try:
                    body = self._call(
                        "POST",
                        "com.atproto.server.refreshSession",
                        auth=False,
                        token=stale.refresh,
                        timeout=max(self._timeout, SESSION_TIMEOUT),
                    )
                    self._session = _session_from(body)
                    logger.info("bluesky session refreshed for %s (account=%s)", stale.handle, self.account)
                    return
                except (AuthError, Rejected) as exc:
                    logger.info("bluesky refresh failed for %s (%s); creating a new session", self.account, exc)
            self._session = self._create_session()

    # ---- Platform ------------------------------------------------------------------------------------
    def me(self) -> User:
        session = self._ensure_session()
        return User(id=session.did, username=session.handle)

    def length(self, text: str) -> int:
        return richtext.grapheme_length(text)

    def send(self, message: OutgoingMessage) -> str:
        if message.kind is MessageKind.DM:
            return self._send_dm(message)
        count = richtext.grapheme_length(message.text)
        if count > self.max_length or richtext.utf8_length(message.text) > richtext.MAX_BYTES:
            raise Rejected(PLATFORM, f"post too long: {count} graphemes (at most {self.max_length})")
        if not message.text.strip():
            raise Rejected(PLATFORM, "empty post")
        me = self.me()
        record: dict[str, Any] = {"$type": POST, "text": message.text, "createdAt": _iso(self._now())}
        if message.kind is MessageKind.REPLY:
            if not message.in_reply_to_id:
                raise Rejected(PLATFORM, "a reply needs in_reply_to_id")
            record["reply"] = self._reply_refs(message.in_reply_to_id, me)
        facets = richtext.facets(message.text, self._resolve_handle)
        if facets:
            record["facets"] = facets
        uri = self._create_post(message, record, me)
        logger.info(
            "bluesky sent %s key=%s remote_id=%s account=%s reply_to=%s",
            message.kind.value,
            message.key,
            uri,
            self.account,
            message.in_reply_to_id,
        )
        return uri

    def _reply_refs(self, parent_uri: str, me: User) -> dict[str, Any]:
        parsed = AtUri.parse(parent_uri)
        if parsed is None or parsed.collection != POST:
            raise Rejected(PLATFORM, f"cannot reply to {parent_uri!r}: not a post's at-URI")
        parent = self._get_record(parsed)
        if parent is None:
            raise Rejected(PLATFORM, f"the post to reply to is gone: {parent_uri}")
        value = parent.get("value") or {}
        if not self._summoned_by(parsed, value, me):
            raise NotAllowed(
                PLATFORM,
                f"{parent_uri} neither mentions, quotes nor answers {me.username}: replies only to who engaged first",
            )
        parent_ref = {"uri": parent_uri, "cid": parent["cid"]}
        root = (value.get("reply") or {}).get("root")
        root_ref = {"uri": root["uri"], "cid": root["cid"]} if _ref_uri(root) and root.get("cid") else parent_ref
        return {"root": root_ref, "parent": parent_ref}

    def _summoned_by(self, parent: AtUri, value: dict[str, Any], me: User) -> bool:
        """Automation rule: answer a post only when it mentions us, quotes us, replies to us (or is our own)."""
        if parent.repo == me.id:
            return True
        dids, _, _ = richtext.facet_features(value)
        if me.id in dids:
            return True
        text = value.get("text") if isinstance(value.get("text"), str) else ""
        if me.username.lower() in richtext.mention_handles(text):
            return True
        if _did_of(_quoted_uri(value)) == me.id:
            return True
        return _did_of(_ref_uri((value.get("reply") or {}).get("parent"))) == me.id

    def _create_post(self, message: OutgoingMessage, record: dict[str, Any], me: User) -> str:
        """createRecord under the message's own record key. A key already taken by this very message means an
        earlier attempt landed: its uri is the answer. Taken by another message (a clash): the next key."""
        for attempt in range(RKEY_ATTEMPTS):
            rkey = richtext.message_rkey(message.key, message.created_at, attempt)
            try:
                body = self._call(
                    "POST",
                    "com.atproto.repo.createRecord",
                    body={"repo": me.id, "collection": POST, "rkey": rkey, "record": record},
                    write=True,
                )
                return str(body["uri"])
            except (_ServerError, _XrpcError) as exc:
                # The PDS answers a taken record key with a 500 (atproto#3718); later versions may say 400/409.
                if exc.status not in (400, 409, 500):
                    raise
                existing = self._get_record(AtUri(me.id, POST, rkey))
                if existing is None:
                    raise
                if _is_message(existing.get("value") or {}, message):
                    logger.info(
                        "bluesky %s key=%s was already sent as %s (account=%s)",
                        message.kind.value,
                        message.key,
                        existing.get("uri"),
                        self.account,
                    )
                    return str(existing.get("uri") or AtUri(me.id, POST, rkey))
                logger.warning(
                    "bluesky record key %s of key=%s holds another post; trying the next key", rkey, message.key
                )
        raise Rejected(PLATFORM, f"no free record key for {message.key} after {RKEY_ATTEMPTS} tries")

    def _get_record(self, uri: AtUri) -> dict[str, Any] | None:
        """com.atproto.repo.getRecord through our PDS (it asks the AppView for repos it does not host)."""
        try:
            return self._call(
                "GET",
                "com.atproto.repo.getRecord",
                params={"repo": uri.repo, "collection": uri.collection, "rkey": uri.rkey},
            )
        except _XrpcError as exc:
            if exc.error in ("RecordNotFound", "NotFound", "InvalidRequest", "RepoNotFound", "RepoDeactivated"):
                return None
            raise

    def _resolve_handle(self, handle: str) -> str | None:
        """The DID of a handle (com.atproto.identity.resolveHandle, remembered for HANDLE_TTL), or None."""
        handle = handle.lower()
        session = self._session
        if session is not None and session.handle.lower() == handle:
            return session.did
        now = self._now()
        known = self._dids.get(handle)
        if known is not None and now < known[1] + HANDLE_TTL:
            return known[0]
        try:
            body = self._call("GET", "com.atproto.identity.resolveHandle", params={"handle": handle})
            did = body.get("did") if isinstance(body.get("did"), str) else None
        except _XrpcError:
            did = None  # HandleNotFound and friends: the mention stays plain text
        if did is None:
            logger.info("bluesky: @%s does not resolve; left as plain text (account=%s)", handle, self.account)
        else:
            self._remember_handle(did, handle)
        if len(self._dids) >= CACHE_SIZE:
            self._dids.clear()
        self._dids[handle] = (did, now)
        return did

    def _remember_handle(self, did: str, handle: str) -> None:
        if len(self._handles) >= CACHE_SIZE:
            self._handles.clear()
        self._handles[did] = handle

    def find_sent(self, message: OutgoingMessage, *, since: datetime | None = None) -> str | None:
        return self.find_sent_many([message], since=since)[message.key]

    def find_sent_many(
        self, messages: Sequence[OutgoingMessage], *, since: datetime | None = None
    ) -> dict[str, str | None]:
        """One getRecord per post (its record key is known); DMs are looked up in their conversation."""
        found: dict[str, str | None] = {}
        for message in messages:
            if message.kind is MessageKind.DM:
                found[message.key] = self._find_sent_dm(message)
            else:
                found[message.key] = self._find_sent_post(message)
            logger.info(
                "bluesky find_sent %s key=%s account=%s found=%s",
                message.kind.value,
                message.key,
                self.account,
                found[message.key],
            )
        return found

    def _find_sent_post(self, message: OutgoingMessage) -> str | None:
        me = self.me()
        for attempt in range(RKEY_ATTEMPTS):
            rkey = richtext.message_rkey(message.key, message.created_at, attempt)
            existing = self._get_record(AtUri(me.id, POST, rkey))
            if existing is None:
                return None
            if _is_message(existing.get("value") or {}, message):
                return str(existing.get("uri") or AtUri(me.id, POST, rkey))
        return None

    def delete(self, post_id: str) -> None:
        me = self.me()
        parsed = AtUri.parse(post_id)
        if parsed is None or parsed.repo != me.id:
            raise Rejected(PLATFORM, f"cannot delete {post_id!r}: not a record of {me.username}")
        self._call(
            "POST",
            "com.atproto.repo.deleteRecord",
            body={"repo": me.id, "collection": parsed.collection, "rkey": parsed.rkey},
            write=True,
        )
        logger.info("bluesky deleted post %s account=%s", post_id, self.account)

    def recent_posts(self, *, limit: int = 100, since: datetime | None = None) -> list[Post]:
        """The account's posts from its own repository (no AppView delay), newest (createdAt) first."""
        if limit <= 0:
            return []
        me = self.me()
        floor = since if since is None or since.tzinfo else since.replace(tzinfo=UTC)
        items: list[tuple[str, dict[str, Any]]] = []
        cursor: str | None = None
        size = max(25, min(100, limit))
        while True:
            params: dict[str, Any] = {"repo": me.id, "collection": POST, "limit": size}
            if cursor:
                params["cursor"] = cursor
            body = self._call("GET", "com.atproto.repo.listRecords", params=params)
            records = body.get("records") or []
            passed = False
            for item in records:
                value = item.get("value") or {}
                if floor is not None:
                    made = _parse_time(value.get("createdAt"))
                    rkey_time = richtext.tid_time(str(item.get("uri", "")).rsplit("/", 1)[-1])
                    if rkey_time is not None and rkey_time < floor - RECENT_SLACK:
                        passed = True
                        break
                    if made is None or made < floor:
                        continue
                items.append((str(item["uri"]), value))
            cursor = body.get("cursor")
            if passed or not cursor or not records or (floor is None and len(items) >= limit):
                break
        handles = self._handles_for(did for _, value in items for did in richtext.facet_features(value)[0])
        posts = [_post(uri, value, me.id, handles) for uri, value in items]
        epoch = datetime.fromtimestamp(0, UTC)
        posts.sort(key=lambda p: (p.created_at or epoch, p.id), reverse=True)
        return posts[:limit]

    def mentions(
        self, since_id: str | None = None, *, page_size: int = 100, until_id: str | None = None
    ) -> Iterator[Page]:
        """Mentions, replies and quotes from listNotifications, newest first. `since_id` is an earlier
        Page.newest_id (a time): items from MENTION_OVERLAP below it on are read again (the caller drops what it
        has). `until_id` is a post's at-URI: reading resumes below it (looked for from the top; if it is gone,
        the items read on the way are delivered after all). Without since_id, the newest FIRST_READ_MAX only."""
        me = self.me()
        size = max(1, min(100, page_size))
        since_time = _parse_time(since_id) if since_id else None
        floor = cursor_of(since_time - MENTION_OVERLAP) if since_time else None
        newest = since_id
        skipping = until_id is not None
        skipped: list[dict[str, Any]] = []
        seen: set[str] = set()
        token: str | None = None
        delivered = 0
        fresh = False
        open_page = True  # the last page yielded promised more (or none was yielded yet)
        done = False
        while not done:
            params: dict[str, Any] = {"limit": size, "reasons": list(MENTION_REASONS)}
            if token:
                params["cursor"] = token
            body = self._call("GET", "app.bsky.notification.listNotifications", params=params)
            notes = [n for n in body.get("notifications") or [] if isinstance(n, dict)]
            token = body.get("cursor") or None
            done = token is None or len(notes) < size
            batch: list[dict[str, Any]] = []
            for note in notes:
                key = cursor_of(str(note.get("indexedAt") or ""))
                if newest is None or key > newest:
                    newest = key
                if floor is not None and key < floor:
                    done = True
                    break
                uri = note.get("uri")
                if note.get("reason") not in MENTION_REASONS or not isinstance(uri, str) or uri in seen:
                    continue
                seen.add(uri)
                fresh = fresh or since_id is None or key > since_id
                if skipping:
                    if uri == until_id:
                        skipping = False
                        skipped.clear()
                    else:
                        skipped.append(note)
                    continue
                batch.append(note)
                if floor is None and delivered + len(batch) >= FIRST_READ_MAX:
                    done = True
                    break
            if done and skipping:
                logger.info(
                    "bluesky mentions: %s is gone; delivering the %d read above it (account=%s)",
                    until_id,
                    len(skipped),
                    self.account,
                )
                batch, skipping = skipped + batch, False
            if not batch and not (done and open_page):
                continue  # nothing to hand out yet (skipping down, or only repeats): next page
            page = self._mentions_page(batch, me, newest, None if done else token)
            delivered += len(batch)
            open_page = not done
            logger.info(
                "bluesky mentions page account=%s since=%s items=%d more=%s",
                self.account,
                since_id,
                len(batch),
                not done,
            )
            yield page
        if fresh and delivered:
            self._update_seen()

    def _mentions_page(self, notes: list[dict[str, Any]], me: User, newest: str | None, token: str | None) -> Page:
        for note in notes:
            author = note.get("author") or {}
            if isinstance(author.get("did"), str) and isinstance(author.get("handle"), str):
                self._remember_handle(author["did"], author["handle"])
        wanted: dict[str, None] = {}
        for note in notes:
            author = (note.get("author") or {}).get("did")
            if isinstance(author, str):
                wanted.setdefault(author, None)
            for did in richtext.facet_features(note.get("record") or {})[0]:
                wanted.setdefault(did, None)
        users = self._profiles(list(wanted))
        users.setdefault(me.id, me)
        handles = {did: user.username for did, user in users.items() if user.username}
        handles.update({k: v for k, v in self._handles.items() if k in wanted and k not in handles})
        items = [
            _post(str(note["uri"]), note.get("record") or {}, str((note.get("author") or {}).get("did") or ""), handles)
            for note in notes
        ]
        return Page(items=items, users=users, newest_id=newest, next_token=token)

    def _update_seen(self) -> None:
        try:
            self._call("POST", "app.bsky.notification.updateSeen", body={"seenAt": _iso(self._now())}, write=True)
        except PlatformError as exc:
            logger.warning("bluesky updateSeen failed for %s (%s); the mentions were read anyway", self.account, exc)

    def _profiles(self, dids: Sequence[str]) -> dict[str, User]:
        """Users with follower counts, from app.bsky.actor.getProfiles (25 a call)."""
        users: dict[str, User] = {}
        unique = list(dict.fromkeys(d for d in dids if d))
        for start in range(0, len(unique), PROFILE_BATCH):
            chunk = unique[start : start + PROFILE_BATCH]
            body = self._call("GET", "app.bsky.actor.getProfiles", params={"actors": chunk})
            for profile in body.get("profiles") or []:
                user = _user(profile)
                if user is not None:
                    users[user.id] = user
                    self._remember_handle(user.id, user.username)
        return users

    def _handles_for(self, dids: Any) -> dict[str, str]:
        """DID -> handle for mentioned DIDs, asking the network only for the ones not known yet."""
        wanted = list(dict.fromkeys(dids))
        unknown = [d for d in wanted if d not in self._handles]
        if unknown:
            self._profiles(unknown)
        return {d: self._handles[d] for d in wanted if d in self._handles}

    def engagers_cost(self, kind: str, limit: int) -> int:
        """Bluesky bills no reads: the cost is the number of engagers asked for."""
        if kind not in ENGAGER_ENDPOINTS:
            raise Rejected(PLATFORM, f"unknown engagement kind {kind!r} (known: {', '.join(ENGAGEMENT_KINDS)})")
        return max(0, limit)

    def engagers(self, post_id: str, kind: str, *, limit: int = 100) -> Engagers:
        if kind not in ENGAGER_ENDPOINTS:
            raise Rejected(PLATFORM, f"unknown engagement kind {kind!r} (known: {', '.join(ENGAGEMENT_KINDS)})")
        if limit <= 0:
            return Engagers(kind=kind)
        if not self._post_exists(post_id):
            logger.info("bluesky %s of post %s: the post is gone (account=%s)", kind, post_id, self.account)
            return Engagers(kind=kind, missing=True)
        nsid, field_name = ENGAGER_ENDPOINTS[kind]
        actors: dict[str, dict[str, Any]] = {}  # DID -> the profile view the list carried
        quotes: list[dict[str, Any]] = []
        reads = 0
        token: str | None = None
        truncated = False
        while True:
            have = len(quotes) if kind == "quote" else len(actors)
            params: dict[str, Any] = {"uri": post_id, "limit": max(1, min(100, limit - have))}
            if token:
                params["cursor"] = token
            body = self._call("GET", nsid, params=params)
            data = [d for d in body.get(field_name) or [] if isinstance(d, dict)]
            reads += len(data)
            for item in data:
                actor = item.get("author") if kind == "quote" else item.get("actor") if kind == "like" else item
                if not isinstance(actor, dict) or not isinstance(actor.get("did"), str):
                    continue
                actors.setdefault(actor["did"], actor)
                if kind == "quote" and isinstance(item.get("uri"), str):
                    quotes.append(item)
            token = body.get("cursor") or None
            have = len(quotes) if kind == "quote" else len(actors)
            if have >= limit:
                truncated = have > limit or token is not None
                break
            if not token or not data:
                break
        quotes = quotes[:limit]
        if kind == "quote":
            order = list(dict.fromkeys(str(q["author"]["did"]) for q in quotes))
        else:
            order = list(actors)[:limit]
        counted = self._profiles(order)  # follower counts: the lists carry none
        users = [u for u in (counted.get(did) or _user(actors[did]) for did in order) if u is not None]
        posts: list[Post] = []
        if quotes:
            handles = self._handles_for(d for q in quotes for d in richtext.facet_features(q.get("record") or {})[0])
            posts = [_post(str(q["uri"]), q.get("record") or {}, str(q["author"]["did"]), handles) for q in quotes]
        logger.debug(
            "bluesky %s of post %s: %d user(s) %d post(s) reads=%d truncated=%s account=%s",
            kind,
            post_id,
            len(users),
            len(posts),
            reads,
            truncated,
            self.account,
        )
        return Engagers(kind=kind, users=users, posts=posts, reads=reads, truncated=truncated)

    def _post_exists(self, post_id: str) -> bool:
        parsed = AtUri.parse(post_id)
        if parsed is None or parsed.collection != POST:
            return False
        if parsed.repo == self.me().id:  # our own: the repository knows at once, the AppView a little later
            return self._get_record(parsed) is not None
        body = self._call("GET", "app.bsky.feed.getPosts", params={"uris": [post_id]})
        return bool(body.get("posts"))

    # ---- direct messages (chat.bsky.*, where the server offers it) ----------------------------------
    def _chat_unavailable(self) -> str | None:
        """Why DMs cannot be had through this server (None: they can). Asked once, again after CHAT_RECHECK."""
        with self._chat_lock:
            now = self._now()
            if self._chat_checked is not None and now < self._chat_checked + CHAT_RECHECK:
                return self._chat_missing
            try:
                self._call("GET", "chat.bsky.convo.listConvos", params={"limit": 1}, headers=CHAT_PROXY)
                missing = None
            except (Rejected, TransientError) as exc:
                missing = str(exc)
            if missing and missing != self._chat_missing:
                logger.info("bluesky: %s offers no DMs for %s (%s)", self.service_url, self.account, missing)
            self._chat_checked, self._chat_missing = now, missing
            return missing

    def _chat(self, method: str, nsid: str, **kwargs: Any) -> dict[str, Any]:
        return self._call(method, nsid, headers=CHAT_PROXY, **kwargs)

    def _convo_with(self, member: str) -> str:
        body = self._chat("GET", "chat.bsky.convo.getConvoForMembers", params={"members": [member]})
        convo = body.get("convo") or {}
        if not isinstance(convo.get("id"), str):
            raise PlatformError(PLATFORM, "chat.bsky.convo.getConvoForMembers: no conversation id")
        return str(convo["id"])

    def _messages(self, convo_id: str, *, pages: int = 1) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(pages):
            params: dict[str, Any] = {"convoId": convo_id, "limit": 100}
            if token:
                params["cursor"] = token
            body = self._chat("GET", "chat.bsky.convo.getMessages", params=params)
            out.extend(m for m in body.get("messages") or [] if isinstance(m, dict) and "text" in m)
            token = body.get("cursor")
            if not token:
                break
        return out

    def _send_dm(self, message: OutgoingMessage) -> str:
        if not message.recipient_id:
            raise Rejected(PLATFORM, "a DM needs recipient_id")
        missing = self._chat_unavailable()
        if missing:
            raise NotAllowed(PLATFORM, f"DMs are not available through {self.service_url}: {missing}")
        convo = self._convo_with(message.recipient_id)
        wrote_first = any(_sender(m) == message.recipient_id for m in self._messages(convo, pages=DM_MAX_PAGES))
        if not wrote_first:
            raise NotAllowed(PLATFORM, f"{message.recipient_id} has not messaged us first: no DM")
        body = self._chat(
            "POST",
            "chat.bsky.convo.sendMessage",
            body={"convoId": convo, "message": {"text": message.text}},
            write=True,
        )
        remote_id = str(body.get("id"))
        logger.info(
            "bluesky sent dm key=%s remote_id=%s account=%s recipient=%s",
            message.key,
            remote_id,
            self.account,
            message.recipient_id,
        )
        return remote_id

    def _find_sent_dm(self, message: OutgoingMessage) -> str | None:
        if not message.recipient_id or self._chat_unavailable():
            return None
        me = self.me()
        convo = self._convo_with(message.recipient_id)
        for item in self._messages(convo, pages=DM_MAX_PAGES):
            if _sender(item) != me.id or item.get("text") != message.text:
                continue
            sent_at = _parse_time(item.get("sentAt"))
            if sent_at and message.created_at and sent_at < _aware(message.created_at) - FIND_SENT_MARGIN:
                continue  # the same words, sent before this message existed
            return str(item.get("id"))
        return None

    def direct_messages(self, since_id: str | None = None) -> list[DirectMessage]:
        """Messages of our conversations (sent and received) newer than since_id (message ids sort as text),
        newest first; [] where the server has no chat."""
        if self._chat_unavailable():
            return []
        out: list[DirectMessage] = []
        token: str | None = None
        for _ in range(DM_MAX_PAGES):
            params: dict[str, Any] = {"limit": 100}
            if token:
                params["cursor"] = token
            body = self._chat("GET", "chat.bsky.convo.listConvos", params=params)
            for convo in body.get("convos") or []:
                last = (convo.get("lastMessage") or {}).get("id")
                if since_id and isinstance(last, str) and last <= since_id:
                    continue
                for item in self._messages(str(convo.get("id")), pages=DM_MAX_PAGES):
                    if since_id and str(item.get("id")) <= since_id:
                        continue
                    out.append(
                        DirectMessage(
                            id=str(item.get("id")),
                            text=str(item.get("text", "")),
                            sender_id=_sender(item),
                            conversation_id=str(convo.get("id")),
                            created_at=_parse_time(item.get("sentAt")),
                        )
                    )
            token = body.get("cursor")
            if not token:
                break
        out.sort(key=lambda m: m.id, reverse=True)
        return out

    def rate_limits(self) -> list[RateLimitStatus]:
        return sorted(self._limits.values(), key=lambda s: s.endpoint)

    def close(self) -> None:
        self._http.close()


def _session_from(body: dict[str, Any]) -> _Session:
    try:
        return _Session(
            did=str(body["did"]),
            handle=str(body["handle"]),
            access=str(body["accessJwt"]),
            refresh=str(body["refreshJwt"]),
        )
    except KeyError as exc:
        raise PlatformError(PLATFORM, f"session answer without {exc.args[0]}") from exc


def _renewable(status: int, error: str, message: str) -> bool:
    """A session problem a new session can fix: an expired access token, or one the server cannot verify (not
    'Bad token method'/'scope': that token is fine, it just may not call this method)."""
    if error == "ExpiredToken":
        return True
    return error == "InvalidToken" and status in (400, 401) and "method" not in message and "scope" not in message


def _xrpc_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("message") or "")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _sender(message: dict[str, Any]) -> str | None:
    sender = message.get("sender")
    return sender.get("did") if isinstance(sender, dict) and isinstance(sender.get("did"), str) else None


def _is_message(value: dict[str, Any], message: OutgoingMessage) -> bool:
    """Whether a post record is `message` (its text, and for a reply its parent)."""
    if value.get("text") != message.text:
        return False
    if message.kind is MessageKind.REPLY:
        return _ref_uri((value.get("reply") or {}).get("parent")) == message.in_reply_to_id
    return True


def _user(profile: Any) -> User | None:
    if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
        return None
    followers = profile.get("followersCount")
    return User(
        id=profile["did"],
        username=str(profile.get("handle") or ""),
        name=str(profile.get("displayName") or ""),
        followers=followers if isinstance(followers, int) else None,
    )


def _post(uri: str, record: dict[str, Any], author: str | None, handles: dict[str, str]) -> Post:
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    parent = _ref_uri(reply.get("parent"))
    root = _ref_uri(reply.get("root"))
    dids, tags, links = richtext.facet_features(record)
    text = record.get("text") if isinstance(record.get("text"), str) else ""
    return Post(
        id=uri,
        text=text,
        author_id=author or _did_of(uri),
        created_at=_parse_time(record.get("createdAt")),
        conversation_id=root or uri,
        in_reply_to_user_id=_did_of(parent),
        replied_to_id=parent,
        quoted_id=_quoted_uri(record),
        mentions=tuple(handles[d] for d in dids if d in handles),
        hashtags=tuple(tags),
        urls=tuple(links),
    )
