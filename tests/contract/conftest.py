"""`platform_factory`: one harness per Platform implementation (today: X over the sandbox)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.harness import Harness, XSandboxHarness


@pytest.fixture(params=["x"])
def harness(request: pytest.FixtureRequest, sandbox: object) -> Iterator[Harness]:
    if request.param == "x":
        h = XSandboxHarness(sandbox)
        try:
            yield h
        finally:
            h.close()


@pytest.fixture
def platform_factory(harness: Harness) -> Iterator[object]:
    made: list[object] = []

    def make(handle: str = "shop", *, timeout: float = 0.5) -> object:
        p = harness.platform(handle, timeout=timeout)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()  # type: ignore[attr-defined]
