"""The daemon, the composition root: the only place building concrete adapters.

lifecycle (Daemon: start, reload, watch, stop) builds on options, config_files (config.yaml and templates as
checked, edits noticed), accounts (one Platform per account), jobs (the services of one config and their scheduler
jobs), delivery (one outbox worker thread per account) and retry (the database waits, declared with tenacity)."""

from __future__ import annotations

from bot.app.daemon.accounts import StoredRateLimits, build_platform
from bot.app.daemon.lifecycle import Daemon
from bot.app.daemon.options import DaemonOptions

__all__ = ["Daemon", "DaemonOptions", "StoredRateLimits", "build_platform"]
