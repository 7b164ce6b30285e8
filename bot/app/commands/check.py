"""`socialbot check`: validate config.yaml and render every template with its real data."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from bot.app.commands.common import ConfigOption, config_path, console, err_console

logger = logging.getLogger(__name__)

PROGRESS_AFTER_S = 1.0  # a check that is done sooner shows no progress


class LongProgress:
    """Progress of a long command on stderr, called as (what, done, total): a rich bar per step on a terminal, else
    a line per quarter of each step. Shown only once the command has run PROGRESS_AFTER_S (quick work shows
    nothing) and for steps not already complete at their first report."""

    def __init__(self, command: str) -> None:
        self._command = command
        self._started = time.monotonic()
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._quarters: dict[str, int] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        if self._bar is None and not self._tasks and time.monotonic() - self._started < PROGRESS_AFTER_S:
            return
        label = what
        quarter = 4 * done // max(total, 1)
        if label not in self._quarters and quarter >= 4:  # done at the first report (a small file): nothing to show
            self._quarters[label] = quarter
            return
        if not err_console.is_terminal:
            if quarter > self._quarters.get(label, 0):
                self._quarters[label] = quarter
                self._tasks[label] = None
                err_console.print(f"{self._command}: {label}: {25 * quarter}%", highlight=False, soft_wrap=True)
            return
        self._quarters[label] = quarter
        if self._bar is None:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._bar.start()
        if label not in self._tasks:
            self._tasks[label] = self._bar.add_task(label, total=total)
        self._bar.update(self._tasks[label], completed=done, total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def _progress() -> Iterator[LongProgress]:
    from bot.settings.products import reading_progress

    shown = LongProgress("check")
    try:
        with reading_progress(lambda file, done, total: shown(f"reading {file}", done, total)):
            yield shown
    finally:
        shown.stop()


def check(
    config: Path | None = ConfigOption,
    strict: bool = typer.Option(
        False, "--strict", help="Treat missing credentials as errors (as `socialbot run` does)."
    ),
) -> None:
    """Validate config.yaml and every template (each variant x each product); exit 2 on any problem."""
    from bot.app.checking import run_checks

    path = config_path(config)
    with _progress() as progress:
        report = run_checks(path, require_credentials=strict, progress=progress)
    for warning in report.warnings:
        err_console.print(f"[yellow]warning[/yellow] {escape(str(warning))}", highlight=False, soft_wrap=True)
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
        sample = f" (a sample of {r.sampled:,} of {r.products:,} products)" if r.products > r.sampled else ""
        console.print(
            f"  {r.campaign} → {r.account} ({r.platform}): {r.template}, {r.texts} text(s){sample}, "
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
