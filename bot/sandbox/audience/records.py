"""What the audience did (Action), and what an evaluation compares against (GroundTruth, kept by TruthLog)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.sandbox.audience.population import SimUser


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


class TruthLog:
    """Intent and language of every text that reaches the shop, which of them are DMs, and who opted out."""

    def __init__(self) -> None:
        self.intents: dict[str, str] = {}
        self.languages: dict[str, str] = {}
        self.dm_ids: set[str] = set()
        self.opt_outs: set[str] = set()

    def record(self, xid: str, intent: str, language: str, user: SimUser, *, dm: bool = False) -> None:
        self.intents[xid] = intent
        self.languages[xid] = language
        if dm:
            self.dm_ids.add(xid)
        if intent == "opt_out":
            self.opt_outs.add(user.id)

    def ground_truth(self, users: list[SimUser]) -> GroundTruth:
        return GroundTruth(
            communities={u.id: u.community for u in users if u.id},
            influencers=[u.id for u in users if u.influencer and u.id],
            intents=dict(self.intents),
            languages=dict(self.languages),
            dm_ids=set(self.dm_ids),
            usernames={u.id: u.username for u in users if u.id},
            opt_outs=set(self.opt_outs),
        )
