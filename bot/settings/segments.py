"""The `segments:` section of config.yaml: audience features and K-means segments."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from bot.core.durations import duration_value
from bot.settings.base import ConfigModel


class SegmentsConfig(ConfigModel):
    """Who the audience is: features per person (interactions, recency, sentiment, complaints, influence,
    community, orders) clustered with K-means into segments with stable ids and readable labels."""

    enabled: bool = True
    every: timedelta = timedelta(hours=24)  # how often the daemon re-segments (one daemon at a time)
    # also re-segment once the people with features reached this multiple of the last run's; null: off
    rerun_when_grown: Annotated[float, Field(gt=1)] | None = 2.0
    k: Annotated[int, Field(ge=2, le=50)] | None = None  # fixed k; null: chosen by silhouette over k_range
    k_range: tuple[int, int] = (3, 8)
    seed: int = 7
    window: timedelta | None = timedelta(days=180)  # interactions/mentions older than this are left out
    orders_csv: Path | None = None  # handle,order_id,amount,time[,product] exported by the shop (relative: config dir)
    min_interactions: Annotated[int, Field(ge=0)] = 1  # people with fewer are not segmented
    sample: Annotated[int, Field(ge=100)] = 20_000  # rows on which k is chosen (silhouette) and seeded
    top_communities: Annotated[int, Field(ge=0, le=20)] = 5  # graph communities entering as one-hot columns

    @field_validator("every", "window", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return duration_value(value, "a duration")

    @model_validator(mode="after")
    def _range(self) -> SegmentsConfig:
        low, high = self.k_range
        if not 2 <= low <= high <= 50:
            raise ValueError(f"k_range must be [low, high] with 2 <= low <= high <= 50, not [{low}, {high}]")
        return self
