"""Helpers shared by CLI commands."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

CONFIG_ENV = "SOCIALBOT_CONFIG"

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    help="Path to config.yaml (default: $SOCIALBOT_CONFIG or ./config.yaml).",
)


def config_path(value: Path | None) -> Path:
    if value is not None:
        return value
    return Path(os.environ.get(CONFIG_ENV, "config.yaml"))
