"""Shared fixtures: a real sandbox X server in a thread and real databases (SQLite, PostgreSQL if set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.store import Store
from bot.core.clock import ManualClock

POSTGRES_ENV = "SOCIALBOT_TEST_POSTGRES_URL"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[object]:
    """One sandbox X API server for the session, on a free 127.0.0.1 port."""
    from bot.sandbox.server import SandboxServer

    server = SandboxServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bluesky_devnet() -> Iterator[object]:
    """The session's local AT Protocol network (tests.contract.harness.BlueskyDevnet): the PDS (and AppView) of
    SOCIALBOT_BLUESKY_PDS_URL (SOCIALBOT_BLUESKY_APPVIEW_URL) when set, else scripts/bluesky-devnet's, started for
    the session and stopped after it if this started it. Skips where the network cannot run (script exit 3)."""
    from tests.contract.harness import DEVNET_STATE, BlueskyDevnet, DevnetUnavailable

    try:
        net = BlueskyDevnet.acquire()
    except DevnetUnavailable as exc:
        DEVNET_STATE.skipped = str(exc)
        pytest.skip(f"bluesky devnet: {exc}")
    DEVNET_STATE.started = net.started
    try:
        yield net
    finally:
        net.release()


@pytest.fixture
def sandbox(sandbox_server: object) -> object:
    """The session's sandbox, reset to an empty world before each test."""
    sandbox_server.reset()  # type: ignore[attr-defined]
    return sandbox_server


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'socialbot.db'}"


def _postgres_database(admin_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"sb_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of its own (dropped after the test); skips without SOCIALBOT_TEST_POSTGRES_URL."""
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} not set")
    yield from _postgres_database(os.environ[POSTGRES_ENV])


def _backends() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} not set"),
            ],
        )
    )
    return params


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, and a new PostgreSQL database when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'socialbot.db'}"
        return
    yield from _postgres_database(os.environ[POSTGRES_ENV])


@pytest.fixture
def store(db_url: str, clock: ManualClock) -> Iterator[Store]:
    """A migrated store on `db_url` whose clock is the module's `clock` fixture."""
    s = Store.open(db_url, clock=clock)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()
