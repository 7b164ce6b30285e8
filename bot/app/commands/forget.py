"""`socialbot forget @handle`: erase a person's personal data, keeping aggregate counts and their opt-out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from bot.app.commands.common import (
    ConfigOption,
    PlatformOption,
    command_store,
    console,
    err_console,
    parse_handle,
    settings_for,
)
from bot.app.commands.database import DatabaseOption

if TYPE_CHECKING:
    from bot.adapters.store.privacy import ForgetReport

logger = logging.getLogger(__name__)

YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)


def forget(
    handle: str = typer.Argument(..., help="The person's handle, e.g. @someone."),
    platform: str = PlatformOption,
    yes: bool = YesOption,
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Erase a person's personal data (profile, texts, graph scores, segments, unredeemed codes); aggregate
    counts and their opt-out (as a hash) are kept. Exit status 1 when nothing of theirs was found."""
    from rich.table import Table

    name = parse_handle(handle)
    settings = settings_for(config, database)
    with command_store(settings) as store:
        known = store.people.social_user(platform, username=name)
        who = f"@{name} ({platform} user {known.user_id})" if known else f"@{name} (never stored by id on {platform})"
        if not yes and not typer.confirm(
            f"Erase everything stored about {who}? This cannot be undone.", default=False, err=True
        ):
            err_console.print("nothing erased")
            raise typer.Exit(1)
        report = store.privacy.forget(platform, known.user_id if known else None, name)
    if report.total == 0:
        err_console.print(f"nothing stored about @{escape(name)} on {escape(platform)}: nothing erased")
        _print_files(report)
        raise typer.Exit(1)
    table = Table(title=f"forgotten: @{name} on {platform}")
    for column in ("table", "erased", "anonymised", "masked in others' rows"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for row_name, erased, anonymised, masked in report.tables():
        table.add_row(escape(row_name), str(erased), str(anonymised), str(masked))
    console.print(table)
    if report.optout_kept:
        console.print("their opt-out is kept (as a hash only): nothing will reach them")
    _print_files(report)
    logger.info(
        "forget command: %s on %s done (%d rows)", "known person" if known else "handle", platform, report.total
    )


def _print_files(report: ForgetReport) -> None:
    """Whether old copies of the erased rows are out of the database files too."""
    if report.files_clean:
        if report.files:
            console.print(escape(report.files), highlight=False)
        return
    err_console.print(f"[yellow]warning:[/] {escape(report.files)}", highlight=False, soft_wrap=True)
    err_console.print("run the same `socialbot forget` again when the database is less busy: it finishes this step")
