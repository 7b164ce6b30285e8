"""Coupons: issuance exactly once per person and campaign within budget, delivery state, redemptions."""

from __future__ import annotations


class CouponQueries:
    """Mixed into bot.store.Store."""
