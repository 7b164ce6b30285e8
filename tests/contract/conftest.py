"""`platform_factory`: one harness per Platform implementation: X over the sandbox, Bluesky over a local AT Protocol
network (the session's `bluesky_devnet`, see tests/conftest.py; its cases skip where the network cannot run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.harness import DEVNET_STATE, BlueskyHarness, Harness, XSandboxHarness

FIRST_START_TIMEOUT = 900  # seconds: the first Bluesky test may install and start the network (~1.5 min once)
_bluesky_ran = 0


@pytest.fixture(params=["x", "bluesky"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "x":
        h: XSandboxHarness | BlueskyHarness = XSandboxHarness(request.getfixturevalue("sandbox"))
    else:
        h = BlueskyHarness(request.getfixturevalue("bluesky_devnet"))
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def platform_factory(harness: Harness) -> Iterator[object]:
    made: list[object] = []

    def make(handle: str = "shop", *, timeout: float | None = None) -> object:
        p = harness.platform(handle, timeout=timeout)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()  # type: ignore[attr-defined]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first Bluesky case sets the network up (installs it the first time): it gets a longer timeout."""
    for item in items:
        if _is_bluesky(item.nodeid):
            item.add_marker(pytest.mark.timeout(FIRST_START_TIMEOUT))
            return


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _bluesky_ran
    if report.when == "call" and _is_bluesky(report.nodeid) and report.outcome in ("passed", "failed"):
        _bluesky_ran += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _bluesky_ran:
        terminalreporter.write_line(f"bluesky: {_bluesky_ran} contract tests ran against the local AT Protocol network")
    elif DEVNET_STATE.skipped:
        terminalreporter.write_line(f"bluesky: skipped: {DEVNET_STATE.skipped}")


def _is_bluesky(nodeid: str) -> bool:
    return "tests/contract/" in nodeid and "[bluesky" in nodeid
