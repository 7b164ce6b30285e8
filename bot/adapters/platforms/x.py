"""X (Twitter) over tweepy. The only module that imports tweepy; vendor errors are mapped here, once."""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
import tweepy
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bot.adapters.platforms.base import RateLimitBlocks
from bot.core.errors import (
    AuthError,
    DuplicateContent,
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
from bot.core.text import weighted_length
from bot.settings.config import XCredentials

logger = logging.getLogger(__name__)

for _name in ("tweepy", "requests_oauthlib", "oauthlib", "urllib3"):
    # tweepy logs request headers (tokens) at DEBUG.
    logging.getLogger(_name).setLevel(logging.WARNING)
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # one line per transport retry of a read

X_HOST = "https://api.twitter.com"
PLATFORM = "x"
TWEET_FIELDS = ["author_id", "created_at", "conversation_id", "in_reply_to_user_id", "referenced_tweets", "entities"]
USER_FIELDS = ["username", "name", "public_metrics"]
# per kind: (endpoint, smallest and largest max_results X accepts)
ENGAGER_ENDPOINTS = {
    "like": ("GET /2/tweets/:id/liking_users", 1, 100),
    "retweet": ("GET /2/tweets/:id/retweeted_by", 1, 100),
    "quote": ("GET /2/tweets/:id/quote_tweets", 10, 100),
}
FIND_SENT_MARGIN = timedelta(minutes=5)
RATE_WINDOW = timedelta(minutes=15)
FIND_SENT_MAX_PAGES = 10
DM_MAX_PAGES = 10
_NUMERIC_SEGMENT = re.compile(r"/\d+(?:-\d+)?(?=/|$)")
_URL_RE = re.compile(r"https?://\S+")
_NOT_ALLOWED_HINTS = (
    "not been mentioned",
    "otherwise engaged",
    "messaged you first",
    "not allowed to reply",
    "cannot send",
    "not-authorized",
)

T = TypeVar("T")


# Reads are safe to repeat: a GET that failed with a 5xx, a reset or a timeout is tried twice more at once, so a
# lookup over several pages survives a flaky API. Writes are never repeated here (their outcome may be unknown:
# the outbox reconciles them), and a 429 is never retried (no request before the reset it announces).
READ_RETRY = Retry(
    total=2,
    connect=2,
    read=2,
    status=2,
    other=0,
    allowed_methods=frozenset({"GET"}),
    status_forcelist=(500, 502, 503, 504),
    backoff_factor=0.1,
    raise_on_status=False,
    respect_retry_after_header=False,
)


class _RoutingAdapter(HTTPAdapter):
    """Rewrites https://api.twitter.com to `base_url` (sandbox), applies a default timeout, retries reads."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(max_retries=READ_RETRY)
        self._base = base_url.rstrip("/") if base_url else None
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        if self._base is not None and request.url and request.url.startswith(X_HOST):
            request.url = self._base + request.url[len(X_HOST) :]
            proxies = {}
        return super().send(
            request, stream=stream, timeout=timeout or self._timeout, verify=verify, cert=cert, proxies=proxies
        )


def endpoint_of(method: str, url: str) -> str:
    """'POST https://api.twitter.com/2/users/123/tweets?x=1' -> 'POST /2/users/:id/tweets'."""
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else "/"
    path = path.split("?", 1)[0]
    version, _, rest = path.lstrip("/").partition("/")
    return f"{method} /{version}{_NUMERIC_SEGMENT.sub('/:id', '/' + rest) if rest else ''}"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _retry_at(exc: tweepy.TooManyRequests, now: datetime) -> datetime:
    """When the window resets: X's header, never in the past; a whole window when the header is missing."""
    reset = exc.reset_time
    if reset is None:
        try:
            reset = int(exc.response.headers.get("x-rate-limit-reset", "0") or 0)
        except ValueError:
            reset = 0
    if not reset:
        logger.warning("x answered 429 without x-rate-limit-reset; waiting a whole window")
        return now + RATE_WINDOW
    return max(datetime.fromtimestamp(reset, UTC), now + timedelta(seconds=1))


def _normalise(text: str) -> str:
    """X rewrites URLs to t.co and HTML-escapes &<>; compare texts modulo both."""
    return _URL_RE.sub("<url>", html.unescape(text)).strip()


def _api_message(exc: tweepy.HTTPException) -> str:
    messages = list(exc.api_messages)
    if not messages:
        try:
            body = exc.response.json()
            messages = [str(body.get("detail") or body.get("title") or "")]
        except ValueError:
            messages = []
    return "; ".join(m for m in messages if m) or f"HTTP {exc.response.status_code}"


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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.account = account
        self._now = clock or (lambda: datetime.now(UTC))  # the API's clock (a sandbox may run on a test clock)
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
        session.mount(X_HOST, _RoutingAdapter(base_url, timeout))
        session.hooks["response"].append(self._record_limits)
        self._limits: dict[str, RateLimitStatus] = {}
        self._blocks = RateLimitBlocks(PLATFORM, self._now)
        self._me: User | None = None
        self._me_lock = threading.Lock()  # one users/me request at a time: the jobs all ask for it at start

    @classmethod
    def for_sandbox(
        cls,
        base_url: str,
        handle: str,
        *,
        timeout: float = 10.0,
        account: str | None = None,
        clock: Callable[[], datetime] | None = None,
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

    def _call(self, endpoint: str, write: bool, fn: Callable[[], T]) -> T:
        self._blocks.check(endpoint)
        try:
            return fn()
        except tweepy.TooManyRequests as exc:
            retry_at = _retry_at(exc, self._now())
            self._blocks.block(endpoint, retry_at)
            raise RateLimited(PLATFORM, f"{endpoint} rate limited", retry_at, endpoint) from exc
        except tweepy.Unauthorized as exc:
            raise AuthError(PLATFORM, f"{endpoint}: {_api_message(exc)}") from exc
        except tweepy.Forbidden as exc:
            message = _api_message(exc)
            lowered = message.lower()
            if "duplicate content" in lowered:
                raise DuplicateContent(PLATFORM, message) from exc
            if any(hint in lowered for hint in _NOT_ALLOWED_HINTS):
                raise NotAllowed(PLATFORM, message) from exc
            raise Rejected(PLATFORM, message) from exc
        except (tweepy.BadRequest, tweepy.NotFound) as exc:
            raise Rejected(PLATFORM, _api_message(exc)) from exc
        except tweepy.TwitterServerError as exc:
            status = exc.response.status_code
            maybe = write and status not in (502, 503, 504)
            raise TransientError(PLATFORM, f"{endpoint}: HTTP {status}", maybe_sent=maybe) from exc
        except tweepy.HTTPException as exc:
            raise PlatformError(PLATFORM, f"{endpoint}: {_api_message(exc)}") from exc
        except tweepy.TweepyException as exc:
            raise PlatformError(PLATFORM, f"{endpoint}: {exc}") from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(PLATFORM, f"{endpoint}: connect timeout", maybe_sent=False) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise TransientError(PLATFORM, f"{endpoint}: read timeout", maybe_sent=write) from exc
        except requests.exceptions.ConnectionError as exc:
            sent = not _never_connected(exc)
            raise TransientError(PLATFORM, f"{endpoint}: connection error: {exc}", maybe_sent=write and sent) from exc
        except requests.exceptions.RequestException as exc:
            raise TransientError(PLATFORM, f"{endpoint}: {exc}", maybe_sent=write) from exc

    def _record_limits(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        headers = response.headers
        reset = headers.get("x-rate-limit-reset")
        if reset is None:
            return
        try:
            status = RateLimitStatus(
                endpoint=endpoint_of(response.request.method or "GET", response.request.url or ""),
                limit=int(headers.get("x-rate-limit-limit", "0")),
                remaining=int(headers.get("x-rate-limit-remaining", "0")),
                reset_at=datetime.fromtimestamp(int(reset), UTC),
            )
        except ValueError:
            return
        self._limits[status.endpoint] = status

    # ---- Platform ------------------------------------------------------------------------------------
    def me(self) -> User:
        with self._me_lock:
            if self._me is None:
                body = self._call("GET /2/users/me", False, lambda: self._client.get_me(user_auth=True))
                data = body["data"]
                self._me = User(id=str(data["id"]), username=data["username"], name=data.get("name", ""))
            return self._me

    def length(self, text: str) -> int:
        return weighted_length(text)

    def send(self, message: OutgoingMessage) -> str:
        if message.kind is MessageKind.DM:
            if not message.recipient_id:
                raise Rejected(PLATFORM, "a DM needs recipient_id")
            recipient = message.recipient_id
            endpoint = "POST /2/dm_conversations/with/:id/messages"
            body = self._call(
                endpoint,
                True,
                lambda: self._client.create_direct_message(participant_id=recipient, text=message.text, user_auth=True),
            )
            remote_id = str(body["data"]["dm_event_id"])
        else:
            reply_to = message.in_reply_to_id if message.kind is MessageKind.REPLY else None
            if message.kind is MessageKind.REPLY and not reply_to:
                raise Rejected(PLATFORM, "a reply needs in_reply_to_id")
            endpoint = "POST /2/tweets"
            body = self._call(
                endpoint,
                True,
                lambda: self._client.create_tweet(text=message.text, in_reply_to_tweet_id=reply_to, user_auth=True),
            )
            remote_id = str(body["data"]["id"])
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
            wanted.setdefault(_normalise(message.text), []).append(message)
        found: dict[str, str | None] = {}
        params: dict[str, Any] = {"max_results": 100, "tweet_fields": ["referenced_tweets", "created_at"]}
        if since is not None:
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            params["start_time"] = since - FIND_SENT_MARGIN
        token: str | None = None
        for _ in range(FIND_SENT_MAX_PAGES):
            page_params = dict(params, pagination_token=token) if token else params
            body = self._call(
                "GET /2/users/:id/tweets",
                False,
                lambda p=page_params: self._client.get_users_tweets(me.id, user_auth=True, **p),
            )
            for item in body.get("data") or []:
                refs = {(r["type"], str(r["id"])) for r in item.get("referenced_tweets") or []}
                for message in wanted.get(_normalise(item.get("text", "")), []):
                    if message.key in found:
                        continue
                    if message.kind is MessageKind.REPLY and ("replied_to", str(message.in_reply_to_id)) not in refs:
                        continue
                    found[message.key] = str(item["id"])
                    break
            token = (body.get("meta") or {}).get("next_token")
            if not token or len(found) == len(messages):
                break
        return found

    def _find_sent_dms(self, messages: list[OutgoingMessage]) -> dict[str, str | None]:
        me = self.me()
        wanted = {_normalise(m.text): m for m in messages}
        found: dict[str, str | None] = {}
        token: str | None = None
        for _ in range(DM_MAX_PAGES):
            params: dict[str, Any] = {"dm_event_fields": ["sender_id", "created_at"], "max_results": 100}
            if token:
                params["pagination_token"] = token
            body = self._call(
                "GET /2/dm_conversations/with/:id/dm_events",
                False,
                lambda p=params: self._client.get_direct_message_events(
                    participant_id=messages[0].recipient_id, user_auth=True, **p
                ),
            )
            for event in body.get("data") or []:
                if event.get("event_type") != "MessageCreate" or str(event.get("sender_id")) != me.id:
                    continue
                message = wanted.get(_normalise(event.get("text", "")))
                if message is None or message.key in found:
                    continue
                sent_at = _parse_time(event.get("created_at"))
                if sent_at and message.created_at and sent_at < _aware(message.created_at) - FIND_SENT_MARGIN:
                    continue  # the same words sent before this message existed: an earlier DM, not this one
                found[message.key] = str(event["id"])
            token = (body.get("meta") or {}).get("next_token")
            if not token or len(found) == len(messages):
                break
        return found

    def delete(self, post_id: str) -> None:
        self._call("DELETE /2/tweets/:id", True, lambda: self._client.delete_tweet(post_id, user_auth=True))
        logger.info("x deleted post %s account=%s", post_id, self.account)

    def recent_posts(self, *, limit: int = 100, since: datetime | None = None) -> list[Post]:
        me = self.me()
        out: list[Post] = []
        token: str | None = None
        while len(out) < limit:
            params: dict[str, Any] = {"max_results": max(5, min(100, limit - len(out))), "tweet_fields": TWEET_FIELDS}
            if since is not None:
                params["start_time"] = since if since.tzinfo else since.replace(tzinfo=UTC)
            if token:
                params["pagination_token"] = token
            body = self._call(
                "GET /2/users/:id/tweets",
                False,
                lambda p=params: self._client.get_users_tweets(me.id, user_auth=True, **p),
            )
            out.extend(_post(item) for item in body.get("data") or [])
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        return out[:limit]

    def mentions(
        self, since_id: str | None = None, *, page_size: int = 100, until_id: str | None = None
    ) -> Iterator[Page]:
        me = self.me()
        size = max(5, min(100, page_size))
        token: str | None = None
        newest: str | None = None
        first = True
        while True:
            params: dict[str, Any] = {
                "max_results": size,
                "tweet_fields": TWEET_FIELDS,
                # the mentioned users too: their ids, for the interaction graph
                "expansions": ["author_id", "entities.mentions.username"],
                "user_fields": USER_FIELDS,
            }
            if since_id:
                params["since_id"] = since_id
            if until_id:
                params["until_id"] = until_id
            if token:
                params["pagination_token"] = token
            body = self._call(
                "GET /2/users/:id/mentions",
                False,
                lambda p=params: self._client.get_users_mentions(me.id, user_auth=True, **p),
            )
            meta = body.get("meta") or {}
            if first:
                newest = meta.get("newest_id") or since_id
                first = False
            token = meta.get("next_token")
            users = {str(u["id"]): _user(u) for u in (body.get("includes") or {}).get("users") or []}
            items = [_post(item) for item in body.get("data") or []]
            logger.info(
                "x mentions page account=%s since_id=%s items=%d next=%s",
                self.account,
                since_id,
                len(items),
                bool(token),
            )
            yield Page(items=items, users=users, newest_id=newest, next_token=token)
            if not token:
                return

    def engagers_cost(self, kind: str, limit: int) -> int:
        """X bills every user and post returned: a quote page is at least 10 posts, each with its author."""
        if kind not in ENGAGER_ENDPOINTS:
            raise Rejected(PLATFORM, f"unknown engagement kind {kind!r} (known: {', '.join(ENGAGEMENT_KINDS)})")
        if limit <= 0:
            return 0
        _, smallest, _ = ENGAGER_ENDPOINTS[kind]
        items = max(limit, smallest)
        return 2 * items if kind == "quote" else items

    def engagers(self, post_id: str, kind: str, *, limit: int = 100) -> Engagers:
        if kind not in ENGAGER_ENDPOINTS:
            raise Rejected(PLATFORM, f"unknown engagement kind {kind!r} (known: {', '.join(ENGAGEMENT_KINDS)})")
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
            size = _page_size(remaining, smallest, largest)
            params: dict[str, Any] = {"max_results": size, "user_fields": USER_FIELDS}
            if kind == "quote":
                params["tweet_fields"] = TWEET_FIELDS
                params["expansions"] = ["author_id"]
            if token:
                params["pagination_token"] = token
            body = self._call(endpoint, False, lambda p=params: method(post_id, user_auth=True, **p))
            data = body.get("data") or []
            if not data and token is None and _not_found(body):
                logger.info("x %s of post %s: the post is gone (account=%s)", kind, post_id, self.account)
                return Engagers(kind=kind, missing=True)
            included = (body.get("includes") or {}).get("users") or []
            reads += len(data) + (len(included) if kind == "quote" else 0)
            if kind == "quote":
                posts.extend(_post(item) for item in data)
                for u in included:
                    users.setdefault(str(u["id"]), _user(u))
            else:
                for u in data:
                    users.setdefault(str(u["id"]), _user(u))
            token = (body.get("meta") or {}).get("next_token")
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

    def direct_messages(self, since_id: str | None = None) -> list[DirectMessage]:
        """DM events newest first; with since_id, only newer ones (paging stops once since_id is reached)."""
        out: list[DirectMessage] = []
        token: str | None = None
        floor = int(since_id) if since_id and since_id.isdigit() else None
        for _ in range(DM_MAX_PAGES):
            params: dict[str, Any] = {
                "dm_event_fields": ["sender_id", "created_at", "dm_conversation_id"],
                "event_types": "MessageCreate",
                "max_results": 100,
            }
            if token:
                params["pagination_token"] = token
            body = self._call(
                "GET /2/dm_events", False, lambda p=params: self._client.get_direct_message_events(user_auth=True, **p)
            )
            reached = False
            for event in body.get("data") or []:
                if floor is not None and int(event["id"]) <= floor:
                    reached = True
                    break
                out.append(
                    DirectMessage(
                        id=str(event["id"]),
                        text=event.get("text", ""),
                        sender_id=str(event["sender_id"]) if event.get("sender_id") else None,
                        conversation_id=event.get("dm_conversation_id"),
                        created_at=_parse_time(event.get("created_at")),
                    )
                )
            token = (body.get("meta") or {}).get("next_token")
            if not token or reached:
                break
        return out

    def rate_limits(self) -> list[RateLimitStatus]:
        return sorted(self._limits.values(), key=lambda s: s.endpoint)

    def close(self) -> None:
        self._client.session.close()


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection was never established (refused, DNS, connect timeout): nothing was sent."""
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, ConnectTimeoutError, NameResolutionError, ConnectionRefusedError)):
            return True
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return False


def _user(item: dict[str, Any]) -> User:
    followers = (item.get("public_metrics") or {}).get("followers_count")
    return User(
        id=str(item["id"]),
        username=item.get("username", ""),
        name=item.get("name", ""),
        followers=int(followers) if isinstance(followers, int | str) and str(followers).isdigit() else None,
    )


def _page_size(remaining: int, smallest: int, largest: int) -> int:
    """max_results for the next page: never more than `remaining` (unless below the smallest page), and
    never leaving a rest that only a page larger than it could read."""
    size = min(largest, remaining)
    if 0 < remaining - size < smallest:
        size = remaining - smallest
    return max(smallest, size)


def _not_found(body: dict[str, Any]) -> bool:
    """A 200 whose only content is a resource-not-found error (a deleted or invisible post)."""
    errors = body.get("errors") or []
    return any(
        str(e.get("type", "")).endswith("/resource-not-found") or e.get("title") == "Not Found Error" for e in errors
    )


def _post(item: dict[str, Any]) -> Post:
    refs = item.get("referenced_tweets") or []
    entities = item.get("entities") or {}
    return Post(
        id=str(item["id"]),
        text=item.get("text", ""),
        author_id=str(item["author_id"]) if item.get("author_id") else None,
        created_at=_parse_time(item.get("created_at")),
        conversation_id=str(item["conversation_id"]) if item.get("conversation_id") else None,
        in_reply_to_user_id=str(item["in_reply_to_user_id"]) if item.get("in_reply_to_user_id") else None,
        replied_to_id=next((str(r["id"]) for r in refs if r.get("type") == "replied_to"), None),
        quoted_id=next((str(r["id"]) for r in refs if r.get("type") == "quoted"), None),
        mentions=tuple(m["username"] for m in entities.get("mentions") or [] if m.get("username")),
        hashtags=tuple(h["tag"] for h in entities.get("hashtags") or [] if h.get("tag")),
        urls=tuple(u.get("expanded_url") or u.get("url", "") for u in entities.get("urls") or []),
    )
