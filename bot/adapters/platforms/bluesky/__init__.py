"""Bluesky (AT Protocol) over httpx: the only package that speaks XRPC (docs/bluesky.md).

xrpc (the one client: transport, errors mapped at one boundary, rate-limit headers), session (createSession,
refresh, the hold after a refused password), identity (DID/handle caches, profiles), records (records <-> models),
chat (DMs), mentions (listNotifications), platform (BlueskyPlatform composing them).
"""

from bot.adapters.platforms.bluesky.platform import BlueskyPlatform
from bot.adapters.platforms.bluesky.records import AtUri, cursor_of
from bot.adapters.platforms.bluesky.xrpc import XrpcClient, XrpcError, XrpcServerError

__all__ = ["AtUri", "BlueskyPlatform", "XrpcClient", "XrpcError", "XrpcServerError", "cursor_of"]
