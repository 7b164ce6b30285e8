"""`socialbot graph report|user|export`: influencers, communities and who connects them."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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
    from bot.core.records import Snapshot
    from bot.domains.audience.report import GraphReport
    from bot.settings.config import Settings

graph_app = typer.Typer(
    help="The audience graph: influencers (with why), communities (with what they talk about), brokers.",
    no_args_is_help=True,
)

RefreshOption = typer.Option(False, "--refresh", help="Analyse now (and store a snapshot) instead of the latest.")
CSV_COLUMNS = (
    "rank",
    "platform",
    "user_id",
    "username",
    "score",
    "pagerank",
    "in_strength",
    "hub",
    "authority",
    "betweenness",
    "followers",
    "community",
    "community_name",
    "reasons",
)


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")


def _snapshot(settings: Settings, store: Store, *, refresh: bool) -> Snapshot:
    """The latest snapshot, or a new one (--refresh, or none stored yet), with progress on stderr."""
    from bot.core.clock import SystemClock
    from bot.domains.audience.service import AnalysisService

    latest = None if refresh else store.graphs.latest_snapshot()
    if latest is not None:
        return latest
    if not refresh:
        err_console.print("no graph snapshot stored yet: analysing now")
    service = AnalysisService(settings, store, SystemClock(), owner=cli_owner())
    with err_console.status("analysing the audience graph", spinner="dots") as status:
        run = service.run(force=True, progress=lambda step: status.update(escape(step)))
    if run is None or run.report.snapshot_id is None:
        err_console.print("another daemon is analysing the graph right now; try again in a moment")
        raise typer.Exit(1)
    snapshot = store.graphs.snapshot(run.report.snapshot_id)
    assert snapshot is not None
    return snapshot


def format_score(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 or value == 0 else f"{value:.2e}"


@graph_app.command("report")
def report(
    refresh: bool = RefreshOption,
    top: int = typer.Option(25, "--top", min=0, help="Influencers listed (0: every ranked user, for --csv)."),
    csv_file: Path | None = typer.Option(None, "--csv", help="Write the ranked users as CSV (- for stdout)."),
    json_file: Path | None = typer.Option(None, "--json", help="Write the whole report as JSON (- for stdout)."),
    html_file: Path | None = typer.Option(None, "--html", help="Write a self-contained page with the drawing."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """Influencers with their reasons, communities with their names, favourite products and distinctive terms,
    brokers (from the latest snapshot)."""
    from bot.core.clock import SystemClock
    from bot.domains.audience.service import report_from_snapshot
    from bot.reports.freshness import snapshot_freshness

    settings = settings_for(config, database)
    with command_store(settings) as store:
        snapshot = _snapshot(settings, store, refresh=refresh)
        listed = top or snapshot.n_users
        graph_report = _with_interests(settings, store, report_from_snapshot(store, snapshot, top=listed))
        fresh = snapshot_freshness(store, snapshot, now=SystemClock().now(), tz=settings.tz)
        if csv_file is not None:
            _write_csv(graph_report, csv_file)
        if json_file is not None:
            out = open_output(json_file)
            json.dump(graph_report.to_json(), out, ensure_ascii=False, indent=2)
            out.write("\n")
            if out is not sys.stdout:
                out.close()
        if html_file is not None:
            _write_html(settings, store, snapshot, graph_report, html_file)
    if "-" in (str(csv_file), str(json_file)):
        return
    _print_report(graph_report, min(listed, 25) if top == 0 else listed, fresh)
    for label, path in (("CSV", csv_file), ("JSON", json_file), ("HTML", html_file)):
        if path is not None:
            console.print(f"{label} written to {escape(str(path))}", highlight=False)


def _with_interests(settings: Settings, store: Store, graph_report: GraphReport) -> GraphReport:
    """The report with each community's name, favourite products and distinctive terms (from the orders CSV and
    the mentions and DMs of segments.window); unchanged, with a note, when they cannot be read."""
    from bot.core.clock import SystemClock
    from bot.core.errors import BotError
    from bot.domains.audience.interests import interests_from_store
    from bot.domains.audience.report import with_interests

    with err_console.status("reading what each community orders and talks about", spinner="dots"):
        try:
            interests = interests_from_store(store, settings, SystemClock().now())
        except BotError as exc:
            err_console.print(f"[yellow]note[/yellow] communities without names and products: {escape(str(exc))}")
            return graph_report
    return with_interests(graph_report, interests)


def _write_csv(graph_report: GraphReport, target: Path) -> None:
    out = open_output(target)
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for user in graph_report.top:
        writer.writerow(
            [
                user.rank,
                user.platform,
                user.user_id,
                user.username or "",
                f"{user.score:.6f}",
                f"{user.pagerank:.8g}",
                f"{user.in_strength:.6g}",
                f"{user.hub:.8g}",
                f"{user.authority:.8g}",
                f"{user.betweenness:.8g}",
                "" if user.followers is None else user.followers,
                user.community,
                graph_report.community_names.get(user.community, ""),
                "; ".join(user.reasons),
            ]
        )
    if out is not sys.stdout:
        out.close()


def _write_html(settings: Settings, store: Store, snapshot: Snapshot, graph_report: GraphReport, target: Path) -> None:
    from bot.reports.graph_page import snapshot_html

    with err_console.status("drawing the graph", spinner="dots"):
        page = snapshot_html(store, settings, snapshot, graph_report)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")


def _print_report(graph_report: GraphReport, top: int, freshness: str) -> None:
    from rich.table import Table

    r = graph_report
    console.print(
        f"[bold]audience graph[/] snapshot {r.snapshot_id} of {r.created_at:%Y-%m-%d %H:%M} UTC: "
        f"{r.n_users:,} people, {r.n_edges:,} ties from {r.n_interactions:,} interactions; "
        f"{r.n_communities:,} communities (modularity {r.modularity:.3f}), reciprocity {r.reciprocity:.3f}",
        highlight=False,
    )
    console.print(freshness, highlight=False)
    table = Table(title=f"top {min(top, len(r.top))} influencers")
    for column in ("#", "user", "score", "PageRank", "in-strength", "followers", "community", "why"):
        table.add_column(column, overflow="fold", justify="right" if column in ("#", "score") else "left")
    for user in r.top[:top]:
        table.add_row(
            str(user.rank),
            escape(f"@{user.username}" if user.username else user.user_id),
            f"{user.score:.3f}",
            format_score(user.pagerank),
            f"{user.in_strength:.1f}",
            "" if user.followers is None else f"{user.followers:,}",
            str(user.community),
            escape("; ".join(user.reasons)),
        )
    console.print(table)
    communities = Table(title=f"largest communities (of {r.n_communities:,})")
    named = any(c.name for c in r.communities)
    columns = ("id", "name", "size", "inside", "top members", "favourite products", "distinctive words", "talks about")
    for column in columns if named else ("id", "size", "inside", "top members", "talks about"):
        communities.add_column(column, overflow="fold")
    for c in r.communities[:15]:
        members = escape(", ".join(f"@{m}" for m in c.top_members))
        talk = escape(", ".join(f"{t} ({n})" for t, n in c.top_terms[: 4 if named else 6]))
        if not named:
            communities.add_row(str(c.id), f"{c.size:,}", f"{c.internal_share:.0%}", members, talk)
            continue
        communities.add_row(
            str(c.id),
            escape(c.name or ""),
            f"{c.size:,}",
            f"{c.internal_share:.0%}",
            members,
            escape(", ".join(f"{p} ({share:.0%})" for p, share in c.products[:3]) or "none yet"),
            escape(", ".join(t for t, _ in c.distinctive_terms[:5]) or "—"),
            talk,
        )
    console.print(communities)
    if named:
        console.print(
            "[dim]favourite products: share of the members' orders and product mentions; distinctive words: "
            "what a community writes more than the others; talks about: its most used hashtags and words[/dim]",
            highlight=False,
        )
    if r.brokers:
        brokers = Table(title="brokers: who connects communities")
        for column in ("user", "community", "reaches", "bridging ties", "betweenness"):
            brokers.add_column(column, overflow="fold")
        for b in r.brokers:
            brokers.add_row(
                escape(f"@{b.username}" if b.username else b.user_id),
                str(b.community),
                ", ".join(str(c) for c in b.communities),
                str(b.bridges),
                format_score(b.betweenness),
            )
        console.print(brokers)
    if r.kinds:
        console.print(
            "interactions by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(r.kinds.items())), highlight=False
        )


@graph_app.command("user")
def user(
    handle: str = typer.Argument(..., help="The person's handle, e.g. @someone."),
    other: str | None = typer.Option(None, "--with", help="Also show the tie with this handle."),
    platform: str = PlatformOption,
    ties: int = typer.Option(15, "--ties", min=1, help="Strongest ties listed."),
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """One person: rank and reasons in the latest snapshot, history, strongest ties (ego network)."""
    from rich.table import Table

    from bot.core.clock import SystemClock
    from bot.domains.audience.graph import ego_log, ego_network, node_key, tie

    name = parse_handle(handle)
    settings = settings_for(config, database)
    now = SystemClock().now()
    with command_store(settings) as store:
        person = store.people.social_user(platform, username=name)
        if person is None:
            err_console.print(f"@{escape(name)} is not in the database (nobody by that handle has interacted yet)")
            raise typer.Exit(1)
        partner = None
        if other is not None:
            partner = store.people.social_user(platform, username=parse_handle(other))
            if partner is None:
                err_console.print(f"@{escape(parse_handle(other))} is not in the database")
                raise typer.Exit(1)
        snapshot = store.graphs.latest_snapshot()
        score = store.graphs.user_score(snapshot.id, platform, person.user_id) if snapshot else None
        history = store.graphs.user_score_history(platform, person.user_id, limit=5)
        log = ego_log(store, platform, person.user_id, settings.graph, now)
        partner_log = ego_log(store, platform, partner.user_id, settings.graph, now) if partner else None
        names = {f"{u.platform}:{u.user_id}": u.username for u in store.people.user_infos(platform) if u.username}
    ego = ego_network(log, platform, person.user_id)
    center = node_key(platform, person.user_id)
    console.print(f"[bold]@{escape(name)}[/] ({platform} user {escape(person.user_id)})", highlight=False)
    if snapshot is None:
        console.print("no graph snapshot yet: `socialbot graph report` makes one")
    elif score is None:
        console.print(f"not ranked in snapshot {snapshot.id} (no ties with other people in its window)")
    else:
        console.print(
            f"snapshot {snapshot.id}: rank {score.rank:,} of {snapshot.n_users:,}, score {score.score:.3f}, "
            f"community {score.community}; PageRank {format_score(score.pagerank)}, in-strength "
            f"{score.in_strength:.1f}, hub {format_score(score.hub)}, authority {format_score(score.authority)}, "
            f"betweenness {format_score(score.betweenness)}"
            + (f", {score.followers:,} followers" if score.followers is not None else ""),
            highlight=False,
        )
        if score.reasons:
            console.print("why: " + escape("; ".join(score.reasons)), highlight=False)
    if len(history) > 1:
        console.print(
            "history: " + ", ".join(f"{snap.created_at:%Y-%m-%d %H:%M} #{row.rank}" for snap, row in history),
            highlight=False,
        )
    strengths: dict[str, tuple[float, float, dict[str, int]]] = {}
    for u, v, data in ego.edges(data=True):
        peer, outgoing = (v, True) if u == center else (u, False)
        w_out, w_in, kinds = strengths.get(peer, (0.0, 0.0, {}))
        for kind, n in data["kinds"].items():
            label = f"{kind}{'→' if outgoing else '←'}"
            kinds[label] = kinds.get(label, 0) + n
        strengths[peer] = (w_out + data["weight"] * outgoing, w_in + data["weight"] * (not outgoing), kinds)
    table = Table(title=f"strongest ties ({len(strengths)} in all)")
    for column in ("with", "strength", "out", "in", f"interactions (→ from @{name}, ← to @{name})"):
        table.add_column(column, overflow="fold")
    ranked = sorted(strengths.items(), key=lambda item: (-(item[1][0] + item[1][1]), item[0]))
    for peer, (w_out, w_in, kinds) in ranked[:ties]:
        label = names.get(peer)
        table.add_row(
            escape(f"@{label}" if label else peer.split(":", 1)[1]),
            f"{w_out + w_in:.2f}",
            f"{w_out:.2f}",
            f"{w_in:.2f}",
            escape(", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))),
        )
    console.print(table)
    if partner is not None and partner_log is not None:
        t = tie(log, partner_log, platform, person.user_id, partner.user_id)
        console.print(
            f"tie with @{escape(partner.username or partner.user_id)}: strength {t.strength:.2f} "
            f"({t.weight_ab:.2f} out, {t.weight_ba:.2f} in, {'mutual' if t.reciprocal else 'one-way'}); "
            f"{t.common_neighbours} people in common (overlap {t.jaccard:.0%})",
            highlight=False,
        )


@graph_app.command("export")
def export(
    target: Path = typer.Argument(..., help="File to write."),
    fmt: str = typer.Option("gexf", "--format", help="gexf or graphml (both open in Gephi)."),
    refresh: bool = RefreshOption,
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
) -> None:
    """The whole graph with every measure as node attributes, for Gephi."""
    fmt = fmt.lower()
    if fmt not in ("gexf", "graphml"):
        raise typer.BadParameter(f"{fmt!r}: use gexf or graphml", param_hint="--format")
    import networkx as nx

    from bot.domains.audience.graph import to_networkx
    from bot.domains.audience.service import snapshot_log

    settings = settings_for(config, database)
    with command_store(settings) as store:
        snapshot = _snapshot(settings, store, refresh=refresh)
        with err_console.status("building the graph", spinner="dots") as status:
            log = snapshot_log(store, settings, snapshot)
            scores = {f"{r.platform}:{r.user_id}": r for r in store.graphs.snapshot_scores(snapshot.id)}
            names = {f"{u.platform}:{u.user_id}": u.username for u in store.people.user_infos() if u.username}
            graph = to_networkx(log, scores, names)
            status.update(f"writing {graph.number_of_nodes():,} nodes and {graph.number_of_edges():,} edges")
            target.parent.mkdir(parents=True, exist_ok=True)
            (nx.write_gexf if fmt == "gexf" else nx.write_graphml)(graph, target)
    console.print(
        f"{fmt.upper()} written to {escape(str(target))}: {graph.number_of_nodes():,} people, "
        f"{graph.number_of_edges():,} ties (snapshot {snapshot.id})",
        highlight=False,
    )
