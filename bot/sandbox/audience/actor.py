"""What the audience's users do: mention, reply, quote, like, retweet, DM and post, through the admin API.

Every choice comes from the audience's one random.Random, in a fixed order, so a seed replays the same actions.
The bot only sees what reaches the shop's account, so the planted structure shows there too (see the package doc).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from bot.sandbox import phrases
from bot.sandbox.audience.population import Community, SimUser
from bot.sandbox.audience.records import Action, TruthLog
from bot.sandbox.audience.transport import AdminClient

KINDS: tuple[str, ...] = ("mention", "group_mention", "reply", "quote", "like", "retweet", "dm", "post")
_KIND_WEIGHTS: tuple[int, ...] = (30, 6, 18, 6, 14, 8, 10, 8)
_QUOTE_INTENTS = ("praise", "question", "complaint", "coupon_request")  # what a quote that tags the shop says
_TWEET_MEMORY = 300  # tweets remembered per community as reply/quote/like material
# What makes the planted influencers visible from the shop's side (its mentions timeline):
_STAR_MENTION_SHARE = 0.2  # mentions of the shop made under an influencer's shout-out instead (same intents)
_FRESH_SHOUT_OUT = 0.15  # ... or, that often (always when it has none yet), the influencer's new shout-out itself
_STAR_QUOTE_SHARE = 0.5  # shop-summoning quotes that quote an influencer's shout-out (tagging it) not a shop post
_GROUP_STAR_SHARE = 0.5  # group mentions that tag an influencer of the author's community among the friends
_OWN_STAR = 0.85  # an influencer of one's own community (when there is one) rather than any
_SHOP_REFRESH_EVERY = 25  # actions between GET /_sandbox/tweets?author_id=<shop>


class Actor:
    """The users' behaviour and memory (recent tweets to react to, influencers' shout-outs) and the truth log."""

    def __init__(
        self,
        rng: random.Random,
        api: AdminClient,
        shop_handle: str,
        communities: list[Community],
        users: list[SimUser],
        odd_rate: float,
    ) -> None:
        self.rng = rng
        self._api = api
        self.shop_handle = shop_handle
        self.communities = communities
        self.users = users
        self.odd_rate = odd_rate
        self.shop_id = ""
        self.truth = TruthLog()
        self._by_id: dict[str, SimUser] = {}
        self._members: dict[int, list[SimUser]] = {}
        self._regular: list[SimUser] = []
        self._influencer_tweets: dict[str, list[str]] = {}
        self._shout_outs: dict[str, list[str]] = {}  # influencer id -> their posts that mention the shop
        self._community_tweets: dict[int, list[tuple[str, str]]] = {}  # community -> [(tweet id, author id)]
        self._shop_tweets: list[str] = []
        self._since_shop_refresh = _SHOP_REFRESH_EVERY

    def meet(self, shop_id: str) -> None:
        """The shop and every user exist in the sandbox now (their ids are set)."""
        self.shop_id = shop_id
        self._by_id = {u.id: u for u in self.users}
        self._members = {}
        for u in self.users:
            self._members.setdefault(u.community, []).append(u)
        self._regular = [u for u in self.users if not u.influencer]

    @property
    def influencers(self) -> list[SimUser]:
        return [u for u in self.users if u.influencer]

    def random_action(self) -> Action:
        """One action of a weighted random kind."""
        kind = self.rng.choices(KINDS, weights=_KIND_WEIGHTS)[0]
        action: Action = getattr(self, f"_do_{kind}")()
        return action

    # ---- choices ----------------------------------------------------------------------------------------
    def language(self, user: SimUser) -> str:
        if user.chinese:
            return "zh" if self.rng.random() < 0.85 else "en"
        return "zh" if self.rng.random() < 0.04 else "en"

    def intent(self, user: SimUser, intents: Sequence[str] | None = None) -> str:
        weights = self.communities[user.community].intent_weights
        pool = list(intents) if intents else list(phrases.INTENTS)
        return self.rng.choices(pool, weights=[weights.get(i, 1.0) for i in pool])[0]

    def _product(self, user: SimUser, language: str) -> str:
        rng = self.rng
        favourites = self.communities[user.community].products
        index = rng.choice(favourites) if favourites and rng.random() < 0.7 else rng.randrange(len(phrases.PRODUCTS))
        en, zh, _price = phrases.PRODUCTS[index]
        return zh if language == "zh" else en

    def intent_text(self, user: SimUser, intent: str, language: str) -> str:
        template = self.rng.choice(phrases.TEMPLATES[intent][language])
        order = f"#{self.rng.randint(100000, 999999)}"
        return template.format(product=self._product(user, language), order=order)

    def _chatter(self, language: str) -> str:
        return self.rng.choice(phrases.CHATTER[language])

    def regular_user(self) -> SimUser:
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
            body = self._api.call("GET", "/_sandbox/tweets", params={"author_id": self.shop_id})
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
        tid = str(self._api.call("POST", "/_sandbox/tweets", body)["id"])
        if remember:
            self._remember_tweet(tid, user)
        return tid

    def mention_text(self, user: SimUser, *, odd_rate: float | None = None) -> tuple[str, str, str, bool]:
        """(text, intent, language, odd) for a mention of the shop; the text contains @<shop>."""
        handle = f"@{self.shop_handle}"
        rate = self.odd_rate if odd_rate is None else odd_rate
        if rate and self.rng.random() < rate:
            body, language, intent = self.rng.choice(phrases.ODD)
            body = body.replace("{shop}", self.shop_handle)
            return (f"{handle} {body}" if body else handle), intent, language, True
        language = self.language(user)
        intent = self.intent(user)
        text = self.intent_text(user, intent, language)
        text = f"{handle} {text}" if self.rng.random() < 0.85 else f"{text} {handle}"
        return text, intent, language, False

    def _do_mention(self, user: SimUser | None = None) -> Action:
        user = user or self.regular_user()
        star = self._star_for(user) if self.rng.random() < _STAR_MENTION_SHARE else None
        if star is not None:
            shouts = self._shout_outs.get(star.id)
            if not shouts or self.rng.random() < _FRESH_SHOUT_OUT:
                return self._shout_out(star)
            return self._reply_to_shout_out(user, star, self.rng.choice(shouts[-10:]))
        text, intent, language, odd = self.mention_text(user)
        return self.post_mention(user, text, intent, language, odd=odd)

    def _shout_out(self, star: SimUser) -> Action:
        """An influencer's post about the shop (a product shout-out, or a remark) that @mentions it."""
        language = self.language(star)
        intent = self.intent(star, ("praise", "other"))
        text = f"{self.intent_text(star, intent, language)} @{self.shop_handle}"
        if self.rng.random() < 0.5:
            text = f"{text} {self.rng.choice(('✨', '🏡', '☕', '💛'))}"
        tid = self._tweet(star, text, remember=False)  # not chatter material: replies to it summon the shop
        self._shout_outs.setdefault(star.id, []).append(tid)
        self.truth.record(tid, intent, language, star)
        return Action("post", star.id, star.username, text, tid, intent, language, None, (self.shop_id,), True)

    def _reply_to_shout_out(self, user: SimUser, star: SimUser, shout_out: str) -> Action:
        """A reply under an influencer's shout-out: on X it starts "@influencer @shop", so it reaches the shop."""
        language = self.language(user)
        intent = self.intent(user)
        text = f"@{star.username} @{self.shop_handle} {self.intent_text(user, intent, language)}"
        tid = self._tweet(user, text, reply_to=shout_out)
        self.truth.record(tid, intent, language, user)
        mentioned = (star.id, self.shop_id)
        return Action("reply", user.id, user.username, text, tid, intent, language, shout_out, mentioned, True)

    def _star_for(self, user: SimUser) -> SimUser | None:
        """An influencer (not the user): mostly one of the user's own community; None when there is none."""
        stars = [u for u in self.users if u.influencer and u is not user]
        if not stars:
            return None
        own = [u for u in stars if u.community == user.community]
        return self.rng.choice(own if own and self.rng.random() < _OWN_STAR else stars)

    def post_mention(self, user: SimUser, text: str, intent: str, language: str, *, odd: bool = False) -> Action:
        tid = self._tweet(user, text)
        self.truth.record(tid, intent, language, user)
        return self.mention_action(user, text, tid, intent, language, odd)

    def mention_action(self, user: SimUser, text: str, tid: str, intent: str, language: str, odd: bool) -> Action:
        return Action("mention", user.id, user.username, text, tid, intent, language, None, (self.shop_id,), True, odd)

    def _do_group_mention(self) -> Action:
        user = self.regular_user()
        friends = self._friends(user, self.rng.randint(1, 3))
        if self.rng.random() < _GROUP_STAR_SHARE:  # "@shop @influencer look!": the community's influencer is tagged
            star = self._star_for(user)
            if star is not None and star not in friends:
                friends[self.rng.randrange(len(friends))] = star
        language = self.language(user)
        intent = self.intent(user)
        handles = " ".join(f"@{f.username}" for f in friends)
        text = f"@{self.shop_handle} {handles} {self.intent_text(user, intent, language)}"
        tid = self._tweet(user, text)
        self.truth.record(tid, intent, language, user)
        mentioned = (self.shop_id, *(f.id for f in friends))
        return Action("group_mention", user.id, user.username, text, tid, intent, language, None, mentioned, True)

    def _do_reply(self) -> Action:
        user = self.regular_user()
        if self.rng.random() < 0.2:
            shop_tweet = self._shop_target()
            if shop_tweet is not None:
                return self._at_shop_post("reply", user, shop_tweet)
        target = self._social_target(user)
        if target is None:
            return self._do_post(user)
        target_id, author_id = target
        language = self.language(user)
        text = f"@{self._by_id[author_id].username} {self._chatter(language)}"
        tid = self._tweet(user, text, reply_to=target_id)
        return Action("reply", user.id, user.username, text, tid, None, language, target_id, (author_id,))

    def _do_quote(self) -> Action:
        user = self.regular_user()
        if self.rng.random() < 0.3:
            star = self._star_for(user) if self.rng.random() < _STAR_QUOTE_SHARE else None
            if star is not None and self._shout_outs.get(star.id):
                return self._quote_shout_out(user, star, self.rng.choice(self._shout_outs[star.id][-10:]))
            shop_tweet = self._shop_target()
            if shop_tweet is not None:
                return self._at_shop_post("quote", user, shop_tweet, _QUOTE_INTENTS)
        target = self._social_target(user)
        if target is None:
            return self._do_post(user)
        target_id, _author = target
        language = self.language(user)
        text = self._chatter(language)
        tid = self._tweet(user, text, quote=target_id)
        return Action("quote", user.id, user.username, text, tid, None, language, target_id)

    def _at_shop_post(self, kind: str, user: SimUser, shop_tweet: str, intents: Sequence[str] | None = None) -> Action:
        """A reply to one of the shop's posts (starting with @shop) or a quote of one (ending with @shop)."""
        language = self.language(user)
        intent = self.intent(user, intents)
        said = self.intent_text(user, intent, language)
        if kind == "reply":
            text = f"@{self.shop_handle} {said}"
            tid = self._tweet(user, text, reply_to=shop_tweet)
        else:
            text = f"{said} @{self.shop_handle}"
            tid = self._tweet(user, text, quote=shop_tweet)
        self.truth.record(tid, intent, language, user)
        return Action(kind, user.id, user.username, text, tid, intent, language, shop_tweet, (self.shop_id,), True)

    def _quote_shout_out(self, user: SimUser, star: SimUser, shout_out: str) -> Action:
        """A quote of an influencer's shout-out that tags the influencer and the shop."""
        language = self.language(user)
        intent = self.intent(user, _QUOTE_INTENTS)
        text = f"@{star.username} {self.intent_text(user, intent, language)} @{self.shop_handle}"
        tid = self._tweet(user, text, quote=shout_out)
        self.truth.record(tid, intent, language, user)
        mentioned = (star.id, self.shop_id)
        return Action("quote", user.id, user.username, text, tid, intent, language, shout_out, mentioned, True)

    def _do_like(self) -> Action:
        return self._like_or_retweet("like", "/_sandbox/likes", 0.6)

    def _do_retweet(self) -> Action:
        return self._like_or_retweet("retweet", "/_sandbox/retweets", 0.5)

    def _like_or_retweet(self, kind: str, path: str, shop_share: float) -> Action:
        user = self.regular_user()
        target = self._shop_target() if self.rng.random() < shop_share else None
        if target is None:
            social = self._social_target(user)
            if social is None:
                return self._do_post(user)
            target = social[0]
        self._api.call("POST", path, {"user_id": user.id, "tweet_id": target})
        return Action(kind, user.id, user.username, None, target, None, None, target)

    def _do_dm(self) -> Action:
        user = self.regular_user()
        language = self.language(user)
        return self.dm(user, self.intent(user), language)

    def dm(self, user: SimUser, intent: str, language: str) -> Action:
        """A DM to the shop: people write first, so the shop may answer by DM."""
        text = self.intent_text(user, intent, language)
        body = {"from_user_id": user.id, "to_user_id": self.shop_id, "text": text}
        dm_id = str(self._api.call("POST", "/_sandbox/dms", body)["id"])
        self.truth.record(dm_id, intent, language, user, dm=True)
        return Action("dm", user.id, user.username, text, dm_id, intent, language, None, (self.shop_id,), True)

    def _do_post(self, user: SimUser | None = None) -> Action:
        if user is None:
            stars = self.influencers
            user = self.rng.choice(stars) if stars and self.rng.random() < 0.5 else self.rng.choice(self.users)
        return self.post(user)

    def post(self, user: SimUser) -> Action:
        language = self.language(user)
        text = self.rng.choice(phrases.POSTS[language])
        if self.rng.random() < 0.5:
            text = f"{text} {self.rng.choice(('✨', '🏡', '☕', '#home', '#interior', '#家居'))}"
        tid = self._tweet(user, text)
        return Action("post", user.id, user.username, text, tid, None, language)
