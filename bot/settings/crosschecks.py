"""Checks the models cannot do alone: accounts named elsewhere exist, template files and code pools are there.

They run on the raw YAML data, so they report even when typing fails; each problem is (key path, message).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bot.settings.replies import default_intents
from bot.settings.yamlpos import KeyPath

Found = Iterator[tuple[KeyPath, str]]


def cross_checks(data: dict[str, Any], base: Path) -> Found:
    """Every problem of config.yaml's raw `data` (its folder `base`) that needs more than one section to see."""
    accounts = data.get("accounts") if isinstance(data.get("accounts"), dict) else {}
    templates_dir = data.get("templates_dir", "templates")
    templates_root = base / templates_dir if isinstance(templates_dir, str) else None
    if templates_root is not None and not templates_root.is_dir():
        yield ("templates_dir",), f"templates folder {templates_root} does not exist"
        templates_root = None
    yield from _replies(data.get("replies"), accounts, templates_root)
    yield from _coupons(data.get("coupons"), accounts, templates_root, base)
    yield from _campaigns(data.get("campaigns"), accounts, templates_root)
    yield from _revenue_learning(data.get("campaigns"), data.get("segments"))


def _unknown_account(account: Any, accounts: Mapping[str, Any]) -> str | None:
    if not isinstance(account, str) or account in accounts:
        return None
    known = ", ".join(sorted(map(str, accounts))) or "none defined"
    return f"unknown account {account!r} (accounts: {known})"


def _missing_template(templates_root: Path | None, template: Any) -> bool:
    """A template named (a non-blank string) that is not a file under templates_root (when that folder exists)."""
    return (
        templates_root is not None
        and isinstance(template, str)
        and bool(template.strip())
        and not (templates_root / template).is_file()
    )


def _campaigns(campaigns: Any, accounts: Mapping[str, Any], templates_root: Path | None) -> Found:
    """Campaigns name real accounts and templates."""
    if not isinstance(campaigns, dict):
        return
    for name, campaign in campaigns.items():
        if not isinstance(campaign, dict):
            continue
        key: KeyPath = ("campaigns", name)
        if unknown := _unknown_account(campaign.get("account"), accounts):
            yield (*key, "account"), unknown
        named = campaign.get("accounts")
        if isinstance(named, list):
            for index, item in enumerate(named):
                if unknown := _unknown_account(item, accounts):
                    yield (*key, "accounts", index), unknown
        template = campaign.get("template")
        if _missing_template(templates_root, template):
            yield (*key, "template"), f"template {template!r} not found in {templates_root}"


def _revenue_learning(campaigns: Any, segments: Any) -> Found:
    """A campaign learning on revenue needs the shop's orders (segments.orders_csv) to see it."""
    if not isinstance(campaigns, dict):
        return
    orders = segments.get("orders_csv") if isinstance(segments, dict) else None
    for name, campaign in campaigns.items():
        if isinstance(campaign, dict) and campaign.get("learn_on") == "revenue" and not orders:
            yield (
                ("campaigns", name, "learn_on"),
                "learn_on: revenue needs the shop's orders with their UTM columns: set segments.orders_csv",
            )


def _replies(replies: Any, accounts: Mapping[str, Any], templates_root: Path | None) -> Found:
    """replies.accounts name real accounts; when replies are on, every reply template exists."""
    if not isinstance(replies, dict):
        return
    named = replies.get("accounts")
    if isinstance(named, list):
        for index, account in enumerate(named):
            if unknown := _unknown_account(account, accounts):
                yield ("replies", "accounts", index), unknown
    if templates_root is None or replies.get("enabled", True) is False:
        return
    explicit = "intents" in replies
    intents = replies["intents"] if explicit else [rule.model_dump() for rule in default_intents()]
    if not isinstance(intents, list):
        return
    for index, rule in enumerate(intents):
        if not isinstance(rule, dict):
            continue
        for field in ("reply", "dm_reply"):
            template = rule.get(field)
            if _missing_template(templates_root, template):
                key: KeyPath = ("replies", "intents", index, field) if explicit else ("replies",)
                yield key, f"reply template {template!r} not found in {templates_root}"


def _coupons(coupons: Any, accounts: Mapping[str, Any], templates_root: Path | None, base: Path) -> Found:
    """Coupon campaigns name real accounts, templates and code pools."""
    if not isinstance(coupons, dict) or not isinstance(coupons.get("campaigns"), dict):
        return
    for name, campaign in coupons["campaigns"].items():
        if not isinstance(campaign, dict):
            continue
        key: KeyPath = ("coupons", "campaigns", name)
        if unknown := _unknown_account(campaign.get("account"), accounts):
            yield (*key, "account"), unknown
        template = campaign.get("template", "coupons/coupon.j2")
        if templates_root is not None and isinstance(template, str) and not (templates_root / template).is_file():
            yield (*key, "template"), f"coupon template {template!r} not found in {templates_root}"
        pool = campaign.get("codes_csv")
        if isinstance(pool, str) and pool.strip() and not (base / pool).is_file():
            yield (*key, "codes_csv"), f"codes CSV {base / pool} not found"
