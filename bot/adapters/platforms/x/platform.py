"""XPlatform: bot.core.ports.Platform for X API v2 over tweepy (or the sandbox, with base_url); every request goes
through `_call`, where x.errors maps what tweepy and requests raise, and where the answer is read (x.records: text
unescaped once, a missing field a PlatformError naming it)."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import requests
import tweepy

from bot.adapters.platforms.base import RateLimitBlocks, check_engagement_kind, limit_status
from bot.adapters.platforms.x.analytics import (
    ANALYTICS,
    ANALYTICS_BATCH,
    ANALYTICS_ROUTE,
    PARAMETERS,
    analytics_page,
    hourly_params,
)
from bot.adapters.platforms.x.errors import PLATFORM, VENDOR_ERRORS, platform_error
from bot.adapters.platforms.x.pricing import DM_CREATE, POST_CREATE, post_price, read_bill
from bot.adapters.platforms.x.records import (
    answer,
    data_users,
    included_users,
    mention_page,
    messages_of,
    metrics_page,
    need,
    next_token,
    normalise,
    not_found,
    obj,
    page_size,
    posts_of,
    user_of,
)
from bot.adapters.platforms.x.transport import X_HOST, RoutingAdapter, endpoint_of
from bot.core.clock import Clock, SystemClock, ensure_utc
from bot.core.costs import current_purpose
from bot.core.errors import RateLimited, Rejected
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
from bot.core.ports import CostLedger, RateLimitMemory
from bot.core.text import weighted_length
from bot.settings.config import XCredentials
from bot.settings.costs import XPrices

logger = logging.getLogger(__name__)

TWEET_FIELDS = ["author_id", "created_at", "conversation_id", "in_reply_to_user_id", "referenced_tweets", "entities"]
USER_FIELDS = ["username", "name", "public_metrics"]
# per kind: (endpoint, smallest and largest max_results X accepts)
ENGAGER_ENDPOINTS = {
    "like": ("GET /2/tweets/:id/liking_users", 1, 100),
    "retweet": ("GET /2/tweets/:id/retweeted_by", 1, 100),
    "quote": ("GET /2/tweets/:id/quote_tweets", 10, 100),
}
METRICS_BATCH = 100  # ids per GET /2/tweets
METRIC_FIELDS_PUBLIC = ["public_metrics"]
METRIC_FIELDS_PRIVATE = ["public_metrics", "non_public_metrics", "organic_metrics"]
PRIVATE_METRICS_AGE = timedelta(days=29)  # X serves them for 30 days; a day's margin for clocks and edits
FIND_SENT_MARGIN = timedelta(minutes=5)
FIND_SENT_MAX_PAGES = 10
DM_MAX_PAGES = 10

X_EPOCH_MS = 1288834974657
T = TypeVar("T")


class XPlatform:
    """bot.core.ports.Platform for X API v2 (or the sandbox, with base_url)."""

    name = PLATFORM
    max_length = 280
    dm_max_length = 10_000
    buckets = RateLimitBuckets(
        mentions="GET /2/users/:id/mentions",
        dms="GET /2/dm_events",
        engagers={kind: endpoint for kind, (endpoint, _, _) in ENGAGER_ENDPOINTS.items()},
    )

    @staticmethod
    def newer(a: str, b: str | None) -> bool:
        return numeric_or_text_newer(a, b)  # X's ids are numbers that grow with time

    @staticmethod
    def age_key(item_id: str, created_at: datetime | None) -> tuple[object, ...]:
        return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)

    def __init__(
        self,
        credentials: XCredentials,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        account: str = "",
        clock: Clock | None = None,
    ) -> None:
        self.account = account
        self._clock = clock or SystemClock()  # the API's clock (a sandbox may run on a test clock)
        self.base_url = base_url
        self._client = tweepy.Client(
            consumer_key=credentials.consumer_key,
            consumer_secret=credentials.consumer_secret,
            access_token=credentials.access_token,
            access_token_secret=credentials.access_token_secret,
            return_type=dict,
            wait_on_rate_limit=False,
        )
        session = self._client.session
        session.trust_env = False
        session.mount(X_HOST, RoutingAdapter(base_url, timeout))
        session.hooks["response"].append(self._record_limits)
        self._limits: dict[str, RateLimitStatus] = {}
        self._blocks = RateLimitBlocks(PLATFORM, self._clock)
        self._me: User | None = None
        self._me_lock = threading.Lock()  # one users/me request at a time: the jobs all ask for it at start
        self._ledger: CostLedger | None = None  # where each billed call is recorded (use_cost_ledger)
        self._prices = XPrices()
        self._ledger_failed = False  # a recording failure is logged once

    @classmethod
    def for_sandbox(
        cls,
        base_url: str,
        handle: str,
        *,
        timeout: float = 10.0,
        account: str | None = None,
        clock: Clock | None = None,
    ) -> XPlatform:
        """An adapter for sandbox account `handle` (created if missing), with dummy OAuth1 credentials."""
        import httpx

        with httpx.Client(base_url=base_url, trust_env=False, timeout=timeout) as http:
            resp = http.post("/_sandbox/users", json={"username": handle, "name": handle})
            resp.raise_for_status()
            uid = str(resp.json()["id"])
        creds = XCredentials(
            consumer_key="sandbox-key",
            consumer_secret="sandbox-secret",
            access_token=f"{uid}-sandbox",
            access_token_secret="sandbox-token-secret",
        )
        return cls(creds, base_url=base_url, timeout=timeout, account=account or handle, clock=clock)

    # ---- the one error boundary ----------------------------------------------------------------------
    def use_rate_limit_memory(self, memory: RateLimitMemory) -> None:
        self._blocks.memory = memory

    def use_cost_ledger(self, ledger: CostLedger, prices: XPrices | None = None) -> None:
        """Record every billed call in `ledger`, priced by `prices` (config.yaml's costs.prices.x)."""
        self._ledger = ledger
        self._prices = prices if prices is not None else XPrices()

    def _call(
        self,
        endpoint: str,
        write: bool,
        fn: Callable[[], dict[str, Any]],
        read: Callable[[Any], T],
        *,
        price: float | None = None,
    ) -> T:
        """The request `fn`, and `read` of its answer, inside the error boundary; an answered call is billed
        (a write at `price`, none: free; a read by what it returned, x.pricing)."""
        self._blocks.check(endpoint)
        try:
            body = answer(fn())
            self._bill(endpoint, write, body, price)
            return read(body)
        except VENDOR_ERRORS as exc:
            error = platform_error(endpoint, write, exc, self._clock.now())
            if isinstance(error, RateLimited):
                self._blocks.block(endpoint, error.retry_at)
            raise error from exc

    def _bill(self, endpoint: str, write: bool, body: dict[str, Any], price: float | None) -> None:
        """Record the call in the cost ledger; a failure to record never fails the call (logged once)."""
        if self._ledger is None:
            return
        try:
            if write:
                if price is None:
                    return
                items, usd = 1, price
            else:
                items, usd = read_bill(endpoint, body, self._prices)
            if items:
                self._ledger.record(self.account, PLATFORM, endpoint, current_purpose(), items, usd)
        except Exception as exc:
            if not self._ledger_failed:
                self._ledger_failed = True
                logger.error(
                    "x account %s: a paid call could not be recorded in the cost ledger: %s", self.account, exc
                )

    def _pages(
        self,
        endpoint: str,
        request: Callable[..., dict[str, Any]],
        params: dict[str, Any],
        read: Callable[[Any], T],
        *,
        most: int | None = None,
    ) -> Iterator[tuple[T, str | None]]:
        """The pages of a read (at most `most`), each requested when the caller asks for it, following next_token:
        (what `read` made of the page, its next_token)."""
        token: str | None = None
        for _ in range(most) if most is not None else itertools.count():
            page_params = dict(params, pagination_token=token) if token else params
            page, token = self._call(
                endpoint, False, lambda p=page_params: request(user_auth=True, **p), lambda b: (read(b), next_token(b))
            )
            yield page, token
            if not token:
                return

    def _record_limits(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        endpoint = endpoint_of(response.request.method or "GET", response.request.url or "")
        status = limit_status(endpoint, response.headers, "x-rate-limit-")
        if status is not None:
            self._limits[endpoint] = status

    # ---- Platform ------------------------------------------------------------------------------------
    def me(self) -> User:
        with self._me_lock:
            if self._me is None:
                self._me = self._call(
                    "GET /2/users/me",
                    False,
                    lambda: self._client.get_me(user_auth=True),
                    lambda body: user_of(obj(body, "data", "", required=True)),
                )
            return self._me

    def length(self, text: str) -> int:
        return weighted_length(text)

    def send(self, message: OutgoingMessage) -> str:
        if message.kind is MessageKind.DM:
            if not message.recipient_id:
                raise Rejected(PLATFORM, "a DM needs recipient_id")
            recipient = message.recipient_id
            remote_id = self._call(
                DM_CREATE,
                True,
                lambda: self._client.create_direct_message(participant_id=recipient, text=message.text, user_auth=True),
                lambda body: need(obj(body, "data", "", required=True), "dm_event_id", "data"),
                price=self._prices.dm_create,
            )
        else:
            reply_to = message.in_reply_to_id if message.kind is MessageKind.REPLY else None
            if message.kind is MessageKind.REPLY and not reply_to:
                raise Rejected(PLATFORM, "a reply needs in_reply_to_id")
            remote_id = self._call(
                POST_CREATE,
                True,
                lambda: self._client.create_tweet(text=message.text, in_reply_to_tweet_id=reply_to, user_auth=True),
                lambda body: need(obj(body, "data", "", required=True), "id", "data"),
                price=post_price(message.text, summoned_reply=reply_to is not None, prices=self._prices),
            )
        logger.info(
            "x sent %s key=%s remote_id=%s account=%s reply_to=%s recipient=%s",
            message.kind.value,
            message.key,
            remote_id,
            self.account,
            message.in_reply_to_id,
            message.recipient_id,
        )
        return remote_id

    def find_sent(self, message: OutgoingMessage, *, since: datetime | None = None) -> str | None:
        return self.find_sent_many([message], since=since)[message.key]

    def find_sent_many(
        self, messages: Sequence[OutgoingMessage], *, since: datetime | None = None
    ) -> dict[str, str | None]:
        """One timeline scan (and one per DM conversation) for many messages whose outcome is unknown."""
        found: dict[str, str | None] = {m.key: None for m in messages}
        posts = [m for m in messages if m.kind is not MessageKind.DM]
        if posts:
            starts = [s for s in (since, *(m.created_at for m in posts)) if s is not None]
            found.update(self._find_sent_posts(posts, min(starts) if starts else None))
        by_recipient: dict[str | None, list[OutgoingMessage]] = {}
        for message in messages:
            if message.kind is MessageKind.DM:
                by_recipient.setdefault(message.recipient_id, []).append(message)
        for dms in by_recipient.values():
            found.update(self._find_sent_dms(dms))
        for message in messages:
            logger.info(
                "x find_sent %s key=%s account=%s found=%s",
                message.kind.value,
                message.key,
                self.account,
                found[message.key],
            )
        return found

    def _find_sent_posts(self, messages: list[OutgoingMessage], since: datetime | None) -> dict[str, str | None]:
        me = self.me()
        wanted: dict[str, list[OutgoingMessage]] = {}
        for message in messages:
            wanted.setdefault(normalise(message.text), []).append(message)
        found: dict[str, str | None] = {}
        params: dict[str, Any] = {"max_results": 100, "tweet_fields": ["referenced_tweets", "created_at"]}
        if since is not None:
            params["start_time"] = ensure_utc(since) - FIND_SENT_MARGIN
        request = partial(self._client.get_users_tweets, me.id)
        for posts, _ in self._pages("GET /2/users/:id/tweets", request, params, posts_of, most=FIND_SENT_MAX_PAGES):
            for item in posts:
                for message in wanted.get(normalise(item.text), []):
                    if message.key in found:
                        continue
                    if message.kind is MessageKind.REPLY and item.replied_to_id != str(message.in_reply_to_id):
                        continue
                    found[message.key] = item.id
                    break
            if len(found) == len(messages):
                break
        return found

    def _find_sent_dms(self, messages: list[OutgoingMessage]) -> dict[str, str | None]:
        me = self.me()
        wanted = {normalise(m.text): m for m in messages}
        found: dict[str, str | None] = {}
        params: dict[str, Any] = {"dm_event_fields": ["sender_id", "created_at"], "max_results": 100}
        request = partial(self._client.get_direct_message_events, participant_id=messages[0].recipient_id)
        endpoint = "GET /2/dm_conversations/with/:id/dm_events"
        for events, _ in self._pages(endpoint, request, params, messages_of, most=DM_MAX_PAGES):
            for event in events:
                if event.sender_id != me.id:
                    continue
                message = wanted.get(normalise(event.text))
                if message is None or message.key in found:
                    continue
                sent_at = event.created_at
                if sent_at and message.created_at and sent_at < ensure_utc(message.created_at) - FIND_SENT_MARGIN:
                    continue  # the same words sent before this message existed: an earlier DM, not this one
                found[message.key] = event.id
            if len(found) == len(messages):
                break
        return found

    def delete(self, post_id: str) -> None:
        self._call("DELETE /2/tweets/:id", True, lambda: self._client.delete_tweet(post_id, user_auth=True), _ignore)
        logger.info("x deleted post %s account=%s", post_id, self.account)

    def recent_posts(self, *, limit: int = 100, since: datetime | None = None) -> list[Post]:
        me = self.me()
        out: list[Post] = []
        token: str | None = None
        while len(out) < limit:
            params: dict[str, Any] = {"max_results": max(5, min(100, limit - len(out))), "tweet_fields": TWEET_FIELDS}
            if since is not None:
                params["start_time"] = ensure_utc(since)
            if token:
                params["pagination_token"] = token
            posts, token = self._call(
                "GET /2/users/:id/tweets",
                False,
                lambda p=params: self._client.get_users_tweets(me.id, user_auth=True, **p),
                lambda body: (posts_of(body), next_token(body)),
            )
            out.extend(posts)
            if not token:
                break
        return out[:limit]

    def mentions(
        self, since_id: str | None = None, *, page_size: int = 100, until_id: str | None = None
    ) -> Iterator[Page]:
        me = self.me()
        params: dict[str, Any] = {
            "max_results": max(5, min(100, page_size)),
            "tweet_fields": TWEET_FIELDS,
            # the mentioned users too: their ids, for the interaction graph
            "expansions": ["author_id", "entities.mentions.username"],
            "user_fields": USER_FIELDS,
        }
        if since_id:
            params["since_id"] = since_id
        if until_id:
            params["until_id"] = until_id
        newest = since_id
        request = partial(self._client.get_users_mentions, me.id)
        for (items, users, told), token in self._pages("GET /2/users/:id/mentions", request, params, mention_page):
            # the cursor: the newest id the answers told or the read delivered (an answer may leave newest_id out)
            for candidate in (told, *(item.id for item in items)):
                if candidate is not None and self.newer(candidate, newest):
                    newest = candidate
            logger.info(
                "x mentions page account=%s since_id=%s items=%d next=%s",
                self.account,
                since_id,
                len(items),
                bool(token),
            )
            yield Page(items=items, users=users, newest_id=newest, next_token=token)

    def engagers_cost(self, kind: str, limit: int) -> int:
        """X bills every user and post returned: a quote page is at least 10 posts, each with its author."""
        check_engagement_kind(PLATFORM, kind, ENGAGER_ENDPOINTS)
        if limit <= 0:
            return 0
        _, smallest, _ = ENGAGER_ENDPOINTS[kind]
        items = max(limit, smallest)
        return 2 * items if kind == "quote" else items

    def engagers(self, post_id: str, kind: str, *, limit: int = 100) -> Engagers:
        check_engagement_kind(PLATFORM, kind, ENGAGER_ENDPOINTS)
        if limit <= 0:
            return Engagers(kind=kind)
        endpoint, smallest, largest = ENGAGER_ENDPOINTS[kind]
        method = {
            "like": self._client.get_liking_users,
            "retweet": self._client.get_retweeters,
            "quote": self._client.get_quote_tweets,
        }[kind]
        users: dict[str, User] = {}
        posts: list[Post] = []
        reads = 0
        token: str | None = None
        truncated = False
        while True:
            remaining = limit - (len(posts) if kind == "quote" else len(users))
            if remaining < smallest and token is not None:
                truncated = True  # a smallest page would read (and bill) more than asked for
                break
            size = page_size(remaining, smallest, largest)
            params: dict[str, Any] = {"max_results": size, "user_fields": USER_FIELDS}
            if kind == "quote":
                params["tweet_fields"] = TWEET_FIELDS
                params["expansions"] = ["author_id"]
            if token:
                params["pagination_token"] = token
            first = token is None
            page_posts, page_users, gone, token = self._call(
                endpoint, False, lambda p=params: method(post_id, user_auth=True, **p), partial(_engagers_page, kind)
            )
            if not page_posts and not page_users and first and gone:
                logger.info("x %s of post %s: the post is gone (account=%s)", kind, post_id, self.account)
                return Engagers(kind=kind, missing=True)
            reads += len(page_posts) + len(page_users)  # X bills every post and user it returns
            posts.extend(page_posts)
            for user in page_users:
                users.setdefault(user.id, user)
            have = len(posts) if kind == "quote" else len(users)
            if have >= limit:
                truncated = have > limit or token is not None
                break
            if not token:
                break
        if kind == "quote":
            posts = posts[:limit]
            authors = {p.author_id for p in posts}
            found = [u for u in users.values() if u.id in authors]
        else:
            found = list(users.values())[:limit]
        logger.debug(
            "x %s of post %s: %d user(s) %d post(s) reads=%d truncated=%s account=%s",
            kind,
            post_id,
            len(found),
            len(posts),
            reads,
            truncated,
            self.account,
        )
        return Engagers(kind=kind, users=found, posts=posts, reads=reads, truncated=truncated)

    def post_metrics(self, ids: Sequence[str]) -> dict[str, PostMetrics]:
        """public_metrics of every post, 100 ids a call; for posts younger than 30 days (their id tells) also
        non_public_metrics and organic_metrics (link and profile clicks). X refuses those for a post that is not
        ours or too old by leaving it out with a Field Authorization Error: such posts are read again without
        them, never failing the batch. A post that is gone is left out of the answer."""
        wanted = list(dict.fromkeys(i for i in ids if i))
        floor = self._clock.now() - PRIVATE_METRICS_AGE
        recent = [i for i in wanted if i.isdigit() and _id_time(i) >= floor]
        private = set(recent)
        older = [i for i in wanted if i not in private]
        out: dict[str, PostMetrics] = {}
        for fields, group in ((METRIC_FIELDS_PRIVATE, recent), (METRIC_FIELDS_PUBLIC, older)):
            for start in range(0, len(group), METRICS_BATCH):
                chunk = group[start : start + METRICS_BATCH]
                found, refused = self._call(
                    "GET /2/tweets",
                    False,
                    lambda c=chunk, f=fields: self._client.get_tweets(c, tweet_fields=f, user_auth=True),
                    metrics_page,
                )
                out.update((m.post_id, m) for m in found)
                if refused and fields is METRIC_FIELDS_PRIVATE:
                    older.extend(i for i in chunk if i in refused and i not in out)
        logger.debug("x metrics of %d post(s): %d read account=%s", len(wanted), len(out), self.account)
        return out

    def post_analytics(self, ids: Sequence[str], start: datetime, end: datetime) -> dict[str, list[EngagementHour]]:
        """Hourly engagement of the account's own posts `ids` over [start, end) (x/analytics.py), 100 ids a call
        through tweepy's generic request (it has no method for it); a post X does not show is left out."""
        wanted = list(dict.fromkeys(i for i in ids if i))
        out: dict[str, list[EngagementHour]] = {}
        for first in range(0, len(wanted), ANALYTICS_BATCH):
            params = hourly_params(wanted[first : first + ANALYTICS_BATCH], start, end)
            request = partial(self._client._make_request, "GET", ANALYTICS_ROUTE, params, PARAMETERS, user_auth=True)
            out.update(self._call(ANALYTICS, False, request, analytics_page))
        logger.debug("x analytics of %d post(s): %d answered account=%s", len(wanted), len(out), self.account)
        return out

    def direct_messages(self, since_id: str | None = None) -> list[DirectMessage]:
        """DM events newest first; with since_id, only newer ones (paging stops once since_id is reached)."""
        out: list[DirectMessage] = []
        floor = int(since_id) if since_id and since_id.isdigit() else None
        params: dict[str, Any] = {
            "dm_event_fields": ["sender_id", "created_at", "dm_conversation_id"],
            "event_types": "MessageCreate",
            "max_results": 100,
        }
        request = self._client.get_direct_message_events
        for events, _ in self._pages("GET /2/dm_events", request, params, messages_of, most=DM_MAX_PAGES):
            reached = False
            for event in events:
                if floor is not None and int(event.id) <= floor:
                    reached = True
                    break
                out.append(event)
            if reached:
                break
        return out

    def rate_limits(self) -> list[RateLimitStatus]:
        return sorted(self._limits.values(), key=lambda s: s.endpoint)

    def close(self) -> None:
        self._client.session.close()


def _engagers_page(kind: str, body: Any) -> tuple[list[Post], list[User], bool, str | None]:
    """One page of engagers: (quotes, users: the quotes' authors or the likers/reposters, whether the post is gone,
    next_token)."""
    if kind == "quote":
        return posts_of(body), included_users(body), not_found(body), next_token(body)
    return [], data_users(body), not_found(body), next_token(body)


def _id_time(post_id: str) -> datetime:
    """When an X post was made, from its snowflake id (milliseconds since X's epoch in the high bits)."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + X_EPOCH_MS) / 1000, UTC)


def _ignore(body: Any) -> None:
    """An answer the adapter does not read (a deletion's)."""
