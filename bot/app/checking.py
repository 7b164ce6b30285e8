"""Validate everything the team edits: config.yaml, the files it names, and every template rendered with
its real data (every variant x every product, at real slot times). Used by `socialbot check` and by the
daemon's hot reload, so both report the same messages.

A large catalogue is not rendered row by row: every row's fields are validated when the CSV is read
(bot.settings.products), and each template is rendered against a representative sample (representative_products):
the first rows, rows spread over the file, and per field the longest, the largest, the non-ASCII and emoji
values and the first row of every other shape (a missing value, text where the rest hold numbers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import compress
from operator import attrgetter, methodcaller, not_
from pathlib import Path
from typing import Any

from bot.core.clock import Clock, FrozenClock, SystemClock
from bot.core.errors import ConfigError, Problem, TemplateError
from bot.settings.config import (
    Product,
    Settings,
    TimesSchedule,
    load_config,
    localize,
    missing_credentials,
)
from bot.settings.languages import coupon_language_warnings
from bot.settings.promises import promise_warnings

logger = logging.getLogger(__name__)

SAMPLE_SLOTS = 3
RENDER_ALL_UP_TO = 100  # products; a larger catalogue is rendered against representative_products
SAMPLE_HEAD = 10
SAMPLE_SPREAD = 40

Progress = Callable[[str, int, int], None]  # (what, done, total)


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
    products: int = 0  # in the campaign's catalogue
    sampled: int = 0  # of them rendered (all, up to RENDER_ALL_UP_TO)


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
    from bot.adapters.scheduling import next_slots
    from bot.domains.publishing.campaigns import campaign_spec  # the scheduler's own slot arithmetic (DST, anchors)

    spec = campaign_spec(settings, name)
    slots = next_slots(spec.schedule, spec.tz, spec.window, origin, count)
    return [slot.astimezone(zone) for slot in slots] or [origin]


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # emoji and other characters outside the BMP
_MISSING = object()
_NUMBERS = frozenset((int, float))


def representative_products(products: Sequence[Product]) -> list[int]:
    """Positions of the products a template is rendered with: all of a small catalogue; of a large one the first
    SAMPLE_HEAD, SAMPLE_SPREAD spread evenly, and per field the first row of each type (a missing value, text
    among numbers), the longest text (also among the non-ASCII ones), the first non-ASCII and the first emoji
    value, the largest and the smallest number. Whole-column operations, so a million rows take about a second."""
    total = len(products)
    if total <= RENDER_ALL_UP_TO:
        return list(range(total))
    picks: set[int] = set(range(SAMPLE_HEAD)) | set(range(0, total, max(1, total // SAMPLE_SPREAD)))
    extras = [extra or {} for extra in map(attrgetter("__pydantic_extra__"), products)]
    names = [*Product.model_fields, *sorted(set().union(*extras) - set(Product.model_fields))]
    for name in names:
        if name in Product.model_fields:
            values = list(map(attrgetter(name), products))
        else:
            values = list(map(methodcaller("get", name, _MISSING), extras))
        picks |= _field_picks(values)
    return sorted(picks)


def _field_picks(values: list[Any]) -> set[int]:
    types = list(map(type, values))
    kinds = set(types)
    picks = {types.index(kind) for kind in kinds}
    texts = values if kinds == {str} else [v for v in values if type(v) is str] if str in kinds else []
    if texts:
        picks.add(values.index(max(texts, key=len)))
        ascii_flags = list(map(str.isascii, texts))
        if not all(ascii_flags):
            wide = list(compress(texts, map(not_, ascii_flags)))
            picks.add(values.index(wide[0]))
            picks.add(values.index(max(wide, key=len)))
            emoji = next(filter(_ASTRAL.search, wide), None)
            if emoji is not None:
                picks.add(values.index(emoji))
    numbers = values if kinds <= _NUMBERS else [v for v in values if type(v) in _NUMBERS] if kinds & _NUMBERS else []
    if numbers:
        picks.add(values.index(max(numbers)))
        picks.add(values.index(min(numbers)))
    return picks


def _sampled_catalogues(settings: Settings) -> dict[str, list[Product]]:
    """Each campaign's products to render; campaigns sharing one catalogue (one CSV) share the work."""
    done: dict[tuple[int, int, int], tuple[list[Product], list[Product]]] = {}
    catalogues: dict[str, list[Product]] = {}
    for name, campaign in settings.campaigns.items():
        products = campaign.products
        if len(products) <= RENDER_ALL_UP_TO:
            catalogues[name] = list(products)
            continue
        key = (len(products), id(products[0]), id(products[-1]))
        if key not in done:  # the source list is kept alive beside its sample, so the ids stay its own
            done[key] = (list(products), [products[i] for i in representative_products(products)])
        catalogues[name] = done[key][1]
    return catalogues


def check_settings(
    settings: Settings,
    *,
    clock: Clock | None = None,
    report: CheckReport | None = None,
    sources: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> list[Problem]:
    """Render every campaign's template with its data; return the problems (and fill `report`).

    `sources` (bot.adapters.templating.read_templates) checks that snapshot rather than the files on disk; `progress`
    hears ("rendering templates", texts rendered, texts to render)."""
    from bot.adapters.templating import TemplateRenderer  # jinja2 stays out of CLI start-up

    now = (clock or SystemClock()).now()
    catalogues = _sampled_catalogues(settings)
    sampled = settings.model_copy(
        update={
            "campaigns": {
                name: campaign.model_copy(update={"products": catalogues[name]})
                for name, campaign in settings.campaigns.items()
            }
        }
    )
    renderer = TemplateRenderer(sampled, clock=FrozenClock(now), sources=sources)
    problems: list[Problem] = []
    report = report if report is not None else CheckReport()
    planned = sum(max(1, len(catalogues[n])) * len(c.targets) for n, c in settings.campaigns.items())
    done = 0
    for name, campaign in sampled.campaigns.items():
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
            rendering.products = len(settings.campaigns[name].products)
            rendering.sampled = len(campaign.products)
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
                            if rendering.products > rendering.sampled and campaign.products:
                                message += f" (product {campaign.products[index].name!r})"
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
            done += product_count
            if progress is not None:
                progress("rendering templates", done, planned)
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
    problems.extend(check_customer_fields(settings, renderer))
    source = partial(_template_source, renderer)
    report.warnings.extend(promise_warnings(settings.replies, Path(settings.templates_dir), source))
    report.warnings.extend(coupon_language_warnings(settings.coupons.campaigns, str(settings.config_path), source))
    return problems


# raw, as the platform gives them: they go through bot.domains.conversations.replies.reply_context
_SAMPLE_CUSTOMERS = (
    {"language": "en", "name": "Mia", "text": "where is my order?"},
    {"language": "zh", "name": "小林", "text": "我的订单什么时候到？"},
    {"language": "en", "name": "A" * 20, "text": "x" * 280},  # the longest names said (bot.core.text.safe_name)
    {"language": "zh", "name": "龙" * 6, "text": "好" * 200},
)
# what a hostile customer controls, each piece carrying this marker: a reply must never show it
_HOSTILE_MARKER = "evilmarker"
_HOSTILE_CUSTOMER = {
    "language": "en",
    "user": "evilmarker.example",
    "name": "Win at evilmarker.example",
    "text": "how do I get the free gift at https://evilmarker.example/login or mail win@evilmarker.example",
}
_SAMPLE_COUPONS = {  # a long coupons/coupon.j2 text: reply templates that show `coupon` must fit with it
    "en": "A little thank-you, " + "A" * 24 + ": ¥50 off every ¥300 with code LH-7KQ4M9XW3, valid until 2026-12-14.",
    "zh": "龙" * 24 + "，送你一张专属优惠券：满300减50，优惠码 LH-7KQ4M9XW3，有效期至 2026-12-14。",
}


def check_reply_templates(settings: Settings, renderer: object, report: CheckReport | None = None) -> list[Problem]:
    """Every reply template, every variant, in both languages and with a very long customer text, must render
    and fit the limit of each platform whose mentions are answered (X's weighted 280, Bluesky's 300 graphemes)
    once the quoted customer text is cut as the mentions service cuts it."""
    from bot.core.text import length_rule

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
    from bot.domains.conversations.replies import ReplyComposer, reply_context

    problems: list[Problem] = []
    composer = ReplyComposer(renderer, max_length=max_length, length=length)  # type: ignore[arg-type]
    shop = next(iter(settings.accounts.values())).handle if settings.accounts else "shop"
    answers: list[Any] | None = None
    for key, template in settings.replies.templates():
        template_file = str(Path(settings.templates_dir) / template)
        channel = "dm" if key.endswith("dm_reply") else "reply"
        seen: set[tuple[int | None, str]] = set()
        with_coupon = "coupon" in _template_source(renderer, template)
        cases: list[tuple[dict[str, str], str | None, Any]] = [
            (s, None, None) for s in (*_SAMPLE_CUSTOMERS, _HOSTILE_CUSTOMER)
        ] + [(s, _SAMPLE_COUPONS[s["language"]], None) for s in _SAMPLE_CUSTOMERS if with_coupon]
        if key.endswith(".answer"):  # the longest answer the shop's data gives per language and topic
            answers = _sample_answers(settings) if answers is None else answers
            longest = {s["language"]: s for s in _SAMPLE_CUSTOMERS[2:]}
            cases += [(longest.get(a.language, _SAMPLE_CUSTOMERS[2]), None, a) for a in answers]
        for sample, coupon, answer in cases:
            intent = settings.replies.intents[int(key.split(".")[2])].name
            context = reply_context(
                item_id="0",
                user=sample.get("user", "customer"),
                name=sample["name"],
                text=sample["text"],
                intent=intent,
                language=sample["language"],
                shop=shop,
                channel=channel,
                coupon=coupon,
                answer=answer,
            )
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
                elif text is not None and _HOSTILE_MARKER in text.lower() and (variant, _HOSTILE_MARKER) not in seen:
                    seen.add((variant, _HOSTILE_MARKER))
                    problems.append(
                        Problem(
                            template_file,
                            _variant_line(renderer, template, variant),
                            key,
                            f"variant {variant + 1}/{count}: repeats what the customer controls (a customer named "
                            f"{sample['name']!r} got {text!r}); use `name` and `text`, which are made safe",
                        )
                    )
    return problems


def _sample_answers(settings: Settings) -> list[Any]:
    """The longest answer per language and topic that the shop's data gives (products, sales, faq)."""
    from bot.domains.conversations.answers import Knowledge, sample_answers

    return sample_answers(Knowledge.from_settings(settings), datetime.now(UTC))


def check_customer_fields(settings: Settings, renderer: object) -> list[Problem]:
    """Reply and coupon templates never output the customer's raw input
    (bot.domains.conversations.replies.RAW_CUSTOMER_FIELDS: the
    handle `user`, a domain on Bluesky); they may pass it to a function (recommend(user)). Found in each variant's
    Jinja2 syntax tree, with its line."""
    from bot.adapters.templating import output_uses, split_variants
    from bot.domains.conversations.replies import RAW_CUSTOMER_FIELDS

    templates: list[tuple[str, str]] = []
    if settings.replies.enabled:
        templates += list(settings.replies.templates())
    templates += [(f"coupons.campaigns.{n}.template", c.template) for n, c in settings.coupons.campaigns.items()]
    problems: list[Problem] = []
    seen: set[str] = set()
    for key, template in templates:
        if template in seen:
            continue
        seen.add(template)
        source = _template_source(renderer, template)
        variants = split_variants(source) if source else []
        for number, (first_line, body) in enumerate(variants):
            uses = output_uses(renderer.env, "\n" * (first_line - 1) + body, RAW_CUSTOMER_FIELDS)  # type: ignore[attr-defined]
            for name in uses or []:
                problems.append(
                    Problem(
                        str(Path(settings.templates_dir) / template),
                        name.line,
                        key,
                        f"variant {number + 1}/{len(variants)} uses `{name.name}`, the customer's raw handle (on "
                        "Bluesky a domain, a link in the brand's mouth); greet with `name`, which is made safe, "
                        f"and pass `{name.name}` only to a function such as recommend({name.name})",
                    )
                )
    return problems


def _template_source(renderer: object, template: str) -> str:
    try:
        return str(renderer._source(template)[0])  # type: ignore[attr-defined]
    except TemplateError:
        return ""


def _variant_line(renderer: object, template: str, variant: int) -> int | None:
    from bot.adapters.templating import split_variants

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
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> CheckReport:
    """Everything `socialbot check` reports. Missing credentials are warnings unless required. `progress` hears
    the rendering (check_settings); products CSVs report their reading through
    bot.settings.products.reading_progress."""
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
    if settings.coupons.redemption_webhook_port is not None:
        from bot.settings.coupons import REDEMPTION_SECRET_ENV, redemption_webhook_secret

        if redemption_webhook_secret(path, environ) is None:
            report.warnings.append(
                Problem(
                    str(settings.config_path),
                    None,
                    "coupons.redemption_webhook_port",
                    f"no webhook secret: set {REDEMPTION_SECRET_ENV} (environment or .env); without it `socialbot run` "
                    "does not serve the redemption webhook",
                )
            )
    report.problems.extend(check_settings(settings, clock=clock, report=report, progress=progress))
    return report


def check_all(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = False,
    clock: Clock | None = None,
) -> list[Problem]:
    """Every problem with config.yaml and its templates; empty when all is well."""
    return run_checks(path, environ=environ, require_credentials=require_credentials, clock=clock).problems


def load_checked(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = True,
    clock: Clock | None = None,
) -> Settings:
    """For the daemon (start and hot reload): Settings when config AND templates are fine, else ConfigError."""
    report = run_checks(path, environ=environ, require_credentials=require_credentials, clock=clock)
    if report.problems or report.settings is None:
        raise ConfigError(report.problems)
    return report.settings
