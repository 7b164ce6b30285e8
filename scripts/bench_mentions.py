#!/usr/bin/env python3
"""Mentions end to end: fetched from the sandbox, stored, classified, replies enqueued.

Injects COUNT mentions of the shop (a simulated audience, 15% Chinese) into a standalone sandbox in rounds
that stay inside X's 800-mention window, and after each round times `MentionService.poll` (GET mentions
pages, store mentions + authors + interactions, classify, render and enqueue replies, advance the cursor:
one transaction per page; with the shipped config that includes answering questions from the shop's data and
storing each message's outcome) on a SQLite file. Then times the classifier alone on the same texts.
Last line: RESULT mentions_per_s=X classify_only_per_s=Y   (goal, issue 14: mentions_per_s >= 5000)
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
        store = Store.open(settings.database_url)
        store.upgrade()
        platform = XPlatform.for_sandbox(url, "benchshop", account="shop")
        renderer = TemplateRenderer(settings, sources=read_templates(Path(settings.templates_dir)))
        classifier = Classifier(settings.replies)
        service = MentionService(settings, store, {"shop": platform}, classifier, renderer, SystemClock())
        texts: list[str] = []
        polled = inject_s = poll_s = 0.0
        seen = replies_enqueued = 0
        print(f"sandbox {url}: {args.count} mentions in rounds of {args.round}", flush=True)
        while len(texts) < args.count:
            started = time.perf_counter()
            actions = audience.mention_burst(min(args.round, args.count - len(texts)), language_mix=0.15)
            inject_s += time.perf_counter() - started
            texts.extend(a.text for a in actions)
            started = time.perf_counter()
            report = service.poll("shop")
            poll_s += time.perf_counter() - started
            seen += report.new
            replies_enqueued += report.replies
            if len(texts) % (args.round * 20) < args.round:
                print(
                    f"  {len(texts):>7} injected, {seen:>7} stored, {seen / poll_s:,.0f} mentions/s so far", flush=True
                )
        polled = seen / poll_s
        english_score.cache_clear()  # the classifier alone, as cold as the polls had it
        chinese_score.cache_clear()
        classifier = Classifier(settings.replies)
        started = time.perf_counter()
        for text in texts:
            classifier.classify(text, account_handle="benchshop")
        classify_rate = len(texts) / (time.perf_counter() - started)
        pages = admin(url, "GET", "stats")["requests"].get("GET /2/users/:id/mentions", 0)  # type: ignore[index]
        platform.close()
        store.close()
    print(
        f"injected {len(texts)} in {inject_s:.1f} s (not timed); stored {seen}, replies enqueued {replies_enqueued}; "
        f"poll time {poll_s:.1f} s; sandbox served {pages} mention pages",
        flush=True,
    )
    if seen != len(texts):
        raise SystemExit(f"stored {seen} of {len(texts)} mentions")
    print(f"RESULT mentions_per_s={polled:.1f} classify_only_per_s={classify_rate:.1f}")


if __name__ == "__main__":
    main()
