"""In-memory state of the sandbox X world: users, tweets, DMs, likes, retweets and the rules on them.

Not thread-safe by itself: the server holds one lock around every call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twitter_text import extract_urls_with_indices

from bot.core.clock import Clock
from bot.core.text import weighted_length

TWITTER_EPOCH_MS = 1288834974657
MAX_WEIGHTED = 280
MAX_DM_CHARS = 10_000
TIMELINE_REACH = 3200
MENTIONS_REACH = 800
EDIT_WINDOW_SECONDS = 30 * 60  # X: a post can be edited for 30 minutes after it was first posted,
MAX_EDITS = 5  # up to 5 times

DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
NOT_SUMMONED_DETAIL = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise "
    "engaged by the author of the post you are replying to."
)
TOO_LONG_DETAIL = "Tweet needs to be a bit shorter. The text is over the 280 weighted character limit."
DM_NOT_ALLOWED_DETAIL = "You are not allowed to send a Direct Message to this user: they have not messaged you first."
EDIT_NOT_YOURS_DETAIL = "You are not allowed to edit a Post you did not write."
EDIT_NOT_LATEST_DETAIL = "Only the latest version of an edited Post can be edited."
EDIT_WINDOW_DETAIL = "This Post can no longer be edited: edits are allowed for 30 minutes, up to 5 times."
EDIT_REPLY_DETAIL = "A reply to another person's Post cannot be edited."

_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_!@#$%&*@＠])[@＠]([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@＠])")
_HASHTAG_RE = re.compile(r"(?<![\w&#＃])[#＃](\w*[^\W\d_]\w*)")


class SandboxRejection(Exception):
    """A request the world refuses; the server turns it into a problem response."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(str(body))


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> SandboxRejection:
    return SandboxRejection(status, {"detail": detail, "type": type_, "title": title, "status": status})


def invalid_request(parameter: str, value: str, message: str) -> SandboxRejection:
    return SandboxRejection(
        400,
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )


def x_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class IdGenerator:
    """Snowflake-like 19-digit ids: (ms since the Twitter epoch) << 22 | sequence, strictly increasing."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> str:
        candidate = (int(self._clock.now().timestamp() * 1000) - TWITTER_EPOCH_MS) << 22
        candidate = max(candidate, 10**18)
        self._last = max(candidate, self._last + 1)
        return str(self._last)


@dataclass
class SbUser:
    id: str
    username: str
    name: str
    created_at: float
    followers: int = 0  # public_metrics.followers_count


@dataclass
class SbTweet:
    id: str
    author_id: str
    text: str
    created_at: float
    conversation_id: str
    in_reply_to_tweet_id: str | None = None
    in_reply_to_user_id: str | None = None
    quote_tweet_id: str | None = None
    mentions: list[dict[str, Any]] = field(default_factory=list)
    hashtags: list[dict[str, Any]] = field(default_factory=list)
    urls: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    source: str = "api"  # "api" or "admin"
    edit_of: list[str] = field(default_factory=list)  # an edit: the earlier versions' ids, oldest first


@dataclass
class SbDM:
    id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: float

    @property
    def conversation_id(self) -> str:
        low, high = sorted((self.sender_id, self.recipient_id), key=int)
        return f"{low}-{high}"


class World:
    def __init__(self, clock: Clock, ids: IdGenerator) -> None:
        self.clock = clock
        self.ids = ids
        self.users: dict[str, SbUser] = {}
        self.users_by_name: dict[str, str] = {}
        self.tweets: dict[str, SbTweet] = {}
        self.tweets_by_author: dict[str, list[str]] = {}
        self.edit_chains: dict[str, list[str]] = {}  # first version's id -> every version's id, oldest first
        self.mentions_of: dict[str, list[str]] = {}
        self.live_texts: dict[str, dict[str, int]] = {}  # author -> text -> live count
        self.quotes_of: dict[str, list[str]] = {}
        self.replies_count: dict[str, int] = {}
        self.likes_of: dict[str, list[str]] = {}
        self.retweets_of: dict[str, list[str]] = {}
        # when each like / repost / reply happened (epoch seconds), for the time-bucketed analytics
        self.liked_at: dict[str, dict[str, float]] = {}  # tweet id -> user id -> when
        self.retweeted_at: dict[str, dict[str, float]] = {}
        self.reply_times: dict[str, list[float]] = {}  # tweet id -> when each reply to it was written
        # tweet id -> [(when, the counters as of then)], oldest first (bot/sandbox/metrics.py)
        self.counter_history: dict[str, list[tuple[float, dict[str, int]]]] = {}
        # tweet id -> impressions, bookmarks, link_clicks, profile_clicks (bot/sandbox/metrics.py)
        self.post_counters: dict[str, dict[str, int]] = {}
        self.dms: list[SbDM] = []
        self.dms_of: dict[str, list[SbDM]] = {}
        self.dm_senders_to: dict[str, set[str]] = {}  # recipient -> senders who wrote to them

    def now(self) -> float:
        """The clock's time as epoch seconds (what the world stores)."""
        return self.clock.now().timestamp()

    # ---- users -------------------------------------------------------------------------------
    def add_user(self, username: str, name: str | None = None, followers: int | None = None) -> SbUser:
        """Create a user (or return the existing one with that handle; `followers`, when given, is set)."""
        if followers is not None and followers < 0:
            raise invalid_request("followers", str(followers), "followers must be 0 or more")
        username = username.lstrip("@")
        existing = self.users_by_name.get(username.lower())
        if existing is not None:
            user = self.users[existing]
            if followers is not None:
                user.followers = followers
            return user
        user = SbUser(self.ids.next(), username, name or username, self.now(), followers or 0)
        self.users[user.id] = user
        self.users_by_name[username.lower()] = user.id
        return user

    def user_by_name(self, username: str) -> SbUser | None:
        uid = self.users_by_name.get(username.lstrip("@").lower())
        return None if uid is None else self.users[uid]

    # ---- entities ----------------------------------------------------------------------------
    def _entities(self, text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        mentions: list[dict[str, Any]] = []
        if "@" in text or "＠" in text:
            for m in _MENTION_RE.finditer(text):
                entity: dict[str, Any] = {"start": m.start(), "end": m.end(), "username": m.group(1)}
                user = self.user_by_name(m.group(1))
                if user is not None:
                    entity["username"] = user.username
                    entity["id"] = user.id
                mentions.append(entity)
        hashtags: list[dict[str, Any]] = []
        if "#" in text or "＃" in text:
            hashtags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in _HASHTAG_RE.finditer(text)]
        urls: list[dict[str, Any]] = []
        if "." in text:
            for u in extract_urls_with_indices(text):
                start, end = u["indices"]
                url = u["url"]
                expanded = url if "://" in url else f"https://{url}"
                urls.append({"start": start, "end": end, "url": url, "expanded_url": expanded, "display_url": url})
        return mentions, hashtags, urls

    # ---- tweets ------------------------------------------------------------------------------
    def add_tweet(
        self,
        author_id: str,
        text: str,
        *,
        in_reply_to_tweet_id: str | None = None,
        quote_tweet_id: str | None = None,
        enforce: bool = True,
    ) -> SbTweet:
        """Create a tweet. With enforce=True the X rules apply (length, duplicates, summoned replies)."""
        if author_id not in self.users:
            raise problem(400, "Invalid Request", f"Unknown author_id {author_id}")
        parent: SbTweet | None = None
        if in_reply_to_tweet_id is not None:
            parent = self.tweets.get(str(in_reply_to_tweet_id))
            if parent is None or parent.deleted:
                raise invalid_request(
                    "reply.in_reply_to_tweet_id",
                    str(in_reply_to_tweet_id),
                    "The Tweet you are replying to is deleted or not visible to you.",
                )
        if quote_tweet_id is not None:
            quoted = self.tweets.get(str(quote_tweet_id))
            if quoted is None or quoted.deleted:
                raise invalid_request(
                    "quote_tweet_id", str(quote_tweet_id), "The quoted Tweet is deleted or not visible to you."
                )
        if enforce:
            self._check_text(author_id, text)
            if parent is not None and parent.author_id != author_id and not self.summons(parent, author_id):
                raise problem(403, "Forbidden", NOT_SUMMONED_DETAIL)
        tweet = self._insert(
            author_id,
            text,
            conversation_id=parent.conversation_id if parent is not None else None,
            in_reply_to_tweet_id=parent.id if parent is not None else None,
            in_reply_to_user_id=parent.author_id if parent is not None else None,
            quote_tweet_id=str(quote_tweet_id) if quote_tweet_id is not None else None,
            source="api" if enforce else "admin",
        )
        if parent is not None:
            self.replies_count[parent.id] = self.replies_count.get(parent.id, 0) + 1
            self.reply_times.setdefault(parent.id, []).append(tweet.created_at)
        if tweet.quote_tweet_id is not None:
            self.quotes_of.setdefault(tweet.quote_tweet_id, []).append(tweet.id)
        return tweet

    def edit_tweet(
        self, previous_id: str, text: str, *, acting_user: str | None = None, enforce: bool = True
    ) -> SbTweet:
        """Edit a post as X does: a NEW post (new id, the new text, the same reply and quote targets and
        conversation) whose edit history lists every earlier version; the earlier versions stay readable and
        every version shows the whole history. With enforce=True X's rules apply: only its author, only the
        latest version, within 30 minutes of the first version and at most 5 edits, not a reply to someone
        else, and the usual length and duplicate checks."""
        previous = self.visible(str(previous_id))
        if previous is None:
            raise invalid_request(
                "edit_options.previous_post_id", str(previous_id), "The Post you are editing is deleted or not visible."
            )
        chain = self.edit_history(previous)
        if enforce:
            if acting_user != previous.author_id:
                raise problem(403, "Forbidden", EDIT_NOT_YOURS_DETAIL)
            if chain[-1] != previous.id:
                raise problem(403, "Forbidden", EDIT_NOT_LATEST_DETAIL)
            first = self.tweets[chain[0]]
            if self.now() - first.created_at > EDIT_WINDOW_SECONDS or len(chain) > MAX_EDITS:
                raise problem(403, "Forbidden", EDIT_WINDOW_DETAIL)
            if previous.in_reply_to_user_id not in (None, previous.author_id):
                raise problem(403, "Forbidden", EDIT_REPLY_DETAIL)
            self._check_text(previous.author_id, text)
        tweet = self._insert(
            previous.author_id,
            text,
            conversation_id=previous.conversation_id,
            in_reply_to_tweet_id=previous.in_reply_to_tweet_id,
            in_reply_to_user_id=previous.in_reply_to_user_id,
            quote_tweet_id=previous.quote_tweet_id,
            source="api" if enforce else "admin",
            edit_of=list(chain),
        )
        self.edit_chains.setdefault(chain[0], [chain[0]]).append(tweet.id)
        return tweet

    def edit_history(self, tweet: SbTweet) -> list[str]:
        """X's edit_history_tweet_ids of any version: every version's id, oldest first (just its own when never
        edited)."""
        first = tweet.edit_of[0] if tweet.edit_of else tweet.id
        return list(self.edit_chains.get(first, [tweet.id]))

    def _check_text(self, author_id: str, text: str) -> None:
        if weighted_length(text) > MAX_WEIGHTED:
            raise problem(403, "Forbidden", TOO_LONG_DETAIL)
        if self.live_texts.get(author_id, {}).get(text):
            raise problem(403, "Forbidden", DUPLICATE_DETAIL)

    def _insert(
        self,
        author_id: str,
        text: str,
        *,
        conversation_id: str | None,
        in_reply_to_tweet_id: str | None,
        in_reply_to_user_id: str | None,
        quote_tweet_id: str | None,
        source: str,
        edit_of: list[str] | None = None,
    ) -> SbTweet:
        """Store a new post (a first version or an edit) and list it in the mentions of whom it mentions or
        replies to."""
        mentions, hashtags, urls = self._entities(text)
        tid = self.ids.next()
        tweet = SbTweet(
            id=tid,
            author_id=author_id,
            text=text,
            created_at=self.now(),
            conversation_id=conversation_id or tid,
            in_reply_to_tweet_id=in_reply_to_tweet_id,
            in_reply_to_user_id=in_reply_to_user_id,
            quote_tweet_id=quote_tweet_id,
            mentions=mentions,
            hashtags=hashtags,
            urls=urls,
            source=source,
            edit_of=edit_of or [],
        )
        self.tweets[tid] = tweet
        self.tweets_by_author.setdefault(author_id, []).append(tid)
        texts = self.live_texts.setdefault(author_id, {})
        texts[text] = texts.get(text, 0) + 1
        mentioned = {e["id"] for e in mentions if "id" in e}
        if tweet.in_reply_to_user_id is not None:
            mentioned.add(tweet.in_reply_to_user_id)
        mentioned.discard(author_id)
        for uid in sorted(mentioned, key=int):
            self.mentions_of.setdefault(uid, []).append(tid)
        return tweet

    def summons(self, tweet: SbTweet, user_id: str) -> bool:
        """True when `tweet` mentions user_id, quotes one of its tweets or replies to one of them."""
        if any(e.get("id") == user_id for e in tweet.mentions):
            return True
        if tweet.in_reply_to_user_id == user_id:
            return True
        if tweet.quote_tweet_id is not None:
            quoted = self.tweets.get(tweet.quote_tweet_id)
            if quoted is not None and quoted.author_id == user_id:
                return True
        return False

    def delete_tweet(self, tweet_id: str, acting_user: str) -> bool:
        """Delete a post; as on X, deleting any version of an edited post deletes every version."""
        tweet = self.tweets.get(tweet_id)
        if tweet is None or tweet.deleted:
            return False
        if tweet.author_id != acting_user:
            raise problem(403, "Forbidden", "You are not allowed to delete this Tweet.")
        for version in (self.tweets[i] for i in self.edit_history(tweet)):
            if version.deleted:
                continue
            version.deleted = True
            texts = self.live_texts.get(version.author_id, {})
            if texts.get(version.text):
                texts[version.text] -= 1
        return True

    def visible(self, tweet_id: str) -> SbTweet | None:
        tweet = self.tweets.get(tweet_id)
        return None if tweet is None or tweet.deleted else tweet

    # ---- likes / retweets ----------------------------------------------------------------------
    def like(self, user_id: str, tweet_id: str, on: bool = True, *, at: float | None = None) -> None:
        self._toggle(self.likes_of, self.liked_at, user_id, tweet_id, on, at)

    def retweet(self, user_id: str, tweet_id: str, on: bool = True, *, at: float | None = None) -> None:
        self._toggle(self.retweets_of, self.retweeted_at, user_id, tweet_id, on, at)

    def _toggle(
        self,
        table: dict[str, list[str]],
        times: dict[str, dict[str, float]],
        user_id: str,
        tweet_id: str,
        on: bool,
        at: float | None,
    ) -> None:
        """`at`: when it happened (an admin write may date it back; kept between the post's creation and now)."""
        if user_id not in self.users:
            raise problem(400, "Invalid Request", f"Unknown user {user_id}")
        tweet = self.visible(tweet_id)
        if tweet is None:
            raise invalid_request("tweet_id", tweet_id, "The Tweet is deleted or not visible to you.")
        users = table.setdefault(tweet_id, [])
        if on and user_id not in users:
            users.append(user_id)
            now = self.now()
            times.setdefault(tweet_id, {})[user_id] = min(now, max(tweet.created_at, now if at is None else at))
        elif not on and user_id in users:
            users.remove(user_id)
            times.get(tweet_id, {}).pop(user_id, None)

    # ---- DMs ---------------------------------------------------------------------------------
    def add_dm(self, sender_id: str, recipient_id: str, text: str, *, enforce: bool = True) -> SbDM:
        if sender_id not in self.users or recipient_id not in self.users:
            raise invalid_request("participant_id", recipient_id, "Unknown participant.")
        if sender_id == recipient_id:
            raise invalid_request("participant_id", recipient_id, "You cannot send a message to yourself.")
        if not text:
            raise invalid_request("text", "", "A Direct Message needs text.")
        if enforce:
            if len(text) > MAX_DM_CHARS:
                raise invalid_request("text", text[:20], "Direct Message text is over 10000 characters.")
            if recipient_id not in self.dm_senders_to.get(sender_id, set()):
                raise problem(403, "Forbidden", DM_NOT_ALLOWED_DETAIL)
        dm = SbDM(self.ids.next(), sender_id, recipient_id, text, self.now())
        self.dms.append(dm)
        self.dms_of.setdefault(sender_id, []).append(dm)
        self.dms_of.setdefault(recipient_id, []).append(dm)
        self.dm_senders_to.setdefault(recipient_id, set()).add(sender_id)
        return dm
