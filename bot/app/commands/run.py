"""`socialbot run` (the daemon) and `socialbot demo` (the daemon against a built-in sandbox)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from bot.app.commands.common import ConfigOption, config_path, console, err_console

if TYPE_CHECKING:
    from bot.core.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)


def run(
    config: Path | None = ConfigOption,
    log_format: str = typer.Option("text", "--log-format", help="text or json (one object per line)."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=0, max=65535, help="Serve /metrics (Prometheus) and /healthz on 127.0.0.1:P."
    ),
    wait_for_database: float = typer.Option(
        300, "--wait-for-database", min=0, help="At start, retry an unavailable database for this many seconds."
    ),
) -> None:
    """Run the daemon: scheduled promotions through the outbox, until SIGTERM/SIGINT (SIGHUP reloads)."""
    from bot.app.signals import DaemonSignals, take_early

    signals = take_early() or DaemonSignals().install()  # before anything slow
    from bot.app.daemon import Daemon, DaemonOptions
    from bot.core.errors import BotError, ConfigError
    from bot.core.logs import setup_logging

    setup_logging(log_level, _log_format(log_format))
    options = DaemonOptions(
        config_path=config_path(config), metrics_port=metrics_port, database_wait_seconds=wait_for_database
    )
    daemon = Daemon(options)
    try:
        daemon.run_forever(signals)
    except ConfigError as exc:
        raise _invalid(f"refusing to start: {config_path(config)} is invalid", exc) from exc
    except BotError as exc:
        err_console.print(f"[bold red]socialbot stopped:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc


def _invalid(title: str, exc: ConfigError) -> typer.Exit:
    """Print `title` and every problem; the exit (status 2) to raise."""
    err_console.print(f"[bold red]{title}[/]")
    for problem in exc.problems:
        err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _log_format(value: str) -> Literal["text", "json"]:
    if value not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--log-format")
    return "json" if value == "json" else "text"


def demo(
    seconds: float = typer.Option(60, "--seconds", min=1, help="How long to run."),
    json_summary: Path | None = typer.Option(None, "--json-summary", help="Also write the summary as JSON here."),
    config: Path | None = ConfigOption,
    slot_seconds: float = typer.Option(4, "--slot-seconds", min=0.5, help="Every campaign fires this often."),
    log_level: str = typer.Option("WARNING", "--log-level", help="Log level for the daemon's lines."),
    graph_html: Path = typer.Option(
        Path("var/demo-graph.html"),
        "--graph-html",
        help="Where to write the audience-graph page (relative: to the config's folder).",
    ),
    platform: str = typer.Option(
        "x",
        "--platform",
        help="x: the built-in X sandbox; bluesky: the local AT Protocol network (scripts/bluesky-devnet, "
        "started here unless SOCIALBOT_BLUESKY_PDS_URL names one).",
    ),
) -> None:
    """Run the bot for a while against the built-in X sandbox (or a local Bluesky network): no credentials, a
    temporary database."""
    from bot.app.demo import DemoOptions, run_demo
    from bot.core.errors import BotError, ConfigError

    if platform not in ("x", "bluesky"):
        raise typer.BadParameter("must be 'x' or 'bluesky'", param_hint="--platform")

    try:
        run_demo(
            DemoOptions(
                config_path=config_path(config),
                seconds=seconds,
                slot_seconds=slot_seconds,
                json_summary=json_summary,
                log_level=log_level,
                graph_html=graph_html,
                platform=platform,
            ),
            console=console,
        )
    except ConfigError as exc:
        raise _invalid(f"the demo's config is invalid: {config_path(config)}", exc) from exc
    except BotError as exc:
        if platform == "x":
            raise
        err_console.print(f"[bold red]the Bluesky demo stopped:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
