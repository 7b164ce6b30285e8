#!/usr/bin/env python3
"""Outbox throughput against a bare tweepy loop, same sandbox, same run.

Sends COUNT posts through the outbox (SQLite file, limits off, each paid call recorded in the cost ledger as the
daemon does) and COUNT posts through a plain
`tweepy.Client.create_tweet` loop, to a standalone sandbox process with rate limits off.
Last line: RESULT outbox_per_s=X raw_per_s=Y ratio=X/Y   (goal: ratio >= 0.8)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests
import tweepy
from _harness import admin, sandbox_process

from bot.adapters.platforms.x import XPlatform
from bot.adapters.store import Store
from bot.domains.costs import SpendingCap
from bot.domains.publishing.outbox import Outbox
from bot.settings.config import DeliveryConfig
from bot.settings.costs import CostsConfig

TEXT = "Weekly deal #{i}: lamps 20% off today only"


class _Rewrite(requests.adapters.HTTPAdapter):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        request.url = request.url.replace("https://api.twitter.com", self.base, 1)
        kwargs["proxies"] = {}
        kwargs.setdefault("timeout", 10)
        return super().send(request, **kwargs)


def raw_client(url: str) -> tweepy.Client:
    user_id = admin(url, "POST", "users", json={"username": "rawbench", "name": "raw"})["id"]  # type: ignore[index]
    client = tweepy.Client(
        consumer_key="bench", consumer_secret="bench", access_token=f"{user_id}-sandbox", access_token_secret="bench"
    )
    client.session.trust_env = False
    client.session.mount("https://api.twitter.com", _Rewrite(url))
    return client


def raw_round(client: tweepy.Client, numbers: range) -> float:
    started = time.perf_counter()
    for i in numbers:
        client.create_tweet(text=TEXT.format(i=i))
    return time.perf_counter() - started


def outbox_round(url: str, store: Store, numbers: range) -> tuple[float, float]:
    platform = XPlatform.for_sandbox(url, "outboxbench", account="bench")
    started = time.perf_counter()
    store.outbox.enqueue_many(
        [
            {
                "key": f"bench:{i}",
                "account": "bench",
                "kind": "post",
                "text": f"Weekly deal #{i}: lamps 20% off today only",
            }
            for i in numbers
        ]
    )
    enqueue_s = time.perf_counter() - started
    delivery = DeliveryConfig(per_account_per_day=None, min_spacing_seconds=0)
    cap = SpendingCap(store.costs, CostsConfig(), UTC, store.clock)  # the cost ledger, as the daemon records it
    platform.use_cost_ledger(cap)
    outbox = Outbox(store, {"bench": platform}, delivery=delivery, owner="bench", spending=cap)
    started = time.perf_counter()
    report = outbox.deliver_due()
    cap.close()
    deliver_s = time.perf_counter() - started
    platform.close()
    if report.sent != len(numbers):
        raise SystemExit(f"outbox sent {report.sent} of {len(numbers)}: {report}")
    return deliver_s, enqueue_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternate raw and outbox rounds (evens out machine load)"
    )
    args = parser.parse_args()
    per_round = args.count // args.rounds
    raw_s = deliver_s = enqueue_s = 0.0
    with sandbox_process() as url, tempfile.TemporaryDirectory() as tmp:
        admin(url, "POST", "faults", json={"rate_limits": None})
        print(f"sandbox {url}; {args.rounds} rounds of {per_round} posts each way", flush=True)
        client = raw_client(url)
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.upgrade()
        for n in range(args.rounds):
            numbers = range(n * per_round, (n + 1) * per_round)
            raw_s += (r := raw_round(client, numbers))
            d, e = outbox_round(url, store, numbers)
            deliver_s += d
            enqueue_s += e
            print(f"  round {n + 1}/{args.rounds}: raw {per_round / r:.0f}/s, outbox {per_round / d:.0f}/s", flush=True)
        published = store.outbox.summary()["posts_published"]
        store.close()
    total = per_round * args.rounds
    if published != total:
        raise SystemExit(f"the store records {published} published of {total}")
    raw_rate, outbox_rate = total / raw_s, total / deliver_s
    print(f"raw tweepy loop: {raw_s:.2f} s, {raw_rate:.0f} posts/s", flush=True)
    print(
        f"outbox: enqueue {enqueue_s:.2f} s (not in the ratio); delivery {deliver_s:.2f} s, {outbox_rate:.0f} posts/s"
    )
    print(f"RESULT outbox_per_s={outbox_rate:.1f} raw_per_s={raw_rate:.1f} ratio={outbox_rate / raw_rate:.3f}")


if __name__ == "__main__":
    main()
