"""`socialbot segments report|user`: who the audience is, in K-means segments with stable ids and labels."""

from __future__ import annotations

import csv
import json
import sys
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from bot.app.commands.common import (
    ConfigOption,
    PlatformOption,
    cli_owner,
    command_store,
    console,
    err_console,
    open_output,
    parse_handle,
    settings_for,
)
from bot.app.commands.database import DatabaseOption

if TYPE_CHECKING:
    from bot.adapters.store import Store
    from bot.core.records import SegmentInfo, SegmentRun
    from bot.settings.config import Settings

segments_app = typer.Typer(
    help="Audience segments: features per person clustered with K-means; stable ids, readable labels.",
    no_args_is_help=True,
)

RefreshOption = typer.Option(False, "--refresh", help="Segment now (and store a run) instead of the latest run.")
MEMBER_COLUMNS = ("platform", "user_id", "username", "segment_id", "label", "distance")


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")


def _run(settings: Settings, store: Store, *, refresh: bool) -> SegmentRun:
    """The latest run, or a new one (--refresh, or none stored yet), with progress on stderr."""
    from bot.core.clock import SystemClock
    from bot.domains.audience.segments import SegmentService

    latest = None if refresh else store.segments.latest_run()
    if latest is not None:
        return latest
    if not refresh:
        err_console.print("no segments stored yet: segmenting now")
    service = SegmentService(settings, store, SystemClock(), owner=cli_owner())
    with err_console.status("segmenting the audience", spinner="dots") as status:
        result = service.run(force=True, progress=lambda step: status.update(escape(step)))
    if result is None:
        err_console.print("another daemon is segmenting the audience right now; try again in a moment")
        raise typer.Exit(1)
    for problem in result.problems[:20]:
        err_console.print(f"[yellow]orders CSV[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if len(result.problems) > 20:
        err_console.print(f"... and {len(result.problems) - 20} more bad order rows", highlight=False)
    run = store.segments.run(result.run_id)
    assert run is not None
    return run


def _stands_out(run: SegmentRun, info: SegmentInfo, mean: dict[str, float]) -> str:
    from bot.domains.audience.segments import describe

    z = (run.params.get("z") or {}).get(str(info.segment_id)) or {}
    return "; ".join(describe(info.centroid, mean, z))


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"


def _report_json(run: SegmentRun, segments: list[SegmentInfo]) -> dict[str, Any]:
    total = max(1, sum(s.size for s in segments))
    z_all = run.params.get("z") or {}
    return {
        "run_id": run.id,
        "created_at": run.created_at.isoformat(),
        "n_users": run.n_users,
        "k": run.k,
        "silhouette": run.silhouette,
        "graph_snapshot_id": run.graph_snapshot_id,
        "k_scores": run.params.get("k_scores") or {},
        "orders_matched": run.stats.get("orders_matched"),
        "order_problems": run.stats.get("order_problems") or [],
        "segments": [
            {
                "id": s.segment_id,
                "label": s.label,
                "size": s.size,
                "share": s.size / total,
                "centroid": s.centroid,
                "z": z_all.get(str(s.segment_id)) or {},
            }
            for s in segments
        ],
    }


@segments_app.command("report")
def report(
    refresh: bool = RefreshOption,
    csv_file: Path | None = typer.Option(
        None, "--csv", help="Write every member with their segment as CSV (- for stdout)."
    ),
    json_file: Path | None = typer.Option(None, "--json", help="Write the segments as JSON (- for stdout)."),
    html_file: Path | None = typer.Option(None, "--html", help="Write a self-contained page with a scatter."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """The segments of the latest run: id, label, size, share and what stands out in each centroid."""
    from bot.core.clock import SystemClock
    from bot.reports.freshness import run_freshness

    settings = settings_for(config, database)
    with command_store(settings) as store:
        run = _run(settings, store, refresh=refresh)
        segments = store.segments.of_run(run.id)
        if csv_file is not None:
            _write_members(store, run, segments, csv_file)
        if json_file is not None:
            out = open_output(json_file)
            json.dump(_report_json(run, segments), out, ensure_ascii=False, indent=2)
            out.write("\n")
            if out is not sys.stdout:
                out.close()
        now = SystemClock().now()
        if html_file is not None:
            from bot.reports.segments_page import run_html

            html_file.parent.mkdir(parents=True, exist_ok=True)
            html_file.write_text(run_html(store, settings, run, segments, now=now), encoding="utf-8")
        fresh = run_freshness(store, run, now=now, tz=settings.tz)
        examples = store.segments.examples(run.id, [s.segment_id for s in segments])
    if "-" in (str(csv_file), str(json_file)):
        return
    _print_report(run, segments, fresh, examples, settings.tz)
    for label, path in (("CSV", csv_file), ("JSON", json_file), ("HTML", html_file)):
        if path is not None:
            console.print(f"{label} written to {escape(str(path))}", highlight=False)


def _write_members(store: Store, run: SegmentRun, segments: list[SegmentInfo], target: Path) -> None:
    labels = {s.segment_id: s.label for s in segments}
    out = open_output(target)
    writer = csv.writer(out)
    writer.writerow(MEMBER_COLUMNS)
    for chunk in store.segments.member_rows(run.id):
        writer.writerows(
            [p, u, name or "", s, labels.get(s, ""), "" if d is None else f"{d:.4f}"] for p, u, name, s, d in chunk
        )
    if out is not sys.stdout:
        out.close()


def _print_report(
    run: SegmentRun, segments: list[SegmentInfo], freshness: str, examples: dict[int, list[str]], zone: tzinfo
) -> None:
    from rich.table import Table

    from bot.domains.audience.segments import audience_mean

    total = max(1, sum(s.size for s in segments))
    mean = audience_mean(segments)
    console.print(
        f"[bold]audience segments[/] run {run.id} of {run.created_at.astimezone(zone):%Y-%m-%d %H:%M %Z}: "
        f"{run.n_users:,} people "
        f"in {run.k} segments"
        + (f", silhouette {run.silhouette:.3f}" if run.silhouette is not None else "")
        + (" (k fixed)" if run.params.get("k_fixed") else " (k chosen by silhouette)")
        + (f"; graph snapshot {run.graph_snapshot_id}" if run.graph_snapshot_id is not None else "; no graph snapshot"),
        highlight=False,
    )
    console.print(freshness, highlight=False)
    table = Table(title="segments")
    for column in ("id", "label", "people", "share", "what sets them apart", "for example"):
        table.add_column(column, overflow="fold", justify="right" if column in ("id", "people", "share") else "left")
    for s in segments:
        table.add_row(
            str(s.segment_id),
            escape(s.label),
            f"{s.size:,}",
            f"{s.size / total:.1%}",
            escape(_stands_out(run, s, mean)),
            escape(", ".join(examples.get(s.segment_id, []))),
        )
    console.print(table)
    if run.stats.get("orders_matched") is not None and run.params.get("orders_csv"):
        console.print(f"orders matched to {run.stats['orders_matched']:,} people", highlight=False)
    count = int(run.stats.get("order_problem_count") or 0)
    if count:
        console.print(f"[yellow]{count} bad rows in the orders CSV[/] (left out):", highlight=False)
        for problem in (run.stats.get("order_problems") or [])[:10]:
            console.print(f"  {escape(str(problem))}", highlight=False, soft_wrap=True)
    if not segments:
        console.print("nobody to segment yet: no interactions in the window")


@segments_app.command("user")
def user(
    handle: str = typer.Argument(..., help="The person's handle, e.g. @someone."),
    platform: str = PlatformOption,
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """One person: their segment and label, their features against the segment's centroid."""
    from rich.table import Table

    from bot.core.clock import SystemClock
    from bot.domains.audience.features import load_features

    name = parse_handle(handle)
    settings = settings_for(config, database)
    with command_store(settings) as store:
        person = store.people.social_user(platform, username=name)
        if person is None:
            err_console.print(f"@{escape(name)} is not in the database (nobody by that handle has interacted yet)")
            raise typer.Exit(1)
        run = store.segments.latest_run()
        member = store.segments.of_user(platform, person.user_id, run.id) if run else None
        info = None
        mean: dict[str, float] = {}
        if run is not None and member is not None:
            from bot.domains.audience.segments import audience_mean

            infos = store.segments.of_run(run.id)
            mean = audience_mean(infos)
            info = next((s for s in infos if s.segment_id == member[0]), None)
        table = load_features(settings, store, SystemClock().now(), user=(platform, person.user_id))
    console.print(f"[bold]@{escape(person.username or name)}[/] ({platform} user {escape(person.user_id)})")
    if run is None:
        console.print("no segments yet: `socialbot segments report` makes them")
    elif member is None or info is None:
        console.print(
            f"not in run {run.id} (fewer than {settings.segments.min_interactions} interactions in its window, "
            "or new since)"
        )
    else:
        console.print(
            f"segment {member[0]} [bold]{escape(member[1])}[/] in run {run.id} ({info.size:,} people): "
            + _stands_out(run, info, mean),
            highlight=False,
        )
    features = table.row(0) if len(table) else {}
    if table.community.size and table.community[0] >= 0:
        console.print(f"graph community {int(table.community[0])}", highlight=False)
    grid = Table(title="features: this person against the segment's centroid (raw units)")
    for column in ("feature", "this person", "segment mean"):
        grid.add_column(column, justify="left" if column == "feature" else "right")
    names = list(features) or (list(info.centroid) if info else [])
    for feature in names:
        grid.add_row(
            feature,
            _fmt(features.get(feature)) if features else "-",
            _fmt(info.centroid.get(feature)) if info else "-",
        )
    console.print(grid)
