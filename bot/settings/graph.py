"""The `graph:` section of config.yaml: engagement collection, the interaction graph and the influencer score."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field, field_validator

from bot.core.durations import duration_value
from bot.settings.base import ConfigModel

INTERACTION_KINDS = ("mention", "reply", "quote", "dm", "like", "retweet")
MEASURES = ("pagerank", "in_strength", "hub", "authority", "betweenness", "followers")


class EngagementConfig(ConfigModel):
    """Who liked, reposted or quoted the account's own recent posts (X charges per read)."""

    enabled: bool = True
    every: timedelta = timedelta(hours=1)  # how often each account's recent posts are looked at
    lookback: timedelta = timedelta(days=7)  # posts older than this are no longer collected
    daily_read_budget: Annotated[int, Field(ge=0)] = 500  # users + posts read per account per UTC day; 0: none
    max_per_post: Annotated[int, Field(ge=1, le=1000)] = 100  # engagers read per post and kind per collection

    @field_validator("every", "lookback", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return duration_value(value, "a duration")


def _default_kind_weights() -> dict[str, float]:
    return {"mention": 1.0, "reply": 3.0, "quote": 3.0, "retweet": 2.0, "like": 0.5, "dm": 1.0}


def _default_score_weights() -> dict[str, float]:
    return {
        "pagerank": 0.35,
        "in_strength": 0.2,
        "authority": 0.15,
        "hub": 0.05,
        "betweenness": 0.15,
        "followers": 0.1,
    }


class GraphConfig(ConfigModel):
    """The audience graph: edges from stored interactions, measures, communities and the influencer score."""

    enabled: bool = True
    every: timedelta = timedelta(hours=6)  # how often the daemon analyses the graph (one daemon at a time)
    # also analyse again once the interactions in the window reached this multiple of the last snapshot's; null: off
    rerun_when_grown: Annotated[float, Field(gt=1)] | None = 2.0
    window: timedelta | None = timedelta(days=90)  # interactions older than this are left out; null: all
    half_life: timedelta | None = timedelta(days=30)  # an interaction's weight halves every half_life; null: none
    kind_weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=_default_kind_weights)
    include_own_account: bool = False  # the shop's own account as a node (it dominates every measure)
    score_weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=_default_score_weights)
    betweenness_samples: Annotated[int, Field(ge=1)] = 64
    seed: int = 7
    top: Annotated[int, Field(ge=1, le=10000)] = 25  # influencers listed and kept with reasons
    engagement: EngagementConfig = Field(default_factory=EngagementConfig)

    @field_validator("every", "window", "half_life", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return duration_value(value, "a duration")

    @field_validator("kind_weights")
    @classmethod
    def _kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(INTERACTION_KINDS))
        if unknown:
            known = ", ".join(INTERACTION_KINDS)
            raise ValueError(f"unknown interaction kind(s) {', '.join(unknown)} (known: {known})")
        return {**{kind: 0.0 for kind in INTERACTION_KINDS}, **_default_kind_weights(), **value}

    @field_validator("score_weights")
    @classmethod
    def _measures(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(MEASURES))
        if unknown:
            raise ValueError(f"unknown measure(s) {', '.join(unknown)} (known: {', '.join(MEASURES)})")
        if not any(value.values()):
            raise ValueError("at least one score weight must be above zero")
        return {measure: float(value.get(measure, 0.0)) for measure in MEASURES}
