"""Validate everything the team edits: config.yaml, the files it names, and every template rendered with
its real data (every variant x every product, at real slot times). Used by `socialbot check` and by the
daemon's hot reload, so both report the same messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import (
    Settings,
    TimesSchedule,
    load_config,
    localize,
    missing_credentials,
)
from bot.errors import ConfigError, Problem, TemplateError

logger = logging.getLogger(__name__)

SAMPLE_SLOTS = 3


@dataclass
class Rendering:
    """What one account of a campaign renders: from which template, how many texts, the longest by its rule."""

    campaign: str
    account: str
    platform: str  # whose length rule: x (also the sandbox) or bluesky
    template: str
    texts: int = 0
    longest: int = 0
    limit: int = 0
    invalid: int = 0


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    settings: Settings | None = None
    rendered: int = 0  # texts rendered and measured
    campaigns: int = 0
    renderings: list[Rendering] = field(default_factory=list)  # one per campaign and account

    @property
    def ok(self) -> bool:
        return not self.problems


def sample_slots(settings: Settings, name: str, now: datetime, count: int = SAMPLE_SLOTS) -> list[datetime]:
    """A few real slot times of a campaign (aware, campaign timezone), from its window start or now."""
    zone = settings.campaign_timezone(name)
    start, _ = settings.campaign_window(name)
    origin = localize(now, zone)
    _, end = settings.campaign_window(name)
    if start is not None and (start > origin or (end is not None and end <= origin)):
        origin = start - timedelta(microseconds=1)
    from bot.campaigns import campaign_spec  # the scheduler's own slot arithmetic (DST, anchors)
    from bot.scheduling import next_slots

    spec = campaign_spec(settings, name)
    slots = next_slots(spec.schedule, spec.tz, spec.window, origin, count)
    return [slot.astimezone(zone) for slot in slots] or [origin]


def check_settings(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    report: CheckReport | None = None,
    sources: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Render every campaign's template with its data; return the problems (and fill `report`).

    `sources` (bot.templating.read_templates) checks that snapshot rather than the files on disk."""
    from bot.templating import TemplateRenderer  # jinja2 stays out of CLI start-up

    now = (clock or (lambda: datetime.now(UTC)))()
    renderer = TemplateRenderer(settings, clock=lambda: now, sources=sources)
    problems: list[Problem] = []
    report = report if report is not None else CheckReport()
    for name, campaign in settings.campaigns.items():
        key = f"campaigns.{name}.template"
        slots = sample_slots(settings, name, now)
        for account in campaign.targets:
            # each account renders from its platform's template (promo.bluesky.j2 beside promo.j2) by its rule
            template = renderer.campaign_template(name, account)
            who = f"account {account}: " if campaign.multi_account else ""
            template_file = str(Path(settings.templates_dir) / template)
            try:
                count = renderer.variants(template)
            except TemplateError as exc:
                problems.append(Problem(template_file, exc.line, key, who + exc.message))
                continue
            rendering = Rendering(name, account, renderer.account_network(account), template)
            report.renderings.append(rendering)
            product_count = max(1, len(campaign.products))
            texts: set[str] = set()
            seen_errors: set[tuple[int | None, str]] = set()
            for variant in range(count):
                for index in range(product_count):
                    slot = slots[(variant * product_count + index) % len(slots)]
                    try:
                        rendered = renderer.render_campaign(
                            name, slot_at=slot, sequence=index, variant=variant, account=account
                        )
                    except TemplateError as exc:
                        if (exc.line, exc.message) not in seen_errors:
                            seen_errors.add((exc.line, exc.message))
                            message = f"{who}variant {variant + 1}/{count}: {exc.message}"
                            problems.append(Problem(template_file, exc.line, key, message))
                        continue
                    report.rendered += 1
                    texts.add(rendered.text)
                    rendering.texts += 1
                    rendering.longest = max(rendering.longest, rendered.length)
                    rendering.limit = rendered.limit
                    if not rendered.valid:
                        rendering.invalid += 1
                        product = campaign.products[index].name if campaign.products else None
                        what = f"{who}variant {variant + 1}/{count}" + (f", product {product!r}" if product else "")
                        problems.append(
                            Problem(
                                template_file,
                                _variant_line(renderer, template, variant),
                                key,
                                f"{what}, slot {slot:%Y-%m-%d %H:%M %Z}: {rendered.reason}",
                            )
                        )
            schedule = campaign.schedule
            many_slots = not isinstance(schedule, TimesSchedule) or len(schedule.times) > 1
            if many_slots and len(texts) == 1:
                report.warnings.append(
                    Problem(
                        template_file,
                        None,
                        key,
                        f"{who}every slot renders the same text; "
                        + (
                            "X refuses exact duplicates"
                            if renderer.account_network(account) == "x"
                            else "an account never posts a text twice, so later slots would be skipped"
                        )
                        + " (add variants, or use product / slot in the template)",
                    )
                )
        _start, end = settings.campaign_window(name)
        if end is not None and end <= localize(now, end.tzinfo):  # type: ignore[arg-type]
            report.warnings.append(
                Problem(str(settings.config_path), None, f"campaigns.{name}.end", "the campaign window has ended")
            )
    problems.extend(check_reply_templates(settings, renderer, report))
    return problems


_SAMPLE_CUSTOMERS = (
    {"language": "en", "name": "Mia", "text": "where is my order?"},
    {"language": "zh", "name": "小林", "text": "我的订单什么时候到？"},
    {"language": "en", "name": "A" * 60, "text": "x" * 280},
    {"language": "zh", "name": "龙" * 40, "text": "好" * 200},
)
_SAMPLE_COUPONS = {  # a long coupons/coupon.j2 text: reply templates that show `coupon` must fit with it
    "en": "A little thank-you, " + "A" * 24 + ": ¥50 off every ¥300 with code LH-7KQ4M9XW3, valid until 2026-12-14.",
    "zh": "龙" * 24 + "，送你一张专属优惠券：满300减50，优惠码 LH-7KQ4M9XW3，有效期至 2026-12-14。",
}


def check_reply_templates(settings: Settings, renderer: object, report: CheckReport | None = None) -> list[Problem]:
    """Every reply template, every variant, in both languages and with a very long customer text, must render
    and fit the limit of each platform whose mentions are answered (X's weighted 280, Bluesky's 300 graphemes)
    once the quoted customer text is cut as the mentions service cuts it."""
    from bot.text import length_rule

    problems: list[Problem] = []
    if not settings.replies.enabled:
        return problems
    answered = settings.replies.accounts if settings.replies.accounts is not None else list(settings.accounts)
    networks = sorted({settings.accounts[a].network for a in answered if a in settings.accounts}) or ["x"]
    seen: set[Problem] = set()
    for network in networks:
        rule = length_rule(network)
        for problem in _check_reply_templates(settings, renderer, report, rule.limit, rule.count):
            if problem in seen:  # the same on every platform (a template error): once
                continue
            seen.add(problem)
            if len(networks) > 1:
                problem = Problem(problem.file, problem.line, problem.path, f"on {network}: {problem.message}")
            problems.append(problem)
    return problems


def _check_reply_templates(
    settings: Settings,
    renderer: object,
    report: CheckReport | None,
    max_length: int,
    length: Callable[[str], int],
) -> list[Problem]:
    from bot.replies import ReplyComposer

    problems: list[Problem] = []
    composer = ReplyComposer(renderer, max_length=max_length, length=length)  # type: ignore[arg-type]
    shop = next(iter(settings.accounts.values())).handle if settings.accounts else "shop"
    for key, template in settings.replies.templates():
        template_file = str(Path(settings.templates_dir) / template)
        channel = "dm" if key.endswith("dm_reply") else "reply"
        seen: set[tuple[int | None, str]] = set()
        with_coupon = "coupon" in _template_source(renderer, template)
        for sample, coupon in [(s, None) for s in _SAMPLE_CUSTOMERS] + [
            (s, _SAMPLE_COUPONS[s["language"]]) for s in _SAMPLE_CUSTOMERS if with_coupon
        ]:
            intent = settings.replies.intents[int(key.split(".")[2])].name
            context = {
                "user": "customer",
                "intent": intent,
                "shop": shop,
                "sequence": 0,
                "channel": channel,
                "coupon": coupon,
                **sample,
            }
            try:
                count = len(renderer.render(template, context))  # type: ignore[attr-defined]
            except TemplateError as exc:
                if (exc.line, exc.message) not in seen:
                    seen.add((exc.line, exc.message))
                    problems.append(Problem(template_file, exc.line, key, exc.message))
                continue
            for variant, (text, reason) in enumerate(composer.candidates(template, context, dm=channel == "dm")):
                if report is not None:
                    report.rendered += 1
                if text is None and (variant, str(reason)) not in seen:
                    seen.add((variant, str(reason)))
                    what = f"variant {variant + 1}/{count}, {sample['language']} customer"
                    problems.append(
                        Problem(template_file, _variant_line(renderer, template, variant), key, f"{what}: {reason}")
                    )
    return problems


def _template_source(renderer: object, template: str) -> str:
    try:
        return str(renderer._source(template)[0])  # type: ignore[attr-defined]
    except TemplateError:
        return ""


def _variant_line(renderer: object, template: str, variant: int) -> int | None:
    from bot.templating import split_variants

    try:
        source, _ = renderer._source(template)  # type: ignore[attr-defined]
    except TemplateError:
        return None
    return split_variants(source)[variant][0]


def run_checks(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> CheckReport:
    """Everything `socialbot check` reports. Missing credentials are warnings unless required."""
    report = CheckReport()
    try:
        settings = load_config(path, environ=environ, require_credentials=require_credentials)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        return report
    report.settings = settings
    report.campaigns = len(settings.campaigns)
    for account, variables in missing_credentials(settings).items():
        report.warnings.append(
            Problem(
                str(settings.config_path),
                None,
                f"accounts.{account}",
                f"no credentials: set {', '.join(variables)} (environment or .env) before `socialbot run`",
            )
        )
    report.problems.extend(check_settings(settings, clock=clock, report=report))
    return report


def check_all(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> list[Problem]:
    """Every problem with config.yaml and its templates; empty when all is well."""
    return run_checks(path, environ=environ, require_credentials=require_credentials, clock=clock).problems


def load_checked(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> Settings:
    """For the daemon (start and hot reload): Settings when config AND templates are fine, else ConfigError."""
    report = run_checks(path, environ=environ, require_credentials=require_credentials, clock=clock)
    if report.problems or report.settings is None:
        raise ConfigError(report.problems)
    return report.settings
