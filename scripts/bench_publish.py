#!/usr/bin/env python3
"""Outbox throughput against a bare tweepy loop, same sandbox, same run.

Sends COUNT posts through the outbox (SQLite file, limits off) and COUNT posts through a plain
`tweepy.Client.create_tweet` loop, to a standalone sandbox process with rate limits off.
Last line: RESULT outbox_per_s=X raw_per_s=Y ratio=X/Y   (goal: ratio >= 0.8)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests
import tweepy
from _harness import admin, sandbox_process


class _Rewrite(requests.adapters.HTTPAdapter):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        request.url = request.url.replace("https://api.twitter.com", self.base, 1)
        kwargs["proxies"] = {}
        kwargs.setdefault("timeout", 10)
        return super().send(request, **kwargs)


def raw_loop(url: str, count: int) -> float:
    user_id = admin(url, "POST", "users", json={"username": "rawbench", "name": "raw"})["id"]  # type: ignore[index]
    client = tweepy.Client(
        consumer_key="bench", consumer_secret="bench", access_token=f"{user_id}-sandbox", access_token_secret="bench"
    )
    client.session.trust_env = False
    client.session.mount("https://api.twitter.com", _Rewrite(url))
    started = time.perf_counter()
    for i in range(count):
        client.create_tweet(text=f"Weekly deal #{i}: lamps 20% off today only")
    return time.perf_counter() - started


def outbox_run(url: str, count: int, tmp: Path) -> tuple[float, float]:
    from bot.config import DeliveryConfig
    from bot.models import MessageKind
    from bot.outbox import Outbox
    from bot.platforms.x import XPlatform
    from bot.store import Store

    store = Store.open(f"sqlite:///{tmp / 'bench.db'}")
    store.upgrade()
    platform = XPlatform.for_sandbox(url, "outboxbench", account="bench")
    started = time.perf_counter()
    for i in range(count):
        text = f"Weekly deal #{i}: lamps 20% off today only"
        store.enqueue(f"bench:{i}", account="bench", kind=MessageKind.POST, text=text)
    enqueue_s = time.perf_counter() - started
    delivery = DeliveryConfig(per_account_per_day=None, min_spacing_seconds=0)
    outbox = Outbox(store, {"bench": platform}, delivery=delivery, owner="bench")
    started = time.perf_counter()
    report = outbox.deliver_due()
    deliver_s = time.perf_counter() - started
    sent = store.summary().get("posts_published", report.sent)
    if sent != count:
        raise SystemExit(f"outbox sent {sent} of {count}")
    platform.close()
    store.close()
    return deliver_s, enqueue_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    with sandbox_process() as url, tempfile.TemporaryDirectory() as tmp:
        admin(url, "POST", "faults", json={"rate_limits": None})
        print(f"sandbox {url}; sending {args.count} posts each way", flush=True)
        raw_s = raw_loop(url, args.count)
        raw_rate = args.count / raw_s
        print(f"raw tweepy loop: {raw_s:.2f} s, {raw_rate:.0f} posts/s", flush=True)
        deliver_s, enqueue_s = outbox_run(url, args.count, Path(tmp))
        outbox_rate = args.count / deliver_s
        print(f"outbox: enqueue {enqueue_s:.2f} s; delivery {deliver_s:.2f} s, {outbox_rate:.0f} posts/s", flush=True)
    print(f"RESULT outbox_per_s={outbox_rate:.1f} raw_per_s={raw_rate:.1f} ratio={outbox_rate / raw_rate:.3f}")


if __name__ == "__main__":
    main()
