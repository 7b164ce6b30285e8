"""How a daemon runs: where its config is, its environment, and the demo's overrides."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings.config import Settings

SettingsHook = Callable[["Settings"], "Settings"]


@dataclass
class DaemonOptions:
    """How to run: where the config is, the environment, and demo-only overrides."""

    config_path: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    settings_hook: SettingsHook | None = None  # e.g. the demo points accounts at its sandbox
    watch_seconds: float = 2.0  # how often config.yaml and templates/ are checked for edits
    require_credentials: bool = True
    metrics_port: int | None = None  # serve /metrics and /healthz on 127.0.0.1 (0: a free port)
    database_wait_seconds: float = 0.0  # at start, keep trying an unavailable database this long
