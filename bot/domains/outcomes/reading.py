"""What the outcome models read from the store (store.outcomes: bot.adapters.store.outcomes)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from bot.core.models import Activity


class OutcomeReader(Protocol):
    """The readings and the audience's activity the outcome models read (store.outcomes)."""

    def readings(
        self,
        *,
        account: str | Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        campaign: str | None = None,
        age: str | None = None,
        detail: bool = True,
    ) -> dict[str, list[Any]]: ...

    def post_texts(self, keys: Collection[str]) -> dict[str, str]: ...

    def activity(self, account: str, *, since: datetime | None = None, until: datetime | None = None) -> Activity: ...
