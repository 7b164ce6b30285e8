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

population: communities and users; actor: what they do; records: Action, GroundTruth; transport: the admin API;
pacing: acting at a rate; orders: the shop's orders CSV; offers: the planted answer to coupon depths (redemptions
and the holdout's own orders); simulation: the Audience that ties them together.

The bot only sees what reaches the shop's account, so the planted structure shows there too: influencers post
shout-outs that @mention the shop; part of the audience's mentions of the shop are replies under the shout-out of
an influencer of their community ("@influencer @shop ...", in_reply_to_user_id = the influencer, as X writes a
reply to a post that mentions the shop); group mentions often tag the community's influencer; shop-summoning
quotes often quote a shout-out and tag its author. The share of actions that reach the shop, and their intents,
are what they were without this; the audience's own chatter (never mentioning the shop) is unchanged.
"""

from __future__ import annotations

from bot.sandbox.audience.actor import KINDS
from bot.sandbox.audience.offers import IssuedOffer, OfferOrder, PlantedOffers
from bot.sandbox.audience.population import Community, SimUser
from bot.sandbox.audience.records import Action, GroundTruth
from bot.sandbox.audience.simulation import Audience
from bot.sandbox.audience.transport import AudienceError

__all__ = [
    "KINDS",
    "Action",
    "Audience",
    "AudienceError",
    "Community",
    "GroundTruth",
    "IssuedOffer",
    "OfferOrder",
    "PlantedOffers",
    "SimUser",
]
