"""`socialbot check`: validate config.yaml and render every template with its real data."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from bot.commands.common import ConfigOption, config_path, console, err_console

logger = logging.getLogger(__name__)


def check(
    config: Path | None = ConfigOption,
    strict: bool = typer.Option(
        False, "--strict", help="Treat missing credentials as errors (as `socialbot run` does)."
    ),
) -> None:
    """Validate config.yaml and every template (each variant x each product); exit 2 on any problem."""
    from bot.checking import run_checks

    path = config_path(config)
    report = run_checks(path, require_credentials=strict)
    for warning in report.warnings:
        err_console.print(f"[yellow]warning[/yellow] {warning}", highlight=False, soft_wrap=True)
    if report.problems:
        for problem in report.problems:
            err_console.print(f"[red]error[/red] {problem}", highlight=False, soft_wrap=True)
        count = len(report.problems)
        err_console.print(f"[red bold]{count} problem{'s' if count != 1 else ''}[/red bold] in {path}")
        raise typer.Exit(code=2)
    settings = report.settings
    assert settings is not None
    for r in report.renderings:  # each account of each campaign: its platform's template and length rule
        unit = "graphemes" if r.platform == "bluesky" else "weighted"
        console.print(
            f"  {r.campaign} → {r.account} ({r.platform}): {r.template}, {r.texts} text(s), "
            f"longest {r.longest}/{r.limit} {unit}",
            highlight=False,
        )
    console.print(
        f"[green]ok[/green] {path}: {len(settings.accounts)} account(s), {report.campaigns} campaign(s), "
        f"{report.rendered} text(s) rendered and within limits",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("check")(check)
