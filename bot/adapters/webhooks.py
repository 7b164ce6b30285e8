"""JSON POSTs to the shop's own webhooks (inbox escalations, coupon exports): the only place they are sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    """How a POST ended: the HTTP status, or the failure (its exception's type name and text) when none came."""

    status: int | None = None
    error_type: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post_json(url: str, payload: Mapping[str, Any], *, timeout: float, trust_env: bool = True) -> Answer:
    """POST `payload` as JSON; never raises for what the network or the server does."""
    try:
        with httpx.Client(timeout=timeout, trust_env=trust_env) as client:
            response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        return Answer(error_type=type(exc).__name__, error=str(exc))
    return Answer(status=response.status_code)
