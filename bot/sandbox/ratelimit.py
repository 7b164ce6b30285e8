"""Per-endpoint, per-user fixed windows with X's x-rate-limit-* semantics, plus the early-request tally."""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_WINDOW = 900.0
DISABLED_LIMIT = 1_000_000_000

# Per-user limits per 15 minutes (PLATFORMS.md table; lookups 75; others as X documents them).
DEFAULT_LIMITS: dict[str, int] = {
    "POST /2/tweets": 100,
    "DELETE /2/tweets/:id": 50,
    "GET /2/tweets": 900,
    "GET /2/tweets/:id": 900,
    "GET /2/tweets/analytics": 300,
    "GET /2/tweets/:id/liking_users": 75,
    "GET /2/tweets/:id/retweeted_by": 75,
    "GET /2/tweets/:id/quote_tweets": 75,
    "GET /2/users/me": 75,
    "GET /2/users/:id/tweets": 900,
    "GET /2/users/:id/mentions": 300,
    "POST /2/users/:id/likes": 50,
    "DELETE /2/users/:id/likes/:tweet_id": 50,
    "POST /2/users/:id/retweets": 50,
    "DELETE /2/users/:id/retweets/:tweet_id": 50,
    "POST /2/dm_conversations/with/:id/messages": 15,
    "GET /2/dm_events": 15,
    "GET /2/dm_conversations/with/:id/dm_events": 15,
    "GET /2/dm_conversations/:id/dm_events": 15,
}


@dataclass
class Window:
    limit: int
    used: int
    reset: int  # epoch seconds; the window is over when now >= reset
    throttled: bool = False  # a 429 was served in this window


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    early: bool  # arrived after a 429 and before that window's reset


class RateLimiter:
    """Not thread-safe by itself; the server calls it under its lock."""

    def __init__(self) -> None:
        self.limits: dict[str, tuple[int, float]] = {}
        self.enabled = True
        self._windows: dict[tuple[str, str], Window] = {}
        self.reset_defaults()

    def reset_defaults(self) -> None:
        self.limits = {k: (v, DEFAULT_WINDOW) for k, v in DEFAULT_LIMITS.items()}
        self.enabled = True
        self._windows.clear()

    def configure(self, rate_limits: dict[str, dict[str, float] | None] | None) -> None:
        """None disables every limit; a mapping overrides (or, with a None value, disables) endpoints."""
        self._windows.clear()
        if rate_limits is None:
            self.enabled = False
            return
        self.enabled = True
        for endpoint, conf in rate_limits.items():
            if conf is None:
                self.limits[endpoint] = (DISABLED_LIMIT, DEFAULT_WINDOW)
            else:
                old_limit, old_window = self.limits.get(endpoint, (DISABLED_LIMIT, DEFAULT_WINDOW))
                self.limits[endpoint] = (
                    int(conf.get("limit", old_limit)),
                    float(conf.get("window", old_window)),
                )

    def describe(self) -> dict[str, dict[str, float]] | None:
        if not self.enabled:
            return None
        return {k: {"limit": lim, "window": win} for k, (lim, win) in sorted(self.limits.items())}

    def _conf(self, endpoint: str) -> tuple[int, float]:
        if not self.enabled:
            return DISABLED_LIMIT, DEFAULT_WINDOW
        return self.limits.get(endpoint, (DISABLED_LIMIT, DEFAULT_WINDOW))

    def _window(self, endpoint: str, user: str, now: float) -> Window:
        key = (endpoint, user)
        win = self._windows.get(key)
        if win is None or now >= win.reset:
            limit, seconds = self._conf(endpoint)
            win = Window(limit=limit, used=0, reset=math.ceil(now + seconds))
            self._windows[key] = win
        return win

    def hit(self, endpoint: str, user: str, now: float) -> Verdict:
        win = self._window(endpoint, user, now)
        early = win.throttled
        if win.used >= win.limit:
            win.throttled = True
            return Verdict(False, win.limit, 0, win.reset, early)
        win.used += 1
        return Verdict(True, win.limit, win.limit - win.used, win.reset, early)

    def exhaust(self, endpoint: str, user: str, now: float, seconds: float) -> Verdict:
        """Burst fault: use the window up now, resetting `seconds` from now; a 429 is served."""
        win = self._window(endpoint, user, now)
        early = win.throttled
        win.used = win.limit
        win.reset = math.ceil(now + seconds)
        win.throttled = True
        return Verdict(False, win.limit, 0, win.reset, early)
