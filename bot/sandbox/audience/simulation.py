"""The Audience: seeded users who mention, reply, quote, like, retweet and DM the shop through /_sandbox/."""

from __future__ import annotations

import logging
import math
import random
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bot.sandbox import phrases
from bot.sandbox.audience.actor import Actor
from bot.sandbox.audience.orders import write_orders_csv
from bot.sandbox.audience.outcomes import PlantedOutcomes
from bot.sandbox.audience.pacing import Pacer
from bot.sandbox.audience.population import SimUser, make_communities, make_users
from bot.sandbox.audience.records import Action, GroundTruth
from bot.sandbox.audience.transport import AdminClient, KeepAlivePoster

logger = logging.getLogger(__name__)

COUNTERS = ("impressions", "bookmarks", "link_clicks", "profile_clicks")  # raised through POST /_sandbox/metrics
SETTLED_SECONDS = 10 * 86400  # exp(-10 d / 6 h): a post this old has all it will ever get


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class Audience:
    """Seeded synthetic users who mention, reply, quote, like, retweet and DM the shop through /_sandbox/."""

    def __init__(
        self,
        base_url: str,
        shop_handle: str,
        *,
        seed: int = 7,
        users: int = 200,
        communities: int = 5,
        influencers: int = 3,
        http: httpx.Client | None = None,
        odd_rate: float = 0.05,
    ) -> None:
        if users < 2 or communities < 1 or influencers < 0 or influencers >= users:
            raise ValueError("need users >= 2, communities >= 1 and 0 <= influencers < users")
        self.base_url = base_url.rstrip("/")
        self.shop_handle = shop_handle.lstrip("@")
        self.seed = seed
        self.odd_rate = odd_rate
        self.rng = random.Random(seed)
        self._api = AdminClient(self.base_url, http)
        self._lock = threading.RLock()
        self._pacer = Pacer(self.step)
        self.communities = make_communities(self.rng, min(communities, users))
        self.users = make_users(self.rng, self.communities, users, influencers, self.shop_handle)
        self._actor = Actor(self.rng, self._api, self.shop_handle, self.communities, self.users, odd_rate)
        self._ready = False
        self.counts: Counter[str] = Counter()
        self.outcomes = PlantedOutcomes(seed, self.communities, self.users)
        self._played: dict[str, dict[str, int]] = {}  # shop post -> likes / reposts the audience gave it
        self._played_at: dict[str, float] = {}  # shop post -> the moment it was last played up to (epoch seconds)
        self._settled: set[str] = set()  # shop posts played past SETTLED_SECONDS: their counts no longer change

    def close(self) -> None:
        self.stop()
        self._api.close()

    def __enter__(self) -> Audience:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def shop_id(self) -> str:
        return self._actor.shop_id

    @property
    def influencers(self) -> list[SimUser]:
        return self._actor.influencers

    # ---- setup --------------------------------------------------------------------------------------
    def setup(self) -> Audience:
        """Create the shop and every user (idempotent), and give each influencer a few posts to react to."""
        with self._lock:
            if self._ready:
                return self
            shop_id = str(self._api.call("POST", "/_sandbox/users", {"username": self.shop_handle})["id"])
            for u in self.users:
                # follower counts from a per-user seed (the audience's own rng sequence stays as it was)
                low, high = (5_000, 80_000) if u.influencer else (0, 400)
                reach = random.Random(f"{self.seed}:{u.username}").randint(low, high)
                body = {"username": u.username, "name": u.name, "followers": reach}
                u.id = str(self._api.call("POST", "/_sandbox/users", body)["id"])
            self._actor.meet(shop_id)
            self._ready = True
            for u in self.influencers:
                for _ in range(3):
                    self._actor.post(u)
            logger.info(
                "audience ready: %d users in %d communities, %d influencers, shop @%s (%s)",
                len(self.users),
                len(self.communities),
                len(self.influencers),
                self.shop_handle,
                self.shop_id,
            )
            return self

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.setup()

    # ---- actions --------------------------------------------------------------------------------------------
    def step(self, n: int = 1) -> list[Action]:
        """Perform n weighted random actions; returns what was done."""
        with self._lock:
            self._ensure_ready()
            out: list[Action] = []
            for _ in range(n):
                action = self._actor.random_action()
                self.counts[action.kind] += 1
                out.append(action)
            return out

    def showcase(self, *, odd: bool = True) -> list[Action]:
        """One mention per intent in English and in Chinese, one DM per intent, then (odd=True) every odd text."""
        with self._lock:
            self._ensure_ready()
            actor = self._actor
            out: list[Action] = []
            handle = f"@{self.shop_handle}"
            for language in ("en", "zh"):
                for intent in phrases.INTENTS:
                    user = actor.regular_user()
                    text = f"{handle} {actor.intent_text(user, intent, language)}"
                    out.append(actor.post_mention(user, text, intent, language))
            for intent in phrases.INTENTS:
                user = actor.regular_user()
                out.append(actor.dm(user, intent, actor.language(user)))
            if odd:
                sql_user = next((u for u in self.users if u.username == phrases.SQL_USER[0]), None)
                for i, (body, language, intent) in enumerate(phrases.ODD):
                    user = sql_user if (sql_user is not None and i == 0) else actor.regular_user()
                    body = body.replace("{shop}", self.shop_handle)
                    text = f"{handle} {body}" if body else handle
                    out.append(actor.post_mention(user, text, intent, language, odd=True))
            self.counts.update(a.kind for a in out)
            return out

    def mention_burst(
        self,
        count: int,
        *,
        intents: Sequence[str] | None = None,
        language_mix: float = 0.2,
        odd_rate: float = 0.0,
    ) -> list[Action]:
        """Inject `count` mentions of the shop as fast as the admin API takes them.

        One keep-alive stdlib HTTP connection (about 2.4x the rate of httpx here: ~2,400 mentions/s against an
        in-process sandbox); the admin API has no bulk endpoint.

        intents: restrict to these intents (default: every intent, community-weighted).
        language_mix: share of Chinese texts. odd_rate: share of odd/hostile texts.
        """
        with self._lock:
            self._ensure_ready()
            actor, rng = self._actor, self.rng
            handle = f"@{self.shop_handle}"
            out: list[Action] = []
            with KeepAlivePoster(self.base_url) as poster:
                for _ in range(count):
                    user = actor.regular_user()
                    if odd_rate and rng.random() < odd_rate:
                        text, intent, language, odd = actor.mention_text(user, odd_rate=1.0)
                    else:
                        language = "zh" if rng.random() < language_mix else "en"
                        intent = actor.intent(user, intents)
                        text = f"{handle} {actor.intent_text(user, intent, language)}"
                        odd = False
                    tid = str(poster.post("/_sandbox/tweets", {"author_id": user.id, "text": text})["id"])
                    actor.truth.record(tid, intent, language, user)
                    out.append(actor.mention_action(user, text, tid, intent, language, odd))
            self.counts["mention"] += count
            return out

    # ---- pacing ------------------------------------------------------------------------------------------
    def run(self, rate_per_s: float, seconds: float, stop: threading.Event | None = None) -> list[Action]:
        """Perform about rate_per_s actions per second for `seconds` (or until `stop` is set)."""
        return self._pacer.run(rate_per_s, seconds, stop)

    def start_background(self, rate_per_s: float) -> Audience:
        """Act at rate_per_s in a daemon thread until stop(); sandbox errors are logged and retried."""
        self._pacer.start_background(rate_per_s)
        return self

    def stop(self) -> None:
        self._pacer.stop()

    def play(self, now: datetime) -> int:
        """Bring every shop post's views, likes, reposts, bookmarks and clicks up to what the planted outcomes
        give at `now` (the sandbox clock's time; bot/sandbox/audience/outcomes.py), hour by hour since the post was
        last played: each like and repost dated inside the hour it arrived in, the counters raised as a series of
        what they were at each hour's end (the sandbox's analytics buckets them); returns the posts raised."""
        with self._lock:
            self._ensure_ready()
            body = self._api.call("GET", "/_sandbox/tweets", params={"author_id": self.shop_id})
            raised = 0
            for tweet in body.get("tweets", []):
                if tweet.get("deleted"):
                    continue
                posted = datetime.strptime(tweet["created_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
                reply = tweet.get("in_reply_to_tweet_id") is not None
                if self._play_post(tweet["id"], tweet["text"], posted, reply, now):
                    raised += 1
            return raised

    def _play_post(self, tweet_id: str, text: str, posted: datetime, reply: bool, now: datetime) -> bool:
        def counts(at: float) -> dict[str, int]:
            return self.outcomes.expected(tweet_id, text, posted, at - posted.timestamp(), reply)

        given = self._played.setdefault(tweet_id, {"likes": 0, "reposts": 0, "impressions": -1})
        end = now.timestamp()
        if tweet_id in self._settled or counts(end)["impressions"] <= given["impressions"]:
            return False
        if end - posted.timestamp() > SETTLED_SECONDS:
            self._settled.add(tweet_id)
        last = self._played_at.get(tweet_id, posted.timestamp())
        moments = [float(h) for h in range(int(last // 3600 + 1) * 3600, math.ceil(end), 3600) if h < end]
        series: list[dict[str, Any]] = []
        for at in [*moments, end]:
            step = counts(at)
            if step["impressions"] > given["impressions"]:
                for name, path in (("likes", "/_sandbox/likes"), ("reposts", "/_sandbox/retweets")):
                    order = random.Random(f"{self.seed}:{name}:{tweet_id}").sample(self.users, len(self.users))
                    new = order[given[name] : min(step[name], len(order))]
                    for j, user in enumerate(new):
                        when = last + (j + 0.5) / len(new) * (at - last)  # inside (last, at): the hour it came in
                        self._api.call("POST", path, {"user_id": user.id, "tweet_id": tweet_id, "at": _iso(when)})
                        given[name] += 1
                series.append({"at": _iso(at), **{k: step[k] for k in COUNTERS}})
                given["impressions"] = step["impressions"]
            last = at
        self._played_at[tweet_id] = end
        if series:
            self._api.call("POST", "/_sandbox/metrics", {"tweet_id": tweet_id, "series": series})
        return True

    # ---- evaluation data ---------------------------------------------------------------------------------
    def ground_truth(self) -> GroundTruth:
        with self._lock:
            return self._actor.truth.ground_truth(self.users)

    def write_orders_csv(self, path: str | Path, **options: Any) -> int:
        """Write handle,order_id,amount,time for the audience; returns the number of orders.

        Options (orders_per_user, until, days, product_column) as bot.sandbox.audience.orders.write_orders_csv.
        """
        return write_orders_csv(self.users, self.communities, self.seed, path, **options)

    def summary(self) -> dict[str, Any]:
        """Counts for logs and the demo: actions by kind, and texts that reached the shop by intent."""
        with self._lock:
            truth = self._actor.truth
            return {
                "actions": dict(sorted(self.counts.items())),
                "intents": dict(sorted(Counter(truth.intents.values()).items())),
                "dms": len(truth.dm_ids),
            }
