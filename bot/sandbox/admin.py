"""The /_sandbox/ admin API: build the world (users, tweets, likes, DMs), read it back, set faults, count, reset.

Admin writes skip X's rules (length, duplicates, who may reply, DM or edit) and are never faulted or rate-limited.
Texts go in and come out as written (X's endpoints serve them HTML-escaped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sandbox import metrics, views
from bot.sandbox.responses import Response, problem_response
from bot.sandbox.state import SandboxState
from bot.sandbox.world import SandboxRejection, SbDM, SbTweet, SbUser, World

_Query = dict[str, str]
_Body = dict[str, Any]


def handle(state: SandboxState, method: str, path: str, query: _Query, body: Any) -> Response:
    route = _ROUTES.get((method, path.rstrip("/")))
    if route is None:
        return problem_response(404, "Not Found", f"no admin route {method} {path}")
    try:
        return route(state, query, body if isinstance(body, dict) else {})
    except SandboxRejection as rej:
        return Response(rej.status, rej.body)
    except (KeyError, TypeError, ValueError) as exc:
        return problem_response(400, "Invalid Request", f"bad admin request: {exc!r}")


def _ok(body: Any) -> Response:
    return Response(200, body)


def _optional(b: _Body, key: str) -> str | None:
    return str(b[key]) if b.get(key) else None


def _add_user(s: SandboxState, q: _Query, b: _Body) -> Response:
    followers = int(b["followers"]) if b.get("followers") is not None else None
    return _ok({"id": s.world.add_user(str(b["username"]), b.get("name"), followers).id})


def _users(s: SandboxState, q: _Query, b: _Body) -> Response:
    if "username" not in q:
        return _ok({"users": [_user(u) for u in s.world.users.values()]})
    user = s.world.user_by_name(q["username"])
    if user is None:
        return problem_response(404, "Not Found", f"no user {q['username']}")
    return _ok(_user(user))


def _add_tweet(s: SandboxState, q: _Query, b: _Body) -> Response:
    tweet = s.world.add_tweet(
        str(b["author_id"]),
        str(b["text"]),
        in_reply_to_tweet_id=_optional(b, "in_reply_to_tweet_id"),
        quote_tweet_id=_optional(b, "quote_tweet_id"),
        enforce=False,
    )
    return _ok({"id": tweet.id})


def _edit_tweet(s: SandboxState, q: _Query, b: _Body) -> Response:
    """A simulated user edits their post: as on X, a new post whose history lists the earlier versions (X's rules
    on who, when and how often are skipped, like every admin write)."""
    tweet = s.world.edit_tweet(str(b["tweet_id"]), str(b["text"]), enforce=False)
    return _ok({"id": tweet.id, "edit_history_tweet_ids": s.world.edit_history(tweet)})


def _tweets(s: SandboxState, q: _Query, b: _Body) -> Response:
    w = s.world
    ids = w.tweets_by_author.get(q["author_id"], []) if "author_id" in q else list(w.tweets)
    return _ok({"tweets": [_tweet(w, w.tweets[i]) for i in ids]})


def _reaction(kind: str) -> Callable[[SandboxState, _Query, _Body], Response]:
    def react(s: SandboxState, q: _Query, b: _Body) -> Response:
        action = s.world.like if kind == "likes" else s.world.retweet
        action(str(b["user_id"]), str(b["tweet_id"]), bool(b.get("on", True)), at=_at(b))
        return _ok({"ok": True})

    return react


def _raise_metrics(s: SandboxState, q: _Query, b: _Body) -> Response:
    """The audience's views, bookmarks and clicks of a post: each counter set to at least the value given, as of
    `at` (ISO 8601, default now); or `series`: a list of such raises, oldest first (an hour-by-hour history)."""
    tweet_id = str(b["tweet_id"])
    steps = b["series"] if isinstance(b.get("series"), list) else [b]
    counters: dict[str, int] = {}
    for step in steps:
        counters = metrics.raise_counters(s.world, tweet_id, step, _at(step))
    return _ok({"tweet_id": tweet_id, **counters})


def _at(b: _Body) -> float | None:
    """An admin write's `at` (ISO 8601) as epoch seconds; None when absent."""
    return views.parse_time("at", str(b["at"])) if b.get("at") else None


def _add_dm(s: SandboxState, q: _Query, b: _Body) -> Response:
    dm = s.world.add_dm(str(b["from_user_id"]), str(b["to_user_id"]), str(b["text"]), enforce=False)
    return _ok({"id": dm.id, "dm_conversation_id": dm.conversation_id})


def _dms(s: SandboxState, q: _Query, b: _Body) -> Response:
    dms = s.world.dms
    if "to_user_id" in q:
        dms = [d for d in dms if d.recipient_id == q["to_user_id"]]
    if "from_user_id" in q:
        dms = [d for d in dms if d.sender_id == q["from_user_id"]]
    return _ok({"dms": [_dm(d) for d in dms]})


def _reset(s: SandboxState, q: _Query, b: _Body) -> Response:
    s.reset()
    return _ok({"ok": True})


_ROUTES: dict[tuple[str, str], Callable[[SandboxState, _Query, _Body], Response]] = {
    ("POST", "/_sandbox/users"): _add_user,
    ("GET", "/_sandbox/users"): _users,
    ("POST", "/_sandbox/tweets"): _add_tweet,
    ("GET", "/_sandbox/tweets"): _tweets,
    ("POST", "/_sandbox/edits"): _edit_tweet,
    ("POST", "/_sandbox/likes"): _reaction("likes"),
    ("POST", "/_sandbox/retweets"): _reaction("retweets"),
    ("POST", "/_sandbox/metrics"): _raise_metrics,
    ("POST", "/_sandbox/dms"): _add_dm,
    ("GET", "/_sandbox/dms"): _dms,
    ("GET", "/_sandbox/stats"): lambda s, q, b: _ok(s.stats_body()),
    ("GET", "/_sandbox/priced"): lambda s, q, b: _ok({"calls": [c.as_json() for c in s.stats.priced]}),
    ("POST", "/_sandbox/faults"): lambda s, q, b: _ok(s.configure_faults(b)),
    ("GET", "/_sandbox/faults"): lambda s, q, b: _ok(s.faults_body()),
    ("POST", "/_sandbox/reset"): _reset,
    ("GET", "/_sandbox/health"): lambda s, q, b: _ok({"ok": True}),
}


def _user(u: SbUser) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "name": u.name, "followers": u.followers}


def _tweet(w: World, t: SbTweet) -> dict[str, Any]:
    """A post as it was written (the admin API shows text unescaped, unlike X's endpoints)."""
    return {
        "id": t.id,
        "author_id": t.author_id,
        "text": t.text,
        "created_at": views.x_time(t.created_at),
        "in_reply_to_tweet_id": t.in_reply_to_tweet_id,
        "quote_tweet_id": t.quote_tweet_id,
        "deleted": t.deleted,
        "source": t.source,
        "edit_history_tweet_ids": w.edit_history(t),
    }


def _dm(d: SbDM) -> dict[str, Any]:
    return {
        "id": d.id,
        "from_user_id": d.sender_id,
        "to_user_id": d.recipient_id,
        "text": d.text,
        "created_at": views.x_time(d.created_at),
        "dm_conversation_id": d.conversation_id,
    }
