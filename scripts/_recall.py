"""Influencer recall: are the simulated audience's planted influencers found through the bot's own view of it?

A sandbox in a thread, a seeded Audience with planted influencers and communities, the shop's account posting a
few promotions through the outbox; the audience acts; then the bot's own services do what the daemon does:
the mentions poll (mentions, replies, quotes, DMs -> interactions), engagement collection (likes, reposts,
quotes of the shop's posts) and the graph analysis. Recall@k = planted influencers among the top k / min(k,
planted). Used by scripts/eval_graph.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RecallRun:
    recall: float
    k: int
    planted: int
    found: list[str]  # planted influencers' handles in the top k
    missed: list[str]
    top: list[str]  # the top k handles, best first
    users: int
    interactions: int
    communities: int
    modularity: float
    community_nmi: float  # detected communities of the people in the graph against the planted ones


def influencer_recall(
    *,
    seed: int = 7,
    users: int = 400,
    communities: int = 6,
    influencers: int = 10,
    steps: int = 6000,
    k: int = 10,
    shop_posts: int = 12,
    poll_every: int = 400,
    read_budget: int = 5000,
    say: Callable[[str], None] = print,
) -> RecallRun:
    from bot.adapters.platforms.x import XPlatform
    from bot.adapters.store import Store
    from bot.adapters.templating import TemplateRenderer
    from bot.app.demo import demo_settings
    from bot.core.clock import SystemClock
    from bot.domains.audience.engagement import EngagementService
    from bot.domains.audience.service import AnalysisService
    from bot.domains.conversations.intent import Classifier
    from bot.domains.conversations.mentions import MentionService
    from bot.domains.publishing.outbox import Outbox
    from bot.sandbox.audience import Audience
    from bot.sandbox.server import SandboxServer
    from bot.settings.config import load_config

    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="socialbot-recall-") as tmp, SandboxServer() as sandbox:
        base = load_config(ROOT / "config.yaml", require_credentials=False)
        settings = demo_settings(
            base, sandbox_url=sandbox.url, database_url=f"sqlite:///{Path(tmp) / 'recall.db'}", slot_seconds=1
        )
        engagement_config = settings.graph.engagement.model_copy(update={"daily_read_budget": read_budget})
        settings = settings.model_copy(
            update={"graph": settings.graph.model_copy(update={"engagement": engagement_config})}
        )
        account = next(iter(settings.accounts))
        handle = settings.accounts[account].handle
        store = Store.open(settings.database_url)
        store.upgrade()
        platform = XPlatform.for_sandbox(sandbox.url, handle, account=account)
        platforms = {account: platform}
        try:
            say(f"recall: shop @{handle} posts {shop_posts} promotions through the outbox")
            for i in range(shop_posts):
                store.outbox.enqueue(
                    f"recall:{i}", account=account, kind="post", text=f"Lumen Home pick #{i + 1} of the week"
                )
            outbox = Outbox(store, platforms, delivery=settings.delivery, owner="recall", clock=clock)
            outbox.deliver_due()
            audience = Audience(
                sandbox.url, handle, seed=seed, users=users, communities=communities, influencers=influencers
            ).setup()
            say(f"recall: {users} people, {communities} communities, {influencers} influencers, {steps} actions")
            renderer = TemplateRenderer(settings)
            mentions = MentionService(settings, store, platforms, Classifier(settings.replies), renderer, clock)
            done = stored = 0
            while done < steps:  # act, then poll as the daemon would (X serves only the newest 800 mentions)
                batch = min(poll_every, steps - done)
                audience.step(batch)
                done += batch
                for _ in range(50):  # a poll stops early at a rate limit; go on until one completes
                    report = mentions.poll(account)
                    stored += report.new
                    if report.complete:
                        break
                    if report.waiting_until is not None:
                        raise RuntimeError(f"the sandbox rate-limited the mentions poll until {report.waiting_until}")
                say(f"recall: {done}/{steps} actions, {stored} mentions and DMs stored")
            truth = audience.ground_truth()
            audience.close()
            engagement = EngagementService(settings, store, platforms, clock).collect(account)
            say(
                f"recall: mentions stored, engagement read {engagement.reads} users/posts "
                f"({engagement.interactions} interactions)"
            )
            run = AnalysisService(settings, store, clock, owner="recall", platforms=platforms).run(force=True)
            assert run is not None
        finally:
            platform.close()
            store.close()
    from bot.domains.audience.engine import nmi
    from bot.domains.audience.graph import split_key

    detected, planted_labels = [], []
    for node, key in enumerate(run.scored.keys):
        user_id = split_key(key)[1]
        if user_id in truth.communities:
            detected.append(int(run.scored.analysis.community[node]))
            planted_labels.append(truth.communities[user_id])
    handles = truth.usernames
    planted = set(truth.influencers)
    top_ids = [u.user_id for u in run.report.top[:k]]
    found = [handles.get(u, u) for u in top_ids if u in planted]
    missed = [handles.get(u, u) for u in sorted(planted - set(top_ids))]
    return RecallRun(
        recall=len(found) / min(k, len(planted)) if planted else 0.0,
        k=k,
        planted=len(planted),
        found=found,
        missed=missed,
        top=[handles.get(u, u) for u in top_ids],
        users=run.report.n_users,
        interactions=run.report.n_interactions,
        communities=run.report.n_communities,
        modularity=run.report.modularity,
        community_nmi=float(nmi(np.asarray(detected), np.asarray(planted_labels))) if detected else 0.0,
    )


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    print(influencer_recall())
