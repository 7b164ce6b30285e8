"""Everything one sandbox remembers: the world, the rate-limit windows, the faults it injects and what it counted.

Not thread-safe by itself: the server holds one lock around every use.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from bot.core.clock import Clock
from bot.sandbox.pricing import PricedCall, summary
from bot.sandbox.ratelimit import RateLimiter
from bot.sandbox.world import IdGenerator, World

# the fault settings in the order /_sandbox/faults shows them; the float ones are set by name
_FAULT_FIELDS = (
    "error_rate",
    "timeout_rate",
    "reset_rate",
    "timeout_seconds",
    "burst_429",
    "burst_reset_seconds",
    "burst_endpoint",
    "latency_seconds",
)
_FLOAT_FIELDS = (
    "error_rate",
    "timeout_rate",
    "reset_rate",
    "timeout_seconds",
    "burst_reset_seconds",
    "latency_seconds",
)


class Faults:
    """Failures on purpose: 503s, timeouts and connection resets at random (seeded), bursts of 429, latency."""

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
        return {name: getattr(self, name) for name in _FAULT_FIELDS}

    def configure(self, conf: dict[str, Any]) -> None:
        for name in _FLOAT_FIELDS:
            if name in conf and conf[name] is not None:
                setattr(self, name, float(conf[name]))
        if "burst_429" in conf:
            self.burst_429 = int(conf["burst_429"] or 0)
        if "burst_endpoint" in conf:
            self.burst_endpoint = conf["burst_endpoint"]
        if "seed" in conf:
            self.rng = random.Random(conf["seed"])

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


class Stats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.rate_limited = 0
        self.rate_limited_by_endpoint: Counter[str] = Counter()
        self.faults = {"error": 0, "timeout": 0, "reset": 0}
        self.early_requests = 0
        self.early_by_endpoint: Counter[str] = Counter()
        self.priced: list[PricedCall] = []  # answered requests X bills (bot.sandbox.pricing)
        self.priced_unanswered: list[PricedCall] = []  # processed, billed, answer dropped (timeout fault)


class SandboxState:
    """The world with its ids and clock, the rate limiter, the faults and the stats."""

    def __init__(self, clock: Clock, seed: int | None) -> None:
        self.clock = clock
        self.seed = seed
        self.ids = IdGenerator(clock)
        self.world = World(clock, self.ids)
        self.limiter = RateLimiter()
        self.faults = Faults(seed)
        self.stats = Stats()

    def now(self) -> float:
        return self.clock.now().timestamp()

    def reset(self) -> None:
        """Empty world, faults off, default limits, zeroed stats (ids keep increasing)."""
        self.world = World(self.clock, self.ids)
        self.limiter.reset_defaults()
        self.faults = Faults(self.seed)
        self.stats = Stats()

    def configure_faults(self, conf: dict[str, Any]) -> dict[str, Any]:
        self.faults.configure(conf)
        if "rate_limits" in conf:
            self.limiter.configure(conf["rate_limits"])
        return self.faults_body()

    def faults_body(self) -> dict[str, Any]:
        return {**self.faults.describe(), "rate_limits": self.limiter.describe()}

    def stats_body(self) -> dict[str, Any]:
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
            "priced": summary(s.priced, s.priced_unanswered),
        }
