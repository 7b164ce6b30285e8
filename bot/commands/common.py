"""Helpers shared by CLI commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from bot.config import Settings

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


def load_settings(config: Path | None, *, hint: str = "run `socialbot check` for details") -> Settings:
    """The config for a command (no credentials needed); every problem printed and exit status 2 when invalid."""
    from bot.config import load_config
    from bot.errors import ConfigError

    path = config_path(config)
    try:
        return load_config(path, require_credentials=False)
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(f"[red]error[/red] {escape(str(problem))}", highlight=False, soft_wrap=True)
        err_console.print(f"[red bold]invalid configuration[/red bold] in {escape(str(path))}; {hint}")
        raise typer.Exit(code=2) from exc
