"""A simulated audience for the sandbox: seeded users in communities, planted influencers, and what they do.

    audience = Audience(sandbox.url, "lumenhome", seed=7, users=200, communities=5, influencers=3)
    audience.setup()                       # creates the users (idempotent) and the influencers' first posts
    audience.step(50)                      # 50 weighted random actions -> list[Action]
    audience.run(rate_per_s=5, seconds=10) # paced; or start_background(rate_per_s) / stop()
    audience.mention_burst(100_000)        # fast injection of mentions for benchmarks
    audience.showcase()                    # one mention per intent and language, plus every odd/hostile text
    truth = audience.ground_truth()        # communities, influencers, intent of every text that reaches the shop
    audience.write_orders_csv(path)        # handle,order_id,amount,time

Everything goes through the sandbox's /_sandbox/ admin API over HTTP. Every random choice comes from one
random.Random(seed) (never the global RNG), so a seed replays the same users, texts and actions against the
same world. Ids come from the server, so they differ between runs; texts, users and kinds do not.

The bot only sees what reaches the shop's account, so the planted structure shows there too: influencers post
shout-outs that @mention the shop; part of the audience's mentions of the shop are replies under the shout-out of
an influencer of their community ("@influencer @shop ...", in_reply_to_user_id = the influencer, as X writes a
reply to a post that mentions the shop); group mentions often tag the community's influencer; shop-summoning
quotes often quote a shout-out and tag its author. The share of actions that reach the shop, and their intents,
are what they were without this; the audience's own chatter (never mentioning the shop) is unchanged.
"""

from __future__ import annotations

import csv
import http.client
import json
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.core.errors import BotError
from bot.sandbox import phrases

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("mention", "group_mention", "reply", "quote", "like", "retweet", "dm", "post")
_KIND_WEIGHTS: tuple[int, ...] = (30, 6, 18, 6, 14, 8, 10, 8)
_BASE_INTENT_WEIGHTS: dict[str, float] = {
    "question": 30,
    "complaint": 18,
    "coupon_request": 15,
    "praise": 22,
    "opt_out": 4,
    "other": 11,
}
_TWEET_MEMORY = 300  # tweets remembered per community as reply/quote/like material
# What makes the planted influencers visible from the shop's side (its mentions timeline):
_STAR_MENTION_SHARE = 0.2  # mentions of the shop made under an influencer's shout-out instead (same intents)
_FRESH_SHOUT_OUT = 0.15  # ... or, that often (always when it has none yet), the influencer's new shout-out itself
_STAR_QUOTE_SHARE = 0.5  # shop-summoning quotes that quote an influencer's shout-out (tagging it) not a shop post
_GROUP_STAR_SHARE = 0.5  # group mentions that tag an influencer of the author's community among the friends
_OWN_STAR = 0.85  # an influencer of one's own community (when there is one) rather than any
_SHOP_REFRESH_EVERY = 25  # actions between GET /_sandbox/tweets?author_id=<shop>


class AudienceError(BotError):
    """The sandbox admin API could not be reached or refused an audience action."""


class _KeepAlivePoster:
    """POST JSON over one keep-alive http.client connection (reconnects once if the server closed it)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url}")
        factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = factory(parts.hostname, parts.port, timeout=timeout)
        self._prefix = parts.path.rstrip("/")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        for attempt in (1, 2):
            try:
                self._conn.request("POST", self._prefix + path, body=payload, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._conn.close()
                if attempt == 2:
                    raise AudienceError(f"POST {path}: {exc!r}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._conn.close()
                raise AudienceError(f"POST {path}: {exc!r}") from exc
        if resp.status >= 400:
            raise AudienceError(f"POST {path}: HTTP {resp.status} {data[:300].decode(errors='replace')}")
        return json.loads(data)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> _KeepAlivePoster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a simulated user did.

    tweet_id: the tweet or DM id the action created; for like/retweet the tweet acted on.
    target_id: the tweet replied to, quoted, liked or retweeted.
    summons_shop: the text reaches the shop (in its mentions timeline or its DMs).
    """

    kind: str
    user_id: str
    username: str
    text: str | None
    tweet_id: str | None
    intent: str | None
    language: str | None
    target_id: str | None = None
    mentioned: tuple[str, ...] = ()
    summons_shop: bool = False
    odd: bool = False


@dataclass
class GroundTruth:
    """What the evaluation compares against.

    intents: tweet or DM id -> intent, for every text that reached the shop (mentions, shop replies, DMs).
    dm_ids: which of those ids are DMs. opt_outs: users who sent an opt_out text.
    """

    communities: dict[str, int]
    influencers: list[str]
    intents: dict[str, str]
    languages: dict[str, str] = field(default_factory=dict)
    dm_ids: set[str] = field(default_factory=set)
    usernames: dict[str, str] = field(default_factory=dict)
    opt_outs: set[str] = field(default_factory=set)


@dataclass
class Community:
    index: int
    zh_share: float  # chance a member writes in Chinese
    intent_weights: dict[str, float]
    products: list[int]  # favourite product indices (orders and texts lean on them)
    spend: float  # order amount multiplier
    order_rate: float  # order count multiplier
    recency: float  # exponent on order age: >1 recent buyers, <1 lapsed


@dataclass
class SimUser:
    username: str
    name: str
    community: int
    influencer: bool
    chinese: bool
    id: str = ""


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
        self._own_http = http is None
        self._http = http or httpx.Client(
            base_url=self.base_url, trust_env=False, timeout=10.0, headers={"content-type": "application/json"}
        )
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.communities = self._make_communities(min(communities, users))
        self.users = self._make_users(users, influencers)
        self.shop_id = ""
        self._ready = False
        self._by_id: dict[str, SimUser] = {}
        self._members: dict[int, list[SimUser]] = {}
        self._regular: list[SimUser] = []
        self._influencer_tweets: dict[str, list[str]] = {}
        self._shout_outs: dict[str, list[str]] = {}  # influencer id -> their posts that mention the shop
        self._community_tweets: dict[int, list[tuple[str, str]]] = {}  # community -> [(tweet id, author id)]
        self._shop_tweets: list[str] = []
        self._since_shop_refresh = _SHOP_REFRESH_EVERY
        self._truth_intents: dict[str, str] = {}
        self._truth_languages: dict[str, str] = {}
        self._dm_ids: set[str] = set()
        self._opt_outs: set[str] = set()
        self.counts: Counter[str] = Counter()

    # ---- population ------------------------------------------------------------------------------
    def _make_communities(self, count: int) -> list[Community]:
        rng = self.rng
        out: list[Community] = []
        n_products = len(phrases.PRODUCTS)
        for i in range(count):
            weights = {k: v * rng.uniform(0.6, 1.5) for k, v in _BASE_INTENT_WEIGHTS.items()}
            if i % 3 == 1:
                weights["complaint"] *= 2.2  # a grumpy community
            if i % 3 == 2:
                weights["praise"] *= 2.0  # fans
            favourites = rng.sample(range(n_products), k=min(3, n_products))
            out.append(
                Community(
                    index=i,
                    zh_share=0.85 if i % 4 == 0 else round(rng.uniform(0.02, 0.25), 2),
                    intent_weights=weights,
                    products=favourites,
                    spend=round(rng.uniform(0.6, 1.8), 2),
                    order_rate=round(rng.uniform(0.5, 1.5), 2),
                    recency=round(rng.uniform(0.5, 2.5), 2),
                )
            )
        return out

    def _make_users(self, count: int, influencers: int) -> list[SimUser]:
        rng = self.rng
        n = len(self.communities)
        sizes = [rng.uniform(0.5, 2.0) for _ in range(n)]
        taken: set[str] = {self.shop_handle.lower()}
        users: list[SimUser] = []
        for i in range(count):
            community = i if i < n else rng.choices(range(n), weights=sizes)[0]
            chinese = rng.random() < self.communities[community].zh_share
            username, name = self._make_name(chinese, taken)
            users.append(SimUser(username, name, community, False, chinese))
        # influencers: one per community in turn, picked among that community's members
        by_community: dict[int, list[SimUser]] = {}
        for u in users:
            by_community.setdefault(u.community, []).append(u)
        for k in range(influencers):
            pool = [u for u in by_community[k % n] if not u.influencer] or [u for u in users if not u.influencer]
            rng.choice(pool).influencer = True
        if count >= 20:  # one user with an SQL-looking handle and a hostile display name
            victim = next(u for u in reversed(users) if not u.influencer)
            if phrases.SQL_USER[0] not in taken:
                victim.username, victim.name = phrases.SQL_USER
                victim.chinese = False
        return users

    def _make_name(self, chinese: bool, taken: set[str]) -> tuple[str, str]:
        rng = self.rng
        for attempt in range(1000):
            if chinese:
                (sp, sh), (gp, gh) = rng.choice(phrases.PINYIN_SURNAMES), rng.choice(phrases.PINYIN_GIVEN)
                if rng.random() < 0.4:
                    gp2, gh2 = rng.choice(phrases.PINYIN_GIVEN)
                    gp, gh = gp + gp2, gh + gh2
                styles = (f"{gp}_{sp}", f"{sp}{gp}", f"{gp}{sp}")
                base, name = rng.choice(styles), sh + gh
            else:
                given, surname = rng.choice(phrases.GIVEN_EN), rng.choice(phrases.SURNAMES_EN)
                surname = surname.replace("ü", "u")
                base = rng.choice((f"{given}_{surname}", f"{given}{surname}", f"{given}.{surname}"))
                base = base.replace(".", "_")
                name = f"{given.title()} {surname.title()}"
            suffix = str(rng.randint(1, 99 if attempt < 50 else 99999))
            username = (base[: 15 - len(suffix)] + suffix) if rng.random() < 0.8 or attempt else base[:15]
            if username.lower() not in taken:
                taken.add(username.lower())
                return username, name
        raise AudienceError("could not make a unique username")

    # ---- HTTP ------------------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        try:
            if body is None:
                resp = self._http.request(method, self.base_url + path, params=params)
            else:
                content = json.dumps(body, ensure_ascii=False).encode()
                resp = self._http.request(method, self.base_url + path, params=params, content=content)
        except httpx.HTTPError as exc:
            raise AudienceError(f"{method} {path}: {exc!r}") from exc
        if resp.status_code >= 400:
            raise AudienceError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def close(self) -> None:
        self.stop()
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Audience:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- setup --------------------------------------------------------------------------------------
    def setup(self) -> Audience:
        """Create the shop and every user (idempotent), and give each influencer a few posts to react to."""
        with self._lock:
            if self._ready:
                return self
            self.shop_id = str(self._admin("POST", "/_sandbox/users", {"username": self.shop_handle})["id"])
            for u in self.users:
                # follower counts from a per-user seed (the audience's own rng sequence stays as it was)
                low, high = (5_000, 80_000) if u.influencer else (0, 400)
                reach = random.Random(f"{self.seed}:{u.username}").randint(low, high)
                body = {"username": u.username, "name": u.name, "followers": reach}
                u.id = str(self._admin("POST", "/_sandbox/users", body)["id"])
            self._by_id = {u.id: u for u in self.users}
            self._members = {}
            for u in self.users:
                self._members.setdefault(u.community, []).append(u)
            self._regular = [u for u in self.users if not u.influencer]
            self._ready = True
            for u in self.users:
                if u.influencer:
                    for _ in range(3):
                        self._post(u)
            logger.info(
                "audience ready: %d users in %d communities, %d influencers, shop @%s (%s)",
                len(self.users),
                len(self.communities),
                len(self.influencers),
                self.shop_handle,
                self.shop_id,
            )
            return self

    @property
    def influencers(self) -> list[SimUser]:
        return [u for u in self.users if u.influencer]

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.setup()

    # ---- choices ----------------------------------------------------------------------------------------
    def _language(self, user: SimUser) -> str:
        if user.chinese:
            return "zh" if self.rng.random() < 0.85 else "en"
        return "zh" if self.rng.random() < 0.04 else "en"

    def _intent(self, user: SimUser, intents: Sequence[str] | None = None) -> str:
        weights = self.communities[user.community].intent_weights
        pool = list(intents) if intents else list(phrases.INTENTS)
        return self.rng.choices(pool, weights=[weights.get(i, 1.0) for i in pool])[0]

    def _product(self, user: SimUser, language: str) -> str:
        rng = self.rng
        favourites = self.communities[user.community].products
        index = rng.choice(favourites) if favourites and rng.random() < 0.7 else rng.randrange(len(phrases.PRODUCTS))
        en, zh, _price = phrases.PRODUCTS[index]
        return zh if language == "zh" else en

    def _intent_text(self, user: SimUser, intent: str, language: str) -> str:
        template = self.rng.choice(phrases.TEMPLATES[intent][language])
        order = f"#{self.rng.randint(100000, 999999)}"
        return template.format(product=self._product(user, language), order=order)

    def _chatter(self, language: str) -> str:
        return self.rng.choice(phrases.CHATTER[language])

    def _regular_user(self) -> SimUser:
        return self.rng.choice(self._regular) if self._regular else self.rng.choice(self.users)

    def _friends(self, user: SimUser, count: int) -> list[SimUser]:
        pool = [u for u in self._members.get(user.community, []) if u is not user]
        if not pool or self.rng.random() < 0.1:
            pool = [u for u in self.users if u is not user]
        return self.rng.sample(pool, k=min(count, len(pool)))

    def _social_target(self, user: SimUser) -> tuple[str, str] | None:
        """A tweet by another audience member to react to: mostly an influencer's, mostly in the community."""
        rng = self.rng
        influencers = [u for u in self.users if u.influencer and u is not user and self._influencer_tweets.get(u.id)]
        if influencers and rng.random() < 0.6:
            own = [u for u in influencers if u.community == user.community]
            star = rng.choice(own) if own and rng.random() < 0.75 else rng.choice(influencers)
            return rng.choice(self._influencer_tweets[star.id][-20:]), star.id
        community = user.community if rng.random() < 0.85 else rng.randrange(len(self.communities))
        pool = [t for t in self._community_tweets.get(community, [])[-50:] if t[1] != user.id]
        if not pool:
            pool = [t for tweets in self._community_tweets.values() for t in tweets[-20:] if t[1] != user.id]
        return rng.choice(pool) if pool else None

    def _shop_target(self) -> str | None:
        if self._since_shop_refresh >= _SHOP_REFRESH_EVERY:
            body = self._admin("GET", "/_sandbox/tweets", params={"author_id": self.shop_id})
            self._shop_tweets = [t["id"] for t in body.get("tweets", []) if not t.get("deleted")][-50:]
            self._since_shop_refresh = 0
        self._since_shop_refresh += 1
        return self.rng.choice(self._shop_tweets) if self._shop_tweets else None

    # ---- recording --------------------------------------------------------------------------------------
    def _remember_tweet(self, tid: str, user: SimUser) -> None:
        tweets = self._community_tweets.setdefault(user.community, [])
        tweets.append((tid, user.id))
        if len(tweets) > _TWEET_MEMORY:
            del tweets[: len(tweets) - _TWEET_MEMORY]
        if user.influencer:
            self._influencer_tweets.setdefault(user.id, []).append(tid)

    def _truth(self, xid: str, intent: str, language: str, user: SimUser, *, dm: bool = False) -> None:
        self._truth_intents[xid] = intent
        self._truth_languages[xid] = language
        if dm:
            self._dm_ids.add(xid)
        if intent == "opt_out":
            self._opt_outs.add(user.id)

    def _tweet(
        self,
        user: SimUser,
        text: str,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        remember: bool = True,
    ) -> str:
        body: dict[str, Any] = {"author_id": user.id, "text": text}
        if reply_to:
            body["in_reply_to_tweet_id"] = reply_to
        if quote:
            body["quote_tweet_id"] = quote
        tid = str(self._admin("POST", "/_sandbox/tweets", body)["id"])
        if remember:
            self._remember_tweet(tid, user)
        return tid

    # ---- actions --------------------------------------------------------------------------------------------
    def step(self, n: int = 1) -> list[Action]:
        """Perform n weighted random actions; returns what was done."""
        with self._lock:
            self._ensure_ready()
            out: list[Action] = []
            for _ in range(n):
                kind = self.rng.choices(KINDS, weights=_KIND_WEIGHTS)[0]
                action = getattr(self, f"_do_{kind}")()
                self.counts[action.kind] += 1
                out.append(action)
            return out

    def _mention_text(self, user: SimUser, *, odd_rate: float | None = None) -> tuple[str, str, str, bool]:
        """(text, intent, language, odd) for a mention of the shop; the text contains @<shop>."""
        handle = f"@{self.shop_handle}"
        rate = self.odd_rate if odd_rate is None else odd_rate
        if rate and self.rng.random() < rate:
            body, language, intent = self.rng.choice(phrases.ODD)
            body = body.replace("{shop}", self.shop_handle)
            return (f"{handle} {body}" if body else handle), intent, language, True
        language = self._language(user)
        intent = self._intent(user)
        text = self._intent_text(user, intent, language)
        text = f"{handle} {text}" if self.rng.random() < 0.85 else f"{text} {handle}"
        return text, intent, language, False

    def _do_mention(self, user: SimUser | None = None) -> Action:
        user = user or self._regular_user()
        star = self._star_for(user) if self.rng.random() < _STAR_MENTION_SHARE else None
        if star is not None:
            shouts = self._shout_outs.get(star.id)
            if not shouts or self.rng.random() < _FRESH_SHOUT_OUT:
                return self._shout_out(star)
            return self._reply_to_shout_out(user, star, self.rng.choice(shouts[-10:]))
        text, intent, language, odd = self._mention_text(user)
        return self._post_mention(user, text, intent, language, odd=odd)

    def _shout_out(self, star: SimUser) -> Action:
        """An influencer's post about the shop (a product shout-out, or a remark) that @mentions it."""
        language = self._language(star)
        intent = self._intent(star, ("praise", "other"))
        text = f"{self._intent_text(star, intent, language)} @{self.shop_handle}"
        if self.rng.random() < 0.5:
            text = f"{text} {self.rng.choice(('✨', '🏡', '☕', '💛'))}"
        tid = self._tweet(star, text, remember=False)  # not chatter material: replies to it summon the shop
        self._shout_outs.setdefault(star.id, []).append(tid)
        self._truth(tid, intent, language, star)
        return Action("post", star.id, star.username, text, tid, intent, language, None, (self.shop_id,), True)

    def _reply_to_shout_out(self, user: SimUser, star: SimUser, shout_out: str) -> Action:
        """A reply under an influencer's shout-out: on X it starts "@influencer @shop", so it reaches the shop."""
        language = self._language(user)
        intent = self._intent(user)
        text = f"@{star.username} @{self.shop_handle} {self._intent_text(user, intent, language)}"
        tid = self._tweet(user, text, reply_to=shout_out)
        self._truth(tid, intent, language, user)
        mentioned = (star.id, self.shop_id)
        return Action("reply", user.id, user.username, text, tid, intent, language, shout_out, mentioned, True)

    def _star_for(self, user: SimUser) -> SimUser | None:
        """An influencer (not the user): mostly one of the user's own community; None when there is none."""
        stars = [u for u in self.users if u.influencer and u is not user]
        if not stars:
            return None
        own = [u for u in stars if u.community == user.community]
        return self.rng.choice(own if own and self.rng.random() < _OWN_STAR else stars)

    def _post_mention(self, user: SimUser, text: str, intent: str, language: str, *, odd: bool = False) -> Action:
        tid = self._tweet(user, text)
        self._truth(tid, intent, language, user)
        return self._mention_action(user, text, tid, intent, language, odd)

    def _mention_action(self, user: SimUser, text: str, tid: str, intent: str, language: str, odd: bool) -> Action:
        return Action("mention", user.id, user.username, text, tid, intent, language, None, (self.shop_id,), True, odd)

    def _do_group_mention(self) -> Action:
        user = self._regular_user()
        friends = self._friends(user, self.rng.randint(1, 3))
        if self.rng.random() < _GROUP_STAR_SHARE:  # "@shop @influencer look!": the community's influencer is tagged
            star = self._star_for(user)
            if star is not None and star not in friends:
                friends[self.rng.randrange(len(friends))] = star
        language = self._language(user)
        intent = self._intent(user)
        handles = " ".join(f"@{f.username}" for f in friends)
        text = f"@{self.shop_handle} {handles} {self._intent_text(user, intent, language)}"
        tid = self._tweet(user, text)
        self._truth(tid, intent, language, user)
        mentioned = (self.shop_id, *(f.id for f in friends))
        return Action("group_mention", user.id, user.username, text, tid, intent, language, None, mentioned, True)

    def _do_reply(self) -> Action:
        user = self._regular_user()
        if self.rng.random() < 0.2:
            shop_tweet = self._shop_target()
            if shop_tweet is not None:
                language = self._language(user)
                intent = self._intent(user)
                text = f"@{self.shop_handle} {self._intent_text(user, intent, language)}"
                tid = self._tweet(user, text, reply_to=shop_tweet)
                self._truth(tid, intent, language, user)
                return Action(
                    "reply", user.id, user.username, text, tid, intent, language, shop_tweet, (self.shop_id,), True
                )
        target = self._social_target(user)
        if target is None:
            return self._do_post(user)
        target_id, author_id = target
        language = self._language(user)
        text = f"@{self._by_id[author_id].username} {self._chatter(language)}"
        tid = self._tweet(user, text, reply_to=target_id)
        return Action("reply", user.id, user.username, text, tid, None, language, target_id, (author_id,))

    def _do_quote(self) -> Action:
        user = self._regular_user()
        if self.rng.random() < 0.3:
            star = self._star_for(user) if self.rng.random() < _STAR_QUOTE_SHARE else None
            if star is not None and self._shout_outs.get(star.id):
                return self._quote_shout_out(user, star, self.rng.choice(self._shout_outs[star.id][-10:]))
            shop_tweet = self._shop_target()
            if shop_tweet is not None:
                language = self._language(user)
                intent = self._intent(user, ("praise", "question", "complaint", "coupon_request"))
                text = f"{self._intent_text(user, intent, language)} @{self.shop_handle}"
                tid = self._tweet(user, text, quote=shop_tweet)
                self._truth(tid, intent, language, user)
                return Action(
                    "quote", user.id, user.username, text, tid, intent, language, shop_tweet, (self.shop_id,), True
                )
        target = self._social_target(user)
        if target is None:
            return self._do_post(user)
        target_id, _author = target
        language = self._language(user)
        text = self._chatter(language)
        tid = self._tweet(user, text, quote=target_id)
        return Action("quote", user.id, user.username, text, tid, None, language, target_id)

    def _quote_shout_out(self, user: SimUser, star: SimUser, shout_out: str) -> Action:
        """A quote of an influencer's shout-out that tags the influencer and the shop."""
        language = self._language(user)
        intent = self._intent(user, ("praise", "question", "complaint", "coupon_request"))
        text = f"@{star.username} {self._intent_text(user, intent, language)} @{self.shop_handle}"
        tid = self._tweet(user, text, quote=shout_out)
        self._truth(tid, intent, language, user)
        mentioned = (star.id, self.shop_id)
        return Action("quote", user.id, user.username, text, tid, intent, language, shout_out, mentioned, True)

    def _do_like(self) -> Action:
        return self._like_or_retweet("like", "/_sandbox/likes", 0.6)

    def _do_retweet(self) -> Action:
        return self._like_or_retweet("retweet", "/_sandbox/retweets", 0.5)

    def _like_or_retweet(self, kind: str, path: str, shop_share: float) -> Action:
        user = self._regular_user()
        target = self._shop_target() if self.rng.random() < shop_share else None
        if target is None:
            social = self._social_target(user)
            if social is None:
                return self._do_post(user)
            target = social[0]
        self._admin("POST", path, {"user_id": user.id, "tweet_id": target})
        return Action(kind, user.id, user.username, None, target, None, None, target)

    def _do_dm(self) -> Action:
        user = self._regular_user()
        language = self._language(user)
        intent = self._intent(user)
        text = self._intent_text(user, intent, language)
        body = {"from_user_id": user.id, "to_user_id": self.shop_id, "text": text}
        dm_id = str(self._admin("POST", "/_sandbox/dms", body)["id"])
        self._truth(dm_id, intent, language, user, dm=True)
        return Action("dm", user.id, user.username, text, dm_id, intent, language, None, (self.shop_id,), True)

    def _do_post(self, user: SimUser | None = None) -> Action:
        if user is None:
            stars = self.influencers
            user = self.rng.choice(stars) if stars and self.rng.random() < 0.5 else self.rng.choice(self.users)
        return self._post(user)

    def _post(self, user: SimUser) -> Action:
        language = self._language(user)
        text = self.rng.choice(phrases.POSTS[language])
        if self.rng.random() < 0.5:
            text = f"{text} {self.rng.choice(('✨', '🏡', '☕', '#home', '#interior', '#家居'))}"
        tid = self._tweet(user, text)
        return Action("post", user.id, user.username, text, tid, None, language)

    # ---- convenience for the demo --------------------------------------------------------------------------
    def showcase(self, *, odd: bool = True) -> list[Action]:
        """One mention per intent in English and in Chinese, one DM per intent, then (odd=True) every odd text."""
        with self._lock:
            self._ensure_ready()
            out: list[Action] = []
            handle = f"@{self.shop_handle}"
            for language in ("en", "zh"):
                for intent in phrases.INTENTS:
                    user = self._regular_user()
                    text = f"{handle} {self._intent_text(user, intent, language)}"
                    out.append(self._post_mention(user, text, intent, language))
            for intent in phrases.INTENTS:
                out.append(self._dm_with(self._regular_user(), intent))
            if odd:
                sql_user = next((u for u in self.users if u.username == phrases.SQL_USER[0]), None)
                for i, (body, language, intent) in enumerate(phrases.ODD):
                    user = sql_user if (sql_user is not None and i == 0) else self._regular_user()
                    body = body.replace("{shop}", self.shop_handle)
                    text = f"{handle} {body}" if body else handle
                    out.append(self._post_mention(user, text, intent, language, odd=True))
            self.counts.update(a.kind for a in out)
            return out

    def _dm_with(self, user: SimUser, intent: str) -> Action:
        language = self._language(user)
        text = self._intent_text(user, intent, language)
        body = {"from_user_id": user.id, "to_user_id": self.shop_id, "text": text}
        dm_id = str(self._admin("POST", "/_sandbox/dms", body)["id"])
        self._truth(dm_id, intent, language, user, dm=True)
        return Action("dm", user.id, user.username, text, dm_id, intent, language, None, (self.shop_id,), True)

    # ---- fast injection -------------------------------------------------------------------------------------
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
            rng = self.rng
            handle = f"@{self.shop_handle}"
            out: list[Action] = []
            with _KeepAlivePoster(self.base_url) as poster:
                for _ in range(count):
                    user = self._regular_user()
                    if odd_rate and rng.random() < odd_rate:
                        text, intent, language, odd = self._mention_text(user, odd_rate=1.0)
                    else:
                        language = "zh" if rng.random() < language_mix else "en"
                        intent = self._intent(user, intents)
                        text = f"{handle} {self._intent_text(user, intent, language)}"
                        odd = False
                    tid = str(poster.post("/_sandbox/tweets", {"author_id": user.id, "text": text})["id"])
                    self._truth(tid, intent, language, user)
                    out.append(self._mention_action(user, text, tid, intent, language, odd))
            self.counts["mention"] += count
            return out

    # ---- pacing ------------------------------------------------------------------------------------------
    def run(self, rate_per_s: float, seconds: float, stop: threading.Event | None = None) -> list[Action]:
        """Perform about rate_per_s actions per second for `seconds` (or until `stop` is set)."""
        return self._run(rate_per_s, seconds, stop or threading.Event(), keep=True)

    def _run(self, rate_per_s: float, seconds: float, stop: threading.Event, *, keep: bool) -> list[Action]:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        interval = 1.0 / rate_per_s
        start = time.monotonic()
        deadline = start + seconds
        next_at = start
        out: list[Action] = []
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if now < next_at:
                stop.wait(min(next_at, deadline) - now)
                continue
            actions = self.step()
            if keep:
                out.extend(actions)
            next_at += interval
            if next_at < now - 1.0:  # fell behind by more than a second: do not burst to catch up
                next_at = now
        return out

    def start_background(self, rate_per_s: float) -> Audience:
        """Act at rate_per_s in a daemon thread until stop(); sandbox errors are logged and retried."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self._run(rate_per_s, math.inf, self._stop, keep=False)
                except AudienceError as exc:
                    logger.warning("audience: %s (retrying in 1s)", exc)
                    self._stop.wait(1.0)
                except Exception:
                    logger.exception("audience thread failed")
                    return

        self._thread = threading.Thread(target=loop, name="sandbox-audience", daemon=True)
        self._thread.start()
        logger.info("audience acting at %.2f actions/s", rate_per_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)

    # ---- evaluation data ---------------------------------------------------------------------------------
    def ground_truth(self) -> GroundTruth:
        with self._lock:
            return GroundTruth(
                communities={u.id: u.community for u in self.users if u.id},
                influencers=[u.id for u in self.users if u.influencer and u.id],
                intents=dict(self._truth_intents),
                languages=dict(self._truth_languages),
                dm_ids=set(self._dm_ids),
                usernames={u.id: u.username for u in self.users if u.id},
                opt_outs=set(self._opt_outs),
            )

    def write_orders_csv(
        self,
        path: str | Path,
        *,
        orders_per_user: tuple[int, int] = (0, 5),
        until: datetime | None = None,
        days: int = 365,
        product_column: bool = False,
    ) -> int:
        """Write handle,order_id,amount,time (ISO 8601 UTC) for the audience; returns the number of orders.

        Deterministic for the seed and `until` (default: today 00:00 UTC). Communities differ in order count,
        spend and recency; influencers order more, and more expensive things. Handles are without '@'.
        """
        low, high = orders_per_user
        if low < 0 or high < low:
            raise ValueError("orders_per_user must be (low, high) with 0 <= low <= high")
        end = until or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rng = random.Random(f"{self.seed}:orders")
        rows: list[tuple[datetime, str, float, str]] = []
        for user in self.users:
            community = self.communities[user.community]
            n = high if user.influencer else round(rng.randint(low, high) * community.order_rate)
            for _ in range(max(low, min(high, n))):
                index = rng.choice(community.products) if rng.random() < 0.7 else rng.randrange(len(phrases.PRODUCTS))
                en, _zh, price = phrases.PRODUCTS[index]
                quantity = rng.choices((1, 2, 3, 4), weights=(75, 17, 6, 2))[0]
                amount = price * quantity * community.spend * (1.4 if user.influencer else 1.0)
                amount *= rng.uniform(0.85, 1.15)
                if rng.random() < 0.2:
                    amount *= 0.9  # a coupon
                amount = max(9.9, round(amount, 1) - 0.01 if rng.random() < 0.5 else round(amount, 2))
                age = days * (rng.random() ** community.recency)
                when = (end - timedelta(days=age)).replace(microsecond=0)
                rows.append((when, user.username, round(amount, 2), en))
        rows.sort(key=lambda r: (r[0], r[1]))
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["handle", "order_id", "amount", "time"] + (["product"] if product_column else []))
            for seq, (when, handle, amount, product) in enumerate(rows, start=1):
                row = [handle, f"LH{100000 + seq}", f"{amount:.2f}", when.strftime("%Y-%m-%dT%H:%M:%SZ")]
                writer.writerow(row + ([product] if product_column else []))
        return len(rows)

    def summary(self) -> dict[str, Any]:
        """Counts for logs and the demo: actions by kind, and texts that reached the shop by intent."""
        with self._lock:
            return {
                "actions": dict(sorted(self.counts.items())),
                "intents": dict(sorted(Counter(self._truth_intents.values()).items())),
                "dms": len(self._dm_ids),
            }
