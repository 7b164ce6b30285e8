"""A local X API v2 server (the subset socialbot uses) with an admin API under /_sandbox/.

SandboxServer(host, port, clock=, seed=) serves from a background thread; see bot/sandbox/__init__.py for the API.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.sandbox import views
from bot.sandbox.ratelimit import RateLimiter
from bot.sandbox.world import IdGenerator, SandboxRejection, World, invalid_request, problem

logger = logging.getLogger(__name__)

_OAUTH_TOKEN_RE = re.compile(r'oauth_token="([^"]*)"')

# (method, regex, route template, handler name)
_API_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = [
    (m, re.compile(f"^{p}$"), t, h)
    for m, p, t, h in [
        ("POST", r"/2/tweets", "POST /2/tweets", "create_tweet"),
        ("DELETE", r"/2/tweets/(\d+)", "DELETE /2/tweets/:id", "delete_tweet"),
        ("GET", r"/2/tweets/(\d+)", "GET /2/tweets/:id", "get_tweet"),
        ("GET", r"/2/tweets/(\d+)/liking_users", "GET /2/tweets/:id/liking_users", "liking_users"),
        ("GET", r"/2/tweets/(\d+)/retweeted_by", "GET /2/tweets/:id/retweeted_by", "retweeted_by"),
        ("GET", r"/2/tweets/(\d+)/quote_tweets", "GET /2/tweets/:id/quote_tweets", "quote_tweets"),
        ("GET", r"/2/users/me", "GET /2/users/me", "users_me"),
        ("GET", r"/2/users/(\d+)/tweets", "GET /2/users/:id/tweets", "user_tweets"),
        ("GET", r"/2/users/(\d+)/mentions", "GET /2/users/:id/mentions", "user_mentions"),
        ("POST", r"/2/users/(\d+)/likes", "POST /2/users/:id/likes", "like"),
        ("DELETE", r"/2/users/(\d+)/likes/(\d+)", "DELETE /2/users/:id/likes/:tweet_id", "unlike"),
        ("POST", r"/2/users/(\d+)/retweets", "POST /2/users/:id/retweets", "retweet"),
        ("DELETE", r"/2/users/(\d+)/retweets/(\d+)", "DELETE /2/users/:id/retweets/:tweet_id", "unretweet"),
        ("POST", r"/2/dm_conversations/with/(\d+)/messages", "POST /2/dm_conversations/with/:id/messages", "dm_create"),
        ("GET", r"/2/dm_events", "GET /2/dm_events", "dm_events"),
        (
            "GET",
            r"/2/dm_conversations/with/(\d+)/dm_events",
            "GET /2/dm_conversations/with/:id/dm_events",
            "dm_events_with",
        ),
        ("GET", r"/2/dm_conversations/(\d+-\d+)/dm_events", "GET /2/dm_conversations/:id/dm_events", "dm_events_conv"),
    ]
]

UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "type": "about:blank", "status": 429, "detail": "Too Many Requests"}
UNAVAILABLE = {
    "title": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
    "detail": "Service Unavailable",
}
_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


class _Faults:
    def __init__(self, seed: int | None) -> None:
        self.error_rate = 0.0
        self.timeout_rate = 0.0
        self.reset_rate = 0.0
        self.timeout_seconds = 5.0
        self.burst_429 = 0
        self.burst_reset_seconds = 5.0
        self.burst_endpoint: str | None = None
        self.latency_seconds = 0.0  # every write is processed, then answered this much later
        self.rng = random.Random(seed)

    def describe(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "timeout_rate": self.timeout_rate,
            "reset_rate": self.reset_rate,
            "timeout_seconds": self.timeout_seconds,
            "burst_429": self.burst_429,
            "burst_reset_seconds": self.burst_reset_seconds,
            "burst_endpoint": self.burst_endpoint,
            "latency_seconds": self.latency_seconds,
        }

    def draw(self) -> str | None:
        if not (self.error_rate or self.timeout_rate or self.reset_rate):
            return None
        r = self.rng.random()
        if r < self.reset_rate:
            return "reset"
        if r < self.reset_rate + self.error_rate:
            return "error"
        if r < self.reset_rate + self.error_rate + self.timeout_rate:
            return "timeout"
        return None


class _Stats:
    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.rate_limited = 0
        self.rate_limited_by_endpoint: dict[str, int] = {}
        self.faults = {"error": 0, "timeout": 0, "reset": 0}
        self.early_requests = 0
        self.early_by_endpoint: dict[str, int] = {}


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


class SandboxServer:
    """The sandbox X API. Thread-safe; state lives in memory and is guarded by one lock."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.clock = clock
        self.seed = seed
        self.lock = threading.Lock()
        self.ids = IdGenerator(clock)
        self.world = World(clock, self.ids)
        self.limiter = RateLimiter()
        self.faults = _Faults(seed)
        self.stats = _Stats()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="sandbox-x", daemon=True
            )
            self._thread.start()
            logger.info("sandbox X API listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (used by `socialbot sandbox`)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_all()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Empty world, faults off, default limits, zeroed stats (ids keep increasing)."""
        with self.lock:
            self.world = World(self.clock, self.ids)
            self.limiter.reset_defaults()
            self.faults = _Faults(self.seed)
            self.stats = _Stats()

    # ---- convenience for in-process callers (tests, demo) ------------------------------------------
    def add_user(self, username: str, name: str | None = None, *, followers: int | None = None) -> str:
        with self.lock:
            return self.world.add_user(username, name, followers).id

    def add_tweet(
        self, author_id: str, text: str, *, in_reply_to_tweet_id: str | None = None, quote_tweet_id: str | None = None
    ) -> str:
        with self.lock:
            return self.world.add_tweet(
                author_id, text, in_reply_to_tweet_id=in_reply_to_tweet_id, quote_tweet_id=quote_tweet_id, enforce=False
            ).id

    def add_dm(self, from_user_id: str, to_user_id: str, text: str) -> str:
        with self.lock:
            return self.world.add_dm(from_user_id, to_user_id, text, enforce=False).id

    def configure_faults(self, conf: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._configure_faults(conf)

    def stats_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self._stats_body()

    # ---- request handling ----------------------------------------------------------------------
    def _stats_body(self) -> dict[str, Any]:
        s = self.stats
        return {
            "requests": dict(sorted(s.requests.items())),
            "requests_total": sum(s.requests.values()),
            "rate_limited": s.rate_limited,
            "rate_limited_by_endpoint": dict(s.rate_limited_by_endpoint),
            "faults": dict(s.faults),
            "early_requests": s.early_requests,
            "early_by_endpoint": dict(s.early_by_endpoint),
            "users": len(self.world.users),
            "tweets": len(self.world.tweets),
            "dms": len(self.world.dms),
        }

    def _configure_faults(self, conf: dict[str, Any]) -> dict[str, Any]:
        f = self.faults
        for name in (
            "error_rate",
            "timeout_rate",
            "reset_rate",
            "timeout_seconds",
            "burst_reset_seconds",
            "latency_seconds",
        ):
            if name in conf and conf[name] is not None:
                setattr(f, name, float(conf[name]))
        if "burst_429" in conf:
            f.burst_429 = int(conf["burst_429"] or 0)
        if "burst_endpoint" in conf:
            f.burst_endpoint = conf["burst_endpoint"]
        if "seed" in conf:
            f.rng = random.Random(conf["seed"])
        if "rate_limits" in conf:
            self.limiter.configure(conf["rate_limits"])
        return {**f.describe(), "rate_limits": self.limiter.describe()}

    def handle_api(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: Any
    ) -> tuple[_Response | None, str | None, float]:
        """Returns (response or None for a dropped connection, fault kind, seconds to hold before drop)."""
        route = None
        for m, rx, template, handler in _API_ROUTES:
            match = rx.match(path)
            if match and m == method:
                route = (template, handler, match.groups())
                break
        with self.lock:
            if route is None:
                self.stats.requests["unmatched"] = self.stats.requests.get("unmatched", 0) + 1
                return (
                    _Response(
                        404,
                        {
                            "title": "Not Found Error",
                            "type": "about:blank",
                            "status": 404,
                            "detail": f"Sorry, that page does not exist: {method} {path}",
                        },
                    ),
                    None,
                    0,
                )
            template, handler, args = route
            self.stats.requests[template] = self.stats.requests.get(template, 0) + 1
            fault = self.faults.draw()
            if fault is not None:
                self.stats.faults[fault] += 1
            if fault == "reset":
                return None, "reset", 0
            if fault == "error":
                return _Response(503, UNAVAILABLE), "error", 0
            user = self._acting_user(headers)
            if user is None:
                return _Response(401, UNAUTHORIZED), fault, 0
            now = self.clock()
            f = self.faults
            if f.burst_429 > 0 and (f.burst_endpoint is None or f.burst_endpoint == template):
                f.burst_429 -= 1
                verdict = self.limiter.exhaust(template, user, now, f.burst_reset_seconds)
            else:
                verdict = self.limiter.hit(template, user, now)
            rl_headers = {
                "x-rate-limit-limit": str(verdict.limit),
                "x-rate-limit-remaining": str(verdict.remaining),
                "x-rate-limit-reset": str(verdict.reset),
            }
            if verdict.early:
                self.stats.early_requests += 1
                self.stats.early_by_endpoint[template] = self.stats.early_by_endpoint.get(template, 0) + 1
            if not verdict.allowed:
                self.stats.rate_limited += 1
                self.stats.rate_limited_by_endpoint[template] = self.stats.rate_limited_by_endpoint.get(template, 0) + 1
                return _Response(429, TOO_MANY, rl_headers), fault, 0
            try:
                status, payload, extra = getattr(_Api, handler)(self.world, user, args, query, body)
            except SandboxRejection as rej:
                status, payload, extra = rej.status, rej.body, {}
            resp = _Response(status, payload, {**rl_headers, **extra})
            if fault == "timeout":
                return None, "timeout", f.timeout_seconds
            return resp, fault, f.latency_seconds if method != "GET" else 0

    def _acting_user(self, headers: Any) -> str | None:
        auth = headers.get("Authorization") or ""
        token = ""
        if auth.startswith("OAuth "):
            m = _OAUTH_TOKEN_RE.search(auth)
            token = unquote(m.group(1)) if m else ""
        elif auth.startswith("Bearer "):
            token = auth[7:].strip()
        uid = token.split("-", 1)[0] if "-" in token else ""
        return uid if uid in self.world.users else None

    def handle_admin(self, method: str, path: str, query: dict[str, str], body: Any) -> _Response:
        with self.lock:
            try:
                return _Admin.dispatch(self, method, path, query, body)
            except SandboxRejection as rej:
                return _Response(rej.status, rej.body)
            except (KeyError, TypeError, ValueError) as exc:
                return _Response(
                    400,
                    {
                        "title": "Invalid Request",
                        "type": "about:blank",
                        "status": 400,
                        "detail": f"bad admin request: {exc!r}",
                    },
                )


_Result = tuple[int, Any, dict[str, str]]


class _Api:
    """X API v2 handlers: (world, acting user, path args, query, json body) -> (status, body, headers)."""

    @staticmethod
    def create_tweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise invalid_request("text", "", "The `text` field is required for a Tweet without media.")
        reply = body.get("reply") or {}
        tweet = w.add_tweet(
            user,
            body["text"],
            in_reply_to_tweet_id=str(reply["in_reply_to_tweet_id"]) if reply.get("in_reply_to_tweet_id") else None,
            quote_tweet_id=str(body["quote_tweet_id"]) if body.get("quote_tweet_id") else None,
        )
        data = {"edit_history_tweet_ids": [tweet.id], "id": tweet.id, "text": tweet.text}
        return 201, {"data": data}, {"location": f"https://api.twitter.com/2/tweets/{tweet.id}"}

    @staticmethod
    def delete_tweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        w.delete_tweet(args[0], user)
        return 200, {"data": {"deleted": True}}, {}

    @staticmethod
    def get_tweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        tweet = w.visible(args[0])
        if tweet is None:
            return 200, {"errors": [_not_found("tweet", "id", args[0], "Could not find tweet with id")]}, {}
        out: dict[str, Any] = {"data": views.render_tweet(w, tweet, views.tweet_fields(q))}
        includes = views.tweet_includes(w, [tweet], q)
        if includes:
            out["includes"] = includes
        return 200, out, {}

    @staticmethod
    def _users_of(w: World, table: dict[str, list[str]], tid: str, q: dict[str, str]) -> _Result:
        if w.visible(tid) is None:
            return 200, {"errors": [_not_found("tweet", "id", tid, "Could not find tweet with id")]}, {}
        users = [w.users[u] for u in reversed(table.get(tid, []))]
        page, token = views.simple_page(users, q, 1, 100, 100, lambda u: u.id)
        fields = views.csv_param(q, "user.fields")
        body = views.page_body([views.render_user(u, fields) for u in page], token, newest_oldest=False)
        return 200, body, {}

    @staticmethod
    def liking_users(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Api._users_of(w, w.likes_of, args[0], q)

    @staticmethod
    def retweeted_by(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Api._users_of(w, w.retweets_of, args[0], q)

    @staticmethod
    def quote_tweets(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        if w.visible(args[0]) is None:
            return 200, {"errors": [_not_found("tweet", "id", args[0], "Could not find tweet with id")]}, {}
        quotes = [t for t in (w.tweets[i] for i in reversed(w.quotes_of.get(args[0], []))) if not t.deleted]
        page, token = views.simple_page(quotes, q, 10, 100, 10, lambda t: t.id)
        fields = views.tweet_fields(q)
        data = [views.render_tweet(w, t, fields) for t in page]
        out = views.page_body(data, token, views.tweet_includes(w, page, q), newest_oldest=False)
        return 200, out, {}

    @staticmethod
    def users_me(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return 200, {"data": views.render_user(w.users[user], views.csv_param(q, "user.fields"))}, {}

    @staticmethod
    def _timeline(w: World, ids: list[str], q: dict[str, str], reach: int, exclude: set[str]) -> _Result:
        size = views.max_results(q, 5, 100, 10)

        def keep(tid: str) -> bool:
            t = w.tweets[tid]
            if t.deleted:
                return False
            return not ("replies" in exclude and t.in_reply_to_tweet_id is not None)

        page, token = views.page_ids(
            ids, q, keep=keep, created_at=lambda tid: w.tweets[tid].created_at, size=size, reach=reach
        )
        tweets = [w.tweets[i] for i in page]
        fields = views.tweet_fields(q)
        data = [views.render_tweet(w, t, fields) for t in tweets]
        return 200, views.page_body(data, token, views.tweet_includes(w, tweets, q)), {}

    @staticmethod
    def user_tweets(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        if args[0] not in w.users:
            return 200, {"errors": [_not_found("user", "id", args[0], "Could not find user with id")]}, {}
        return _Api._timeline(w, w.tweets_by_author.get(args[0], []), q, 3200, views.csv_param(q, "exclude"))

    @staticmethod
    def user_mentions(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        if args[0] not in w.users:
            return 200, {"errors": [_not_found("user", "id", args[0], "Could not find user with id")]}, {}
        return _Api._timeline(w, w.mentions_of.get(args[0], []), q, 800, set())

    @staticmethod
    def _toggle(w: World, user: str, owner: str, tweet_id: Any, kind: str, on: bool) -> _Result:
        if owner != user:
            raise problem(403, "Forbidden", "You are not allowed to act for another user.")
        if not tweet_id:
            raise invalid_request("tweet_id", "", "The `tweet_id` field is required.")
        (w.like if kind == "liked" else w.retweet)(user, str(tweet_id), on)
        return 200, {"data": {kind: on}}, {}

    @staticmethod
    def like(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Api._toggle(w, user, args[0], (body or {}).get("tweet_id"), "liked", True)

    @staticmethod
    def unlike(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Api._toggle(w, user, args[0], args[1], "liked", False)

    @staticmethod
    def retweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Api._toggle(w, user, args[0], (body or {}).get("tweet_id"), "retweeted", True)

    @staticmethod
    def unretweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Api._toggle(w, user, args[0], args[1], "retweeted", False)

    @staticmethod
    def dm_create(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        text = (body or {}).get("text")
        if not isinstance(text, str):
            raise invalid_request("text", "", "The `text` field is required.")
        dm = w.add_dm(user, args[0], text)
        headers = {"location": f'https://api.twitter.com/2/dm_events/"{dm.id}"'}
        return 201, {"data": {"dm_conversation_id": dm.conversation_id, "dm_event_id": dm.id}}, headers

    @staticmethod
    def _dm_page(w: World, events: list[Any], q: dict[str, str]) -> _Result:
        types = views.csv_param(q, "event_types")
        if types and "MessageCreate" not in types:
            events = []
        page, token = views.simple_page(list(reversed(events)), q, 1, 100, 100, lambda d: d.id)
        fields = views.csv_param(q, "dm_event.fields")
        return 200, views.page_body([views.render_dm(d, fields) for d in page], token, newest_oldest=False), {}

    @staticmethod
    def dm_events(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Api._dm_page(w, w.dms_of.get(user, []), q)

    @staticmethod
    def dm_events_with(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        other = args[0]
        events = [d for d in w.dms_of.get(user, []) if other in (d.sender_id, d.recipient_id)]
        return _Api._dm_page(w, events, q)

    @staticmethod
    def dm_events_conv(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        events = [d for d in w.dms_of.get(user, []) if d.conversation_id == args[0]]
        return _Api._dm_page(w, events, q)


def _not_found(resource: str, parameter: str, value: str, text: str) -> dict[str, str]:
    return {
        "value": value,
        "detail": f"{text}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


class _Admin:
    @staticmethod
    def dispatch(s: SandboxServer, method: str, path: str, q: dict[str, str], body: Any) -> _Response:
        w = s.world
        b: dict[str, Any] = body if isinstance(body, dict) else {}
        key = (method, path.rstrip("/"))
        if key == ("POST", "/_sandbox/users"):
            followers = int(b["followers"]) if b.get("followers") is not None else None
            return _Response(200, {"id": w.add_user(str(b["username"]), b.get("name"), followers).id})
        if key == ("GET", "/_sandbox/users"):
            if "username" in q:
                user = w.user_by_name(q["username"])
                if user is None:
                    return _Response(
                        404,
                        {
                            "title": "Not Found",
                            "type": "about:blank",
                            "status": 404,
                            "detail": f"no user {q['username']}",
                        },
                    )
                return _Response(200, _admin_user(user))
            return _Response(200, {"users": [_admin_user(u) for u in w.users.values()]})
        if key == ("POST", "/_sandbox/tweets"):
            tweet = w.add_tweet(
                str(b["author_id"]),
                str(b["text"]),
                in_reply_to_tweet_id=str(b["in_reply_to_tweet_id"]) if b.get("in_reply_to_tweet_id") else None,
                quote_tweet_id=str(b["quote_tweet_id"]) if b.get("quote_tweet_id") else None,
                enforce=False,
            )
            return _Response(200, {"id": tweet.id})
        if key == ("GET", "/_sandbox/tweets"):
            ids = w.tweets_by_author.get(q["author_id"], []) if "author_id" in q else list(w.tweets)
            return _Response(200, {"tweets": [_admin_tweet(w.tweets[i]) for i in ids]})
        if key in (("POST", "/_sandbox/likes"), ("POST", "/_sandbox/retweets")):
            action = w.like if path.rstrip("/").endswith("likes") else w.retweet
            action(str(b["user_id"]), str(b["tweet_id"]), bool(b.get("on", True)))
            return _Response(200, {"ok": True})
        if key == ("POST", "/_sandbox/dms"):
            dm = w.add_dm(str(b["from_user_id"]), str(b["to_user_id"]), str(b["text"]), enforce=False)
            return _Response(200, {"id": dm.id, "dm_conversation_id": dm.conversation_id})
        if key == ("GET", "/_sandbox/dms"):
            dms = w.dms
            if "to_user_id" in q:
                dms = [d for d in dms if d.recipient_id == q["to_user_id"]]
            if "from_user_id" in q:
                dms = [d for d in dms if d.sender_id == q["from_user_id"]]
            return _Response(
                200,
                {
                    "dms": [
                        {
                            "id": d.id,
                            "from_user_id": d.sender_id,
                            "to_user_id": d.recipient_id,
                            "text": d.text,
                            "created_at": views.x_time(d.created_at),
                            "dm_conversation_id": d.conversation_id,
                        }
                        for d in dms
                    ]
                },
            )
        if key == ("GET", "/_sandbox/stats"):
            return _Response(200, s._stats_body())
        if key == ("POST", "/_sandbox/faults"):
            return _Response(200, s._configure_faults(b))
        if key == ("GET", "/_sandbox/faults"):
            return _Response(200, {**s.faults.describe(), "rate_limits": s.limiter.describe()})
        if key == ("POST", "/_sandbox/reset"):
            s.world = World(s.clock, s.ids)
            s.limiter.reset_defaults()
            s.faults = _Faults(s.seed)
            s.stats = _Stats()
            return _Response(200, {"ok": True})
        if key == ("GET", "/_sandbox/health"):
            return _Response(200, {"ok": True})
        return _Response(
            404,
            {"title": "Not Found", "type": "about:blank", "status": 404, "detail": f"no admin route {method} {path}"},
        )


def _admin_user(u: Any) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "name": u.name, "followers": u.followers}


def _admin_tweet(t: Any) -> dict[str, Any]:
    return {
        "id": t.id,
        "author_id": t.author_id,
        "text": t.text,
        "created_at": views.x_time(t.created_at),
        "in_reply_to_tweet_id": t.in_reply_to_tweet_id,
        "quote_tweet_id": t.quote_tweet_id,
        "deleted": t.deleted,
        "source": t.source,
    }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: SandboxServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox-x/1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(
                    _Response(
                        400,
                        {
                            "title": "Invalid Request",
                            "type": "about:blank",
                            "status": 400,
                            "detail": "Request body is not valid JSON",
                        },
                    )
                )
                return
        path = parts.path
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            self._send(sandbox.handle_admin(method, path, query, body))
            return
        resp, fault, hold = sandbox.handle_api(method, path, query, self.headers, body)
        if resp is None:
            if fault == "timeout" and hold > 0:
                time.sleep(hold)
            if fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if hold > 0:
            time.sleep(hold)
        self._send(resp)

    def _send(self, resp: _Response) -> None:
        payload = json.dumps(resp.body, separators=(",", ":"), ensure_ascii=False).encode()
        lines = [
            f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Error')}",
            "content-type: application/json; charset=utf-8",
            f"content-length: {len(payload)}",
            "x-access-level: read-write-directmessages",
        ]
        lines.extend(f"{k}: {v}" for k, v in resp.headers.items())
        if self.close_connection:
            lines.append("connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + payload)
