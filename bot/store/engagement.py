"""Engagement collection state: our own posts to look at, and the daily read budget."""

from __future__ import annotations


class EngagementQueries:
    """Mixed into Store."""
