"""Who is who: DID -> handle and handle -> DID, remembered (handles move, so a resolution is asked again after
HANDLE_TTL), and profiles with follower counts."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from bot.adapters.platforms.bluesky.records import user_of
from bot.adapters.platforms.bluesky.session import Sessions
from bot.adapters.platforms.bluesky.xrpc import XrpcError
from bot.core.clock import Clock
from bot.core.models import User

logger = logging.getLogger(__name__)

PROFILE_BATCH = 25  # app.bsky.actor.getProfiles takes at most 25 actors
HANDLE_TTL = timedelta(hours=1)  # handles move: a resolved (or unresolvable) one is asked again after this
CACHE_SIZE = 50_000  # DIDs and handles remembered, at most


class Identities:
    """The handles and DIDs the network last said, the signed-in account's own included."""

    def __init__(self, sessions: Sessions, *, clock: Clock, account: str) -> None:
        self._sessions = sessions
        self._clock = clock
        self.account = account
        self._handles: dict[str, str] = {}  # DID -> handle
        self._dids: dict[str, tuple[str | None, datetime]] = {}  # handle -> (DID or None: unresolvable, when)

    def handle(self, did: str) -> str | None:
        """The handle of `did` as last seen (nothing is requested)."""
        own = self._sessions.current
        if own is not None and own.did == did:
            return own.handle
        return self._handles.get(did)

    def remember(self, did: str, handle: str) -> None:
        if len(self._handles) >= CACHE_SIZE:
            self._handles.clear()
        self._handles[did] = handle

    def resolve(self, handle: str) -> str | None:
        """The DID of a handle (com.atproto.identity.resolveHandle, remembered for HANDLE_TTL), or None."""
        handle = handle.lower()
        own = self._sessions.current
        if own is not None and own.handle.lower() == handle:
            return own.did
        now = self._clock.now()
        known = self._dids.get(handle)
        if known is not None and now < known[1] + HANDLE_TTL:
            return known[0]
        try:
            body = self._sessions.call("GET", "com.atproto.identity.resolveHandle", params={"handle": handle})
            did = body.get("did") if isinstance(body.get("did"), str) else None
        except XrpcError:
            did = None  # HandleNotFound and friends: the mention stays plain text
        if did is None:
            logger.info("bluesky: @%s does not resolve; left as plain text (account=%s)", handle, self.account)
        else:
            self.remember(did, handle)
        if len(self._dids) >= CACHE_SIZE:
            self._dids.clear()
        self._dids[handle] = (did, now)
        return did

    def profiles(self, dids: Sequence[str]) -> dict[str, User]:
        """Users with follower counts, from app.bsky.actor.getProfiles (25 a call)."""
        users: dict[str, User] = {}
        unique = list(dict.fromkeys(d for d in dids if d))
        for start in range(0, len(unique), PROFILE_BATCH):
            chunk = unique[start : start + PROFILE_BATCH]
            body = self._sessions.call("GET", "app.bsky.actor.getProfiles", params={"actors": chunk})
            for profile in body.get("profiles") or []:
                user = user_of(profile)
                if user is not None:
                    users[user.id] = user
                    self.remember(user.id, user.username)
        return users

    def handles(self, dids: Iterable[str]) -> dict[str, str]:
        """DID -> handle for mentioned DIDs, asking the network only for the ones not known yet."""
        wanted = list(dict.fromkeys(dids))
        unknown = [d for d in wanted if self.handle(d) is None]
        if unknown:
            self.profiles(unknown)
        return {d: handle for d in wanted if (handle := self.handle(d)) is not None}
