"""BlueskyPlatform: bot.core.ports.Platform for a Bluesky account, composed of the XRPC client, the session, the
identity caches, the chat and the mentions reader.

Writes use a deterministic TID record key per outbox message, so a retry can never post twice and find_sent is one
getRecord.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.adapters.platforms import richtext
from bot.adapters.platforms.base import check_engagement_kind
from bot.adapters.platforms.bluesky.chat import Chat
from bot.adapters.platforms.bluesky.identity import Identities
from bot.adapters.platforms.bluesky.mentions import MentionReader
from bot.adapters.platforms.bluesky.records import (
    EPOCH,
    POST,
    AtUri,
    did_of,
    is_message,
    iso,
    mentioned_dids,
    metrics_of,
    parent_uri,
    parse_time,
    post_of,
    quoted_uri,
    ref_uri,
    user_of,
)
from bot.adapters.platforms.bluesky.session import Sessions
from bot.adapters.platforms.bluesky.xrpc import PLATFORM, XrpcClient, XrpcError, XrpcServerError
from bot.core.clock import Clock, SystemClock, ensure_utc
from bot.core.errors import NotAllowed, PlatformError, Rejected
from bot.core.models import (
    DirectMessage,
    EngagementHour,
    Engagers,
    MessageKind,
    OutgoingMessage,
    Page,
    Post,
    PostMetrics,
    RateLimitBuckets,
    RateLimitStatus,
    User,
    numeric_or_text_newer,
)
from bot.core.ports import RateLimitMemory

logger = logging.getLogger(__name__)

METRICS_BATCH = 25  # URIs per app.bsky.feed.getPosts
RKEY_ATTEMPTS = 3  # record keys tried per message (another is only needed when two messages' keys clash)
RECENT_SLACK = timedelta(days=1)  # record keys carry the outbox time: recent_posts(since) reads this far past it
ENGAGER_ENDPOINTS = {
    "like": ("app.bsky.feed.getLikes", "likes"),
    "retweet": ("app.bsky.feed.getRepostedBy", "repostedBy"),
    "quote": ("app.bsky.feed.getQuotes", "posts"),
}
GONE = ("RecordNotFound", "NotFound", "InvalidRequest", "RepoNotFound", "RepoDeactivated")  # getRecord: no record


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
        return (1, 0, ensure_utc(created_at or EPOCH), item_id)

    def __init__(
        self,
        service_url: str,
        handle: str,
        app_password: str,
        *,
        account: str = "",
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self.handle = handle.lstrip("@")
        self.account = account or self.handle
        self._clock = clock or SystemClock()
        self._xrpc = XrpcClient(self.service_url, timeout=timeout, clock=self._clock)
        self._sessions = Sessions(
            self._xrpc, self.handle, app_password, account=self.account, clock=self._clock, timeout=timeout
        )
        self._call = self._sessions.call
        self._identity = Identities(self._sessions, clock=self._clock, account=self.account)
        self._chat = Chat(self._sessions, clock=self._clock, service_url=self.service_url, account=self.account)
        self._mentions = MentionReader(self._sessions, self._identity, clock=self._clock, account=self.account)

    def use_rate_limit_memory(self, memory: RateLimitMemory) -> None:
        self._xrpc.blocks.memory = memory

    def me(self) -> User:
        return self._sessions.ensure().user

    def length(self, text: str) -> int:
        return richtext.grapheme_length(text)

    # ---- posts -----------------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> str:
        if message.kind is MessageKind.DM:
            return self._chat.send(message)
        count = richtext.grapheme_length(message.text)
        if count > self.max_length or richtext.utf8_length(message.text) > richtext.MAX_BYTES:
            raise Rejected(PLATFORM, f"post too long: {count} graphemes (at most {self.max_length})")
        if not message.text.strip():
            raise Rejected(PLATFORM, "empty post")
        me = self.me()
        record: dict[str, Any] = {"$type": POST, "text": message.text, "createdAt": iso(self._clock.now())}
        if message.kind is MessageKind.REPLY:
            if not message.in_reply_to_id:
                raise Rejected(PLATFORM, "a reply needs in_reply_to_id")
            record["reply"] = self._reply_refs(message.in_reply_to_id, me)
        facets = richtext.facets(message.text, self._identity.resolve)
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

    def _reply_refs(self, target: str, me: User) -> dict[str, Any]:
        parsed = AtUri.parse(target)
        if parsed is None or parsed.collection != POST:
            raise Rejected(PLATFORM, f"cannot reply to {target!r}: not a post's at-URI")
        parent = self._get_record(parsed)
        if parent is None:
            raise Rejected(PLATFORM, f"the post to reply to is gone: {target}")
        value = parent.get("value") or {}
        if not _summoned_by(parsed, value, me):
            raise NotAllowed(
                PLATFORM,
                f"{target} neither mentions, quotes nor answers {me.username}: replies only to who engaged first",
            )
        parent_ref = {"uri": target, "cid": parent["cid"]}
        root = (value.get("reply") or {}).get("root")
        root_ref = {"uri": root["uri"], "cid": root["cid"]} if ref_uri(root) and root.get("cid") else parent_ref
        return {"root": root_ref, "parent": parent_ref}

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
            except (XrpcServerError, XrpcError) as exc:
                # The PDS answers a taken record key with a 500 (atproto#3718); later versions may say 400/409.
                if exc.status not in (400, 409, 500):
                    raise
                existing = self._get_record(AtUri(me.id, POST, rkey))
                if existing is None:
                    raise
                if is_message(existing.get("value") or {}, message):
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
        except XrpcError as exc:
            if exc.error in GONE:
                return None
            raise

    def find_sent(self, message: OutgoingMessage, *, since: datetime | None = None) -> str | None:
        return self.find_sent_many([message], since=since)[message.key]

    def find_sent_many(
        self, messages: Sequence[OutgoingMessage], *, since: datetime | None = None
    ) -> dict[str, str | None]:
        """One getRecord per post (its record key is known); DMs are looked up in their conversation."""
        found: dict[str, str | None] = {}
        for message in messages:
            if message.kind is MessageKind.DM:
                found[message.key] = self._chat.find_sent(message)
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
            if is_message(existing.get("value") or {}, message):
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

    # ---- reads -----------------------------------------------------------------------------------------
    def recent_posts(self, *, limit: int = 100, since: datetime | None = None) -> list[Post]:
        """The account's posts from its own repository (no AppView delay), newest (createdAt) first."""
        if limit <= 0:
            return []
        me = self.me()
        floor = None if since is None else ensure_utc(since)
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
                    made = parse_time(value.get("createdAt"))
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
        handles = self._identity.handles(did for _, value in items for did in mentioned_dids(value))
        posts = [post_of(uri, value, me.id, handles) for uri, value in items]
        posts.sort(key=lambda p: (p.created_at or EPOCH, p.id), reverse=True)
        return posts[:limit]

    def mentions(
        self, since_id: str | None = None, *, page_size: int = 100, until_id: str | None = None
    ) -> Iterator[Page]:
        """Mentions, replies and quotes from listNotifications, newest first (see bluesky.mentions)."""
        return self._mentions.read(since_id, page_size, until_id)

    def engagers_cost(self, kind: str, limit: int) -> int:
        """Bluesky bills no reads: the cost is the number of engagers asked for."""
        check_engagement_kind(PLATFORM, kind, ENGAGER_ENDPOINTS)
        return max(0, limit)

    def engagers(self, post_id: str, kind: str, *, limit: int = 100) -> Engagers:
        check_engagement_kind(PLATFORM, kind, ENGAGER_ENDPOINTS)
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
        counted = self._identity.profiles(order)  # follower counts: the lists carry none
        users = [u for u in (counted.get(did) or user_of(actors[did]) for did in order) if u is not None]
        posts: list[Post] = []
        if quotes:
            handles = self._identity.handles(d for q in quotes for d in mentioned_dids(q.get("record") or {}))
            posts = [post_of(str(q["uri"]), q.get("record") or {}, str(q["author"]["did"]), handles) for q in quotes]
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

    def post_metrics(self, ids: Sequence[str]) -> dict[str, PostMetrics]:
        """Like, repost, reply and quote counts, 25 URIs a getPosts call (no view counts on Bluesky), each with the
        account's follower count (getProfile, once per call) to normalise by; a deleted post is left out."""
        wanted = list(dict.fromkeys(i for i in ids if i))
        if not wanted:
            return {}
        profile = self._call("GET", "app.bsky.actor.getProfile", params={"actor": self.me().id})
        followers = profile.get("followersCount")
        followers = followers if type(followers) is int and followers >= 0 else None
        out: dict[str, PostMetrics] = {}
        for start in range(0, len(wanted), METRICS_BATCH):
            body = self._call("GET", "app.bsky.feed.getPosts", params={"uris": wanted[start : start + METRICS_BATCH]})
            views = body.get("posts")
            if not isinstance(views, list):
                raise PlatformError(PLATFORM, "app.bsky.feed.getPosts: posts is missing")
            for index, view in enumerate(views):
                metrics = metrics_of(view, f"posts[{index}]", followers)
                out[metrics.post_id] = metrics
        return out

    def post_analytics(self, ids: Sequence[str], start: datetime, end: datetime) -> dict[str, list[EngagementHour]]:
        """Bluesky has no time-bucketed analytics: nothing is asked, nothing answered."""
        return {}

    def _post_exists(self, post_id: str) -> bool:
        parsed = AtUri.parse(post_id)
        if parsed is None or parsed.collection != POST:
            return False
        if parsed.repo == self.me().id:  # our own: the repository knows at once, the AppView a little later
            return self._get_record(parsed) is not None
        body = self._call("GET", "app.bsky.feed.getPosts", params={"uris": [post_id]})
        return bool(body.get("posts"))

    def direct_messages(self, since_id: str | None = None) -> list[DirectMessage]:
        return self._chat.direct_messages(since_id)

    def rate_limits(self) -> list[RateLimitStatus]:
        return self._xrpc.rate_limits()

    def close(self) -> None:
        self._xrpc.close()


def _summoned_by(parent: AtUri, value: dict[str, Any], me: User) -> bool:
    """Automation rule: answer a post only when it mentions us, quotes us, replies to us (or is our own)."""
    if parent.repo == me.id:
        return True
    if me.id in mentioned_dids(value):
        return True
    text = value.get("text") if isinstance(value.get("text"), str) else ""
    if me.username.lower() in richtext.mention_handles(text):
        return True
    if did_of(quoted_uri(value)) == me.id:
        return True
    return did_of(parent_uri(value)) == me.id
