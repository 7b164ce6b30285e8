"""A local X API v2 sandbox: `SandboxServer(host, port, *, clock, seed)` with an admin API under /_sandbox/.

Public API (see bot/sandbox/server.py):
    server = SandboxServer(port=0).start(); server.url; server.port; server.reset(); server.stop()
Admin endpoints: POST/GET /_sandbox/users, POST/GET /_sandbox/tweets, POST /_sandbox/edits, POST /_sandbox/likes,
POST /_sandbox/retweets, POST/GET /_sandbox/dms, GET /_sandbox/stats, POST/GET /_sandbox/faults,
POST /_sandbox/reset.

server: HTTP and the SandboxServer; api: X's endpoints; admin: /_sandbox/; state: world, limits, faults, stats;
world and views: the in-memory X and how it is rendered; audience/: a seeded simulated audience.
"""

from __future__ import annotations

from bot.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]
