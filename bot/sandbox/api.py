"""The X API v2 subset socialbot uses, answered from the sandbox state: routes, faults, auth, rate limits, handlers.

Every handler takes (world, acting user id, path arguments, query, JSON body) and returns (status, body, headers).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from bot.sandbox import analytics, metrics, pricing, views
from bot.sandbox.responses import Response, problem_body
from bot.sandbox.state import SandboxState
from bot.sandbox.world import SandboxRejection, World, invalid_request, problem

_OAUTH_TOKEN_RE = re.compile(r'oauth_token="([^"]*)"')

# (method, regex, route template, handler name)
_API_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = [
    (m, re.compile(f"^{p}$"), t, h)
    for m, p, t, h in [
        ("POST", r"/2/tweets", "POST /2/tweets", "create_tweet"),
        ("DELETE", r"/2/tweets/(\d+)", "DELETE /2/tweets/:id", "delete_tweet"),
        ("GET", r"/2/tweets", "GET /2/tweets", "get_tweets"),
        ("GET", r"/2/tweets/analytics", "GET /2/tweets/analytics", "tweets_analytics"),
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

UNAUTHORIZED = problem_body(401, "Unauthorized", "Unauthorized")
TOO_MANY = problem_body(429, "Too Many Requests", "Too Many Requests")
UNAVAILABLE = problem_body(503, "Service Unavailable", "Service Unavailable")

_Result = tuple[int, Any, dict[str, str]]


def handle(
    state: SandboxState, method: str, path: str, query: dict[str, str], headers: Any, body: Any
) -> tuple[Response | None, str | None, float]:
    """Returns (response or None for a dropped connection, fault kind, seconds to hold before drop)."""
    route = _route(method, path)
    stats = state.stats
    if route is None:
        stats.requests["unmatched"] += 1
        return (
            Response(404, problem_body(404, "Not Found Error", f"Sorry, that page does not exist: {method} {path}")),
            None,
            0,
        )
    template, handler, args = route
    stats.requests[template] += 1
    fault = state.faults.draw()
    if fault is not None:
        stats.faults[fault] += 1
    if fault == "reset":
        return None, "reset", 0
    if fault == "error":
        return Response(503, UNAVAILABLE), "error", 0
    user = _acting_user(state.world, headers)
    if user is None:
        return Response(401, UNAUTHORIZED), fault, 0
    now = state.now()
    f = state.faults
    if f.burst_429 > 0 and (f.burst_endpoint is None or f.burst_endpoint == template):
        f.burst_429 -= 1
        verdict = state.limiter.exhaust(template, user, now, f.burst_reset_seconds)
    else:
        verdict = state.limiter.hit(template, user, now)
    rl_headers = {
        "x-rate-limit-limit": str(verdict.limit),
        "x-rate-limit-remaining": str(verdict.remaining),
        "x-rate-limit-reset": str(verdict.reset),
    }
    if verdict.early:
        stats.early_requests += 1
        stats.early_by_endpoint[template] += 1
    if not verdict.allowed:
        stats.rate_limited += 1
        stats.rate_limited_by_endpoint[template] += 1
        return Response(429, TOO_MANY, rl_headers), fault, 0
    try:
        status, payload, extra = getattr(_Handlers, handler)(state.world, user, args, query, body)
    except SandboxRejection as rej:
        status, payload, extra = rej.status, rej.body, {}
    resp = Response(status, payload, {**rl_headers, **extra})
    if 200 <= status < 300:
        answered = fault != "timeout"
        pricing.count(
            stats.priced, stats.priced_unanswered, state.world, user, template, args, payload, body, answered=answered
        )
    if fault == "timeout":
        return None, "timeout", f.timeout_seconds
    return resp, fault, f.latency_seconds if method != "GET" else 0


def _route(method: str, path: str) -> tuple[str, str, tuple[str, ...]] | None:
    for m, rx, template, handler in _API_ROUTES:
        match = rx.match(path)
        if match and m == method:
            return template, handler, match.groups()
    return None


def _acting_user(world: World, headers: Any) -> str | None:
    auth = headers.get("Authorization") or ""
    token = ""
    if auth.startswith("OAuth "):
        m = _OAUTH_TOKEN_RE.search(auth)
        token = unquote(m.group(1)) if m else ""
    elif auth.startswith("Bearer "):
        token = auth[7:].strip()
    uid = token.split("-", 1)[0] if "-" in token else ""
    return uid if uid in world.users else None


def _missing(resource: str, value: str) -> _Result:
    """X answers 200 with an `errors` list when the tweet or user asked for does not exist."""
    error = {
        "value": value,
        "detail": f"Could not find {resource} with id: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": "id",
        "resource_id": value,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }
    return 200, {"errors": [error]}, {}


class _Handlers:
    """X API v2 handlers: (world, acting user, path args, query, json body) -> (status, body, headers)."""

    @staticmethod
    def create_tweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise invalid_request("text", "", "The `text` field is required for a Tweet without media.")
        edit = body.get("edit_options") or {}
        if edit:  # OpenAPI's CreatePostsRequest.edit_options: edit the author's latest version of a post
            if not isinstance(edit, dict) or not str(edit.get("previous_post_id") or "").isdigit():
                raise invalid_request(
                    "edit_options.previous_post_id", str(edit), "`edit_options.previous_post_id` must be a post id."
                )
            tweet = w.edit_tweet(str(edit["previous_post_id"]), body["text"], acting_user=user)
        else:
            reply = body.get("reply") or {}
            tweet = w.add_tweet(
                user,
                body["text"],
                in_reply_to_tweet_id=str(reply["in_reply_to_tweet_id"]) if reply.get("in_reply_to_tweet_id") else None,
                quote_tweet_id=str(body["quote_tweet_id"]) if body.get("quote_tweet_id") else None,
            )
        data = views.tweet_data(w, tweet)
        return 201, {"data": data}, {"location": f"https://api.twitter.com/2/tweets/{tweet.id}"}

    @staticmethod
    def delete_tweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        w.delete_tweet(args[0], user)
        return 200, {"data": {"deleted": True}}, {}

    @staticmethod
    def get_tweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        tweet = w.visible(args[0])
        if tweet is None:
            return _missing("tweet", args[0])
        fields = views.tweet_fields(q)
        refused = metrics.refused(w, tweet, user, fields, "id")
        if refused:  # X: 200 with only the errors
            return 200, {"errors": refused}, {}
        out: dict[str, Any] = {"data": metrics.add_private(w, tweet, fields, views.render_tweet(w, tweet, fields))}
        includes = views.tweet_includes(w, [tweet], q)
        if includes:
            out["includes"] = includes
        return 200, out, {}

    @staticmethod
    def get_tweets(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        """GET /2/tweets?ids=: up to 100 posts; a missing one or one whose private metrics are refused is left out
        of `data` and told in `errors`."""
        raw = q.get("ids") or ""
        ids = [i.strip() for i in raw.split(",") if i.strip()]
        if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
            raise invalid_request("ids", raw, "The `ids` query parameter value must be 1 to 100 comma-separated ids")
        fields = views.tweet_fields(q)
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        found = []
        for tid in ids:
            tweet = w.visible(tid)
            if tweet is None:
                errors.extend(_missing("tweet", tid)[1]["errors"])
                errors[-1]["parameter"] = "ids"
                continue
            refused = metrics.refused(w, tweet, user, fields, "ids")
            if refused:
                errors.extend(refused)
                continue
            found.append(tweet)
            data.append(metrics.add_private(w, tweet, fields, views.render_tweet(w, tweet, fields)))
        out: dict[str, Any] = {"data": data} if data else {}
        includes = views.tweet_includes(w, found, q)
        if includes:
            out["includes"] = includes
        if errors:
            out["errors"] = errors
        return 200, out, {}

    @staticmethod
    def tweets_analytics(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        """GET /2/tweets/analytics: time-bucketed metrics of the caller's own posts (bot/sandbox/analytics.py)."""
        return 200, analytics.answer(w, user, q), {}

    @staticmethod
    def _users_of(w: World, table: dict[str, list[str]], tid: str, q: dict[str, str]) -> _Result:
        if w.visible(tid) is None:
            return _missing("tweet", tid)
        users = [w.users[u] for u in reversed(table.get(tid, []))]
        page, token = views.simple_page(users, q, 1, 100, 100, lambda u: u.id)
        fields = views.csv_param(q, "user.fields")
        body = views.page_body([views.render_user(u, fields) for u in page], token, newest_oldest=False)
        return 200, body, {}

    @staticmethod
    def liking_users(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Handlers._users_of(w, w.likes_of, args[0], q)

    @staticmethod
    def retweeted_by(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Handlers._users_of(w, w.retweets_of, args[0], q)

    @staticmethod
    def quote_tweets(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        if w.visible(args[0]) is None:
            return _missing("tweet", args[0])
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
            return _missing("user", args[0])
        return _Handlers._timeline(w, w.tweets_by_author.get(args[0], []), q, 3200, views.csv_param(q, "exclude"))

    @staticmethod
    def user_mentions(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        if args[0] not in w.users:
            return _missing("user", args[0])
        return _Handlers._timeline(w, w.mentions_of.get(args[0], []), q, 800, set())

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
        return _Handlers._toggle(w, user, args[0], (body or {}).get("tweet_id"), "liked", True)

    @staticmethod
    def unlike(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Handlers._toggle(w, user, args[0], args[1], "liked", False)

    @staticmethod
    def retweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Handlers._toggle(w, user, args[0], (body or {}).get("tweet_id"), "retweeted", True)

    @staticmethod
    def unretweet(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        return _Handlers._toggle(w, user, args[0], args[1], "retweeted", False)

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
        return _Handlers._dm_page(w, w.dms_of.get(user, []), q)

    @staticmethod
    def dm_events_with(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        other = args[0]
        events = [d for d in w.dms_of.get(user, []) if other in (d.sender_id, d.recipient_id)]
        return _Handlers._dm_page(w, events, q)

    @staticmethod
    def dm_events_conv(w: World, user: str, args: tuple[str, ...], q: dict[str, str], body: Any) -> _Result:
        events = [d for d in w.dms_of.get(user, []) if d.conversation_id == args[0]]
        return _Handlers._dm_page(w, events, q)
