#!/usr/bin/env python3
"""Mentions end to end: fetched from the sandbox, stored, classified, replies enqueued.

Injects COUNT mentions of the shop (a simulated audience, 15% Chinese) into a standalone sandbox in rounds
that stay inside X's 800-mention window, and after each round times `MentionService.poll` (GET mentions
pages, store mentions + authors + interactions, classify, render and enqueue replies, advance the cursor:
one transaction per page; with the shipped config that includes answering questions from the shop's data and
storing each message's outcome) on a SQLite file. The baseline polls the same mentions, in the same rounds,
into a second SQLite file whose WAL SQLite checkpoints itself in the committing connection (every 1,000 pages,
as before bot.adapters.store.wal); the two take turns going first, and the sentiment caches are emptied before
every poll, so neither reads the other's scores. Then times the classifier alone on the same texts.
Last line: RESULT mentions_per_s=X baseline_per_s=B classify_only_per_s=Y   (goal, issue 14: mentions_per_s >= 5000)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, admin, sandbox_process

from bot.adapters.platforms.x import XPlatform
from bot.adapters.sentiment import chinese_score, english_score, warm_up
from bot.adapters.store import Store
from bot.adapters.templating import TemplateRenderer, read_templates
from bot.core.clock import SystemClock
from bot.domains.conversations.intent import Classifier
from bot.domains.conversations.mentions import MentionService
from bot.sandbox.audience import Audience
from bot.settings.config import load_config
from bot.settings.replies import Caps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--round", type=int, default=700, help="mentions injected between two polls (< 800)")
    args = parser.parse_args()
    warm_up()
    with sandbox_process() as url, tempfile.TemporaryDirectory() as tmp:
        admin(url, "POST", "faults", json={"rate_limits": None})
        audience = Audience(url, "benchshop", users=500, seed=3).setup()
        shipped = load_config(ROOT / "config.yaml", require_credentials=False)
        replies = shipped.replies.model_copy(update={"caps": Caps(per_user_per_day=0, per_conversation=0)})
        settings = shipped.with_overrides(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", replies=replies.model_copy(update={"quiet_hours": None})
        ).with_account("shop", handle="benchshop", base_url=url)
        stores = {
            "bot": Store.open(settings.database_url),
            "baseline": Store.open(f"sqlite:///{Path(tmp) / 'baseline.db'}", wal_checkpoints=False),
        }
        platform = XPlatform.for_sandbox(url, "benchshop", account="shop")
        renderer = TemplateRenderer(settings, sources=read_templates(Path(settings.templates_dir)))
        classifier = Classifier(settings.replies)
        services = {}
        for name, store in stores.items():
            store.upgrade()
            services[name] = MentionService(settings, store, {"shop": platform}, classifier, renderer, SystemClock())
        texts: list[str] = []
        inject_s = 0.0
        poll_s = dict.fromkeys(stores, 0.0)
        seen = dict.fromkeys(stores, 0)
        replies_enqueued = dict.fromkeys(stores, 0)
        print(f"sandbox {url}: {args.count} mentions in rounds of {args.round}", flush=True)
        rounds = 0
        while len(texts) < args.count:
            started = time.perf_counter()
            actions = audience.mention_burst(min(args.round, args.count - len(texts)), language_mix=0.15)
            inject_s += time.perf_counter() - started
            texts.extend(a.text for a in actions)
            order = list(services) if rounds % 2 == 0 else list(reversed(services))
            rounds += 1
            for name in order:
                english_score.cache_clear()
                chinese_score.cache_clear()
                started = time.perf_counter()
                report = services[name].poll("shop")
                poll_s[name] += time.perf_counter() - started
                seen[name] += report.new
                replies_enqueued[name] += report.replies
            if len(texts) % (args.round * 20) < args.round:
                print(
                    f"  {len(texts):>7} injected, {seen['bot']:>7} stored, {seen['bot'] / poll_s['bot']:,.0f} "
                    f"mentions/s so far (baseline {seen['baseline'] / poll_s['baseline']:,.0f})",
                    flush=True,
                )
        polled = seen["bot"] / poll_s["bot"]
        baseline = seen["baseline"] / poll_s["baseline"]
        english_score.cache_clear()  # the classifier alone, as cold as the polls had it
        chinese_score.cache_clear()
        classifier = Classifier(settings.replies)
        started = time.perf_counter()
        for text in texts:
            classifier.classify(text, account_handle="benchshop")
        classify_rate = len(texts) / (time.perf_counter() - started)
        pages = admin(url, "GET", "stats")["requests"].get("GET /2/users/:id/mentions", 0)  # type: ignore[index]
        platform.close()
        for store in stores.values():
            store.close()
    print(
        f"injected {len(texts)} in {inject_s:.1f} s (not timed); stored {seen['bot']}, replies enqueued "
        f"{replies_enqueued['bot']}; poll time {poll_s['bot']:.1f} s (baseline {poll_s['baseline']:.1f} s); "
        f"sandbox served {pages} mention pages",
        flush=True,
    )
    for name in stores:
        if seen[name] != len(texts):
            raise SystemExit(f"{name}: stored {seen[name]} of {len(texts)} mentions")
    if replies_enqueued["bot"] != replies_enqueued["baseline"]:
        raise SystemExit(f"the two stores enqueued different replies: {replies_enqueued}")
    print(f"RESULT mentions_per_s={polled:.1f} baseline_per_s={baseline:.1f} classify_only_per_s={classify_rate:.1f}")


if __name__ == "__main__":
    main()
