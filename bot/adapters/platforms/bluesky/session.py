"""The account's session: one createSession per adapter (the server allows 30 per 5 minutes), refreshSession when
the access token runs out, a new session when that fails, and no second try of a refused password for a while."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.adapters.platforms.bluesky.xrpc import PLATFORM, SessionExpired, XrpcClient
from bot.core.clock import Clock
from bot.core.errors import AuthError, PlatformError, Rejected
from bot.core.models import User

logger = logging.getLogger(__name__)

SESSION_TIMEOUT = 10.0  # seconds, at least: createSession checks a password hash (~0.4 s on an idle PDS)
AUTH_FAILURE_HOLD = timedelta(minutes=5)  # no second createSession with the same wrong password before this


@dataclass
class Session:
    did: str
    handle: str
    access: str = field(repr=False)
    refresh: str = field(repr=False)

    @classmethod
    def from_answer(cls, body: dict[str, Any]) -> Session:
        """From a createSession, refreshSession or createAccount answer."""
        try:
            return cls(
                did=str(body["did"]),
                handle=str(body["handle"]),
                access=str(body["accessJwt"]),
                refresh=str(body["refreshJwt"]),
            )
        except KeyError as exc:
            raise PlatformError(PLATFORM, f"session answer without {exc.args[0]}") from exc

    @property
    def user(self) -> User:
        return User(id=self.did, username=self.handle)


class Sessions:
    """Signs `handle` in with its app password (sent to createSession only; never formatted) when a request first
    needs it, and keeps the session fresh for every authenticated call."""

    def __init__(
        self, xrpc: XrpcClient, handle: str, password: str, *, account: str, clock: Clock, timeout: float
    ) -> None:
        self._xrpc = xrpc
        self.handle = handle
        self._password = password
        self.account = account
        self._clock = clock
        self._timeout = max(timeout, SESSION_TIMEOUT)
        self._session: Session | None = None
        self._lock = threading.Lock()
        self._auth_failed: tuple[datetime, str] | None = None

    @property
    def current(self) -> Session | None:
        """The session, if one was made (nothing is requested)."""
        return self._session

    def ensure(self) -> Session:
        session = self._session
        if session is not None:
            return session
        with self._lock:
            if self._session is None:
                self._session = self._create()
            return self._session

    def call(self, method: str, nsid: str, **kwargs: Any) -> dict[str, Any]:
        """An authenticated XRPC call (XrpcClient.call's arguments). An expired or unverifiable session is renewed
        once and the request repeated."""
        used: list[Session] = []

        def token() -> str:
            used.append(self.ensure())
            return used[-1].access

        try:
            return self._xrpc.call(method, nsid, token=token, **kwargs)
        except SessionExpired as exc:
            if not used:
                raise
            self._renew(used[-1], exc.error)
        return self._xrpc.call(method, nsid, token=token, **kwargs)

    def _create(self) -> Session:
        if self._auth_failed is not None:
            failed_at, reason = self._auth_failed
            if self._clock.now() < failed_at + AUTH_FAILURE_HOLD:
                raise AuthError(PLATFORM, reason)
        try:
            body = self._xrpc.call(
                "POST",
                "com.atproto.server.createSession",
                body={"identifier": self.handle, "password": self._password},
                timeout=self._timeout,
            )
        except AuthError as exc:
            self._auth_failed = (self._clock.now(), f"{exc} (account {self.account})")
            raise
        self._auth_failed = None
        session = Session.from_answer(body)
        logger.info("bluesky session created for %s (account=%s)", session.handle, self.account)
        return session

    def _renew(self, stale: Session, error: str) -> None:
        """Replace `stale`: refreshSession when the access token expired, a new session when that fails or the
        token was not accepted at all. Another thread may have done it already."""
        with self._lock:
            if self._session is not stale:
                return
            self._session = None
            if error == "ExpiredToken":
                try:
                    body = self._xrpc.call(
                        "POST", "com.atproto.server.refreshSession", token=stale.refresh, timeout=self._timeout
                    )
                    self._session = Session.from_answer(body)
                    logger.info("bluesky session refreshed for %s (account=%s)", stale.handle, self.account)
                    return
                except (AuthError, Rejected) as exc:
                    logger.info("bluesky refresh failed for %s (%s); creating a new session", self.account, exc)
            self._session = self._create()
