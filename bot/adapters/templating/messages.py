"""Jinja2 templates for posts and replies: sandboxed, strict, variant-aware.

A template file may hold several *variants*, separated by a line that contains only ``{# variant #}``
(a Jinja comment, so the file stays a valid template). Each variant is compiled on its own, padded with
blank lines so error line numbers are the real lines of the file. Templates are always files under
templates_dir; data (product names, customer text) is only ever passed as values, never as source.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import jinja2
import jinja2.meta
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.adapters.templating.filters import FILTERS, slot_term, variant_content
from bot.core import text as textrules
from bot.core.clock import Clock, SystemClock
from bot.core.errors import TemplateError
from bot.core.models import platform_name
from bot.settings.config import localize

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.settings.config import AccountConfig, CampaignConfig

logger = logging.getLogger(__name__)

VARIANT_MARKER = re.compile(r"^[ \t]*\{#-?[ \t]*variant\b[^#\n]*-?#\}[ \t]*$", re.MULTILINE)
_VARIANT_SUFFIX = "#variant="
UTM_DEFAULTS = {"medium": "social"}  # plus source: the account's platform (x, bluesky)
# campaign posts also name their variant (utm_content "v1") and slot (utm_term "20261111T0200Z", UTC) for attribution;
# the campaign's `utm:` in config.yaml, the filter's own arguments and a URL's own utm_* values win over these
DM_RULE = textrules.LengthRule("dm", 10_000, textrules.weighted_length, "weighted characters")


class RendererSettings(Protocol):
    """What the renderer reads of the Settings (bot.settings.config.Settings has it all)."""

    @property
    def templates_dir(self) -> Path: ...

    @property
    def campaigns(self) -> Mapping[str, CampaignConfig]: ...

    @property
    def accounts(self) -> Mapping[str, AccountConfig]: ...

    def campaign_timezone(self, name: str) -> ZoneInfo: ...

    def campaign_currency(self, name: str) -> str: ...


@dataclass(frozen=True)
class Rendered:
    """One rendered post and its verdict. Over-limit text is reported, never silently truncated."""

    text: str
    variant: int
    variants: int
    length: int
    limit: int
    valid: bool
    reason: str | None = None
    template: str = ""
    account: str = ""  # the account it was rendered for
    platform: str = ""  # whose length rule measured it: x (also for the sandbox) or bluesky
    product: str | None = None  # the product it names (the slot's `product`), when the campaign has products


# ------------------------------------------------------------------------------------------- split


def split_variants(source: str) -> list[tuple[int, str]]:
    """[(first line number, source)] per variant; whitespace-only parts are not variants."""
    parts: list[tuple[int, str]] = []
    start_line, position = 1, 0
    for match in VARIANT_MARKER.finditer(source):
        parts.append((start_line, source[position : match.start()]))
        position = match.end() + 1  # skip the marker's newline
        start_line = source.count("\n", 0, position) + 1
    parts.append((start_line, source[position:]))
    return [(line, body) for line, body in parts if body.strip()] or [(1, source)]


def read_templates(templates_dir: Path) -> dict[str, str]:
    """Every file under templates_dir, by its name relative to it: a snapshot that later edits cannot touch."""
    root = Path(templates_dir)
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


class _VariantLoader(FileSystemLoader):
    """Loads 'name' as the whole file and 'name#variant=N' as variant N padded to its real lines.

    With `sources` (see read_templates) it serves that snapshot instead of the files on disk.
    """

    def __init__(self, searchpath: str, *, sources: Mapping[str, str] | None = None) -> None:
        super().__init__(searchpath, encoding="utf-8")
        self.sources = sources

    def _whole(self, environment: jinja2.Environment, name: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        if self.sources is None:
            return super().get_source(environment, name)
        if name not in self.sources:
            raise jinja2.TemplateNotFound(name)
        return self.sources[name], str(Path(self.searchpath[0]) / name), lambda: True

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        name, _, index = template.partition(_VARIANT_SUFFIX)
        source, filename, uptodate = self._whole(environment, name)
        if not index:
            return source, filename, uptodate
        variants = split_variants(source)
        number = int(index)
        if not 0 <= number < len(variants):
            raise jinja2.TemplateNotFound(template, f"{name} has {len(variants)} variants")
        first_line, body = variants[number]
        return "\n" * (first_line - 1) + body, filename, uptodate


def measure(
    text: str, platform: str = "x", *, rule: textrules.LengthRule | None = None
) -> tuple[int, int, bool, str | None]:
    """(length, limit, valid, reason) by the platform's rules (bot.core.text.length_rule: X's weighted characters, 280;
    Bluesky's graphemes, 300), or by `rule` when given."""
    if rule is None:
        rule = DM_RULE if platform == "dm" else textrules.length_rule(platform)
    limit = rule.limit
    if not text.strip():
        return 0, limit, False, "text is empty"
    length = rule.count(text)
    where = f"on {rule.platform} " if rule.platform not in ("x", "dm") else ""
    if length > limit:
        return length, limit, False, f"text is {length} {rule.unit}, {where}limit {limit}"
    size = len(text.encode("utf-8")) if rule.max_bytes is not None else 0
    if rule.max_bytes is not None and size > rule.max_bytes:
        return length, limit, False, f"text is {size} bytes in UTF-8, {where}limit {rule.max_bytes}"
    return length, limit, True, None


def platform_template(template: str, platform: str) -> str:
    """The per-platform variant of a template file: 'promo.j2' -> 'promo.bluesky.j2' (beside it)."""
    path = PurePosixPath(template)
    return str(path.with_name(f"{path.stem}.{platform}.j2"))


def build_environment(templates_dir: Path, *, sources: Mapping[str, str] | None = None) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=_VariantLoader(str(templates_dir), sources=sources),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=True,
    )
    env.filters.update(FILTERS)
    return env


# ---------------------------------------------------------------------------------------- renderer


def _error_line(tb: TracebackType | None, filename: str | None) -> int | None:
    line = None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class TemplateRenderer:
    """Renders campaign templates from Settings. Build a new one when Settings change."""

    def __init__(
        self,
        settings: RendererSettings,
        *,
        clock: Clock | None = None,
        sources: Mapping[str, str] | None = None,
        recommend: Callable[[Any, int], Sequence[Any]] | None = None,
    ) -> None:
        """`sources` (from read_templates) pins the templates to a checked snapshot; without it, edits on
        disk are picked up at the next render. `recommend(user, n)` backs the templates' `recommend` function
        (see use_recommender)."""
        self.settings = settings
        self.templates_dir = Path(settings.templates_dir)
        self.env = build_environment(self.templates_dir, sources=sources)
        self._recommend = recommend
        self.env.globals["recommend"] = self._recommend_for_template
        self._clock = clock or SystemClock()
        self._product_cache: dict[str, tuple[Mapping[str, Any], ...]] = {}
        self._frozen = sources is not None  # a snapshot never changes: variant counts can be kept
        self._variant_counts: dict[str, int] = {}
        self._names: dict[str, frozenset[str]] = {}
        self._exists: dict[str, bool] = {}

    # -- recommendations ------------------------------------------------------------------------------

    def use_recommender(self, recommend: Callable[[Any, int], Sequence[Any]] | None) -> None:
        """Back the templates' `recommend(user, n=3)` with this function (e.g. bot.domains.audience.recommend's
        template_function(recommender)); None: templates get an empty list."""
        self._recommend = recommend

    def _recommend_for_template(self, user: Any = None, n: int = 3) -> list[Any]:
        """`recommend(user, n=3)` in templates: plain data (product dicts), an empty list when no recommender
        is set; never raises (a failure is logged and gives an empty list)."""
        recommend = self._recommend
        try:
            return [] if recommend is None else list(recommend(user, int(n)))
        except Exception:
            logger.exception("recommend(%r, %r) failed in a template; no recommendations given", user, n)
            return []

    # -- generic API ------------------------------------------------------------------------------

    def _source(self, template: str) -> tuple[str, str | None]:
        try:
            source, filename, _ = self.env.loader.get_source(self.env, template)  # type: ignore[union-attr]
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(template, f"template not found in {self.templates_dir}") from exc
        return source, filename

    def _filename(self, template: str) -> str | None:
        """The file a template's frames carry (for error lines); looked up only when there is an error."""
        try:
            return self._source(template)[1]
        except TemplateError:
            return None

    def has_template(self, template: str) -> bool:
        """Whether the file exists under templates_dir (in the snapshot, when the renderer has one)."""
        known = self._exists.get(template)
        if known is None:
            try:
                self._source(template)
                known = True
            except TemplateError:
                known = False
            if self._frozen:
                self._exists[template] = known
        return known

    def variants(self, template: str) -> int:
        """How many variants the template file holds (at least 1)."""
        count = self._variant_counts.get(template)
        if count is None:
            source, _ = self._source(template)
            count = len(split_variants(source))
            if self._frozen:
                self._variant_counts[template] = count
        return count

    def uses(self, template: str, name: str) -> bool:
        """Whether the template (any variant) reads the context variable `name`; True when that cannot be told
        (a syntax error: rendering reports it), so a caller may skip preparing only what is surely unread."""
        names = self._names.get(template)
        if names is None:
            try:
                source, _ = self._source(template)
                names = frozenset(jinja2.meta.find_undeclared_variables(self.env.parse(source)))
            except (TemplateError, jinja2.TemplateSyntaxError):
                return True
            if self._frozen:
                self._names[template] = names
        return name in names

    def render_variant(self, template: str, variant: int, context: Mapping[str, Any]) -> str:
        """Render one variant to normalised text; raise TemplateError(template, message, line)."""
        try:
            compiled = self.env.get_template(f"{template}{_VARIANT_SUFFIX}{variant}")
            raw = compiled.render(dict(context))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(template, f"syntax error: {exc.message}", exc.lineno) from exc
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(template, f"template not found: {exc.message or exc.name}") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                template, f"undefined: {exc.message}", _error_line(exc.__traceback__, self._filename(template))
            ) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                template, f"not allowed in templates: {exc}", _error_line(exc.__traceback__, self._filename(template))
            ) from exc
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise TemplateError(
                template, f"{type(exc).__name__}: {exc}", _error_line(exc.__traceback__, self._filename(template))
            ) from exc
        return textrules.normalize_whitespace(raw)

    def render(self, template: str, context: Mapping[str, Any]) -> list[str]:
        """Every variant of `template` rendered with `context` (e.g. reply templates)."""
        return [self.render_variant(template, i, context) for i in range(self.variants(template))]

    # -- campaigns ----------------------------------------------------------------------------------

    def _account_of(self, campaign_name: str, account: str | None) -> str:
        campaign = self.settings.campaigns[campaign_name]
        if account is None:
            return campaign.targets[0] if campaign.targets else ""
        if account not in campaign.targets:
            raise TemplateError(campaign.template, f"campaign {campaign_name!r} does not post to account {account!r}")
        return account

    def account_network(self, account: str) -> str:
        """The platform an account's posts are measured for: 'x' (also the sandbox) or 'bluesky'."""
        config = self.settings.accounts.get(account)
        return platform_name(config.platform) if config is not None else "x"

    def campaign_template(self, campaign_name: str, account: str | None = None) -> str:
        """The file a campaign renders for `account` (default: its first): `<stem>.<platform>.j2` beside the
        campaign's template when that exists (promo.bluesky.j2 for a Bluesky account), else the template."""
        campaign = self.settings.campaigns.get(campaign_name)
        if campaign is None:
            raise TemplateError(campaign_name, f"no campaign named {campaign_name!r}")
        special = platform_template(campaign.template, self.account_network(self._account_of(campaign_name, account)))
        return special if special != campaign.template and self.has_template(special) else campaign.template

    def _products(self, campaign_name: str, products: Sequence[Any]) -> tuple[Mapping[str, Any], ...]:
        """The campaign's products as read-only mappings, built once per renderer (settings never change under
        it): a large catalogue is not converted again for every post."""
        cached = self._product_cache.get(campaign_name)
        if cached is None:
            cached = tuple(MappingProxyType(p.model_dump()) for p in products)
            self._product_cache[campaign_name] = cached
        return cached

    def campaign_context(
        self,
        campaign_name: str,
        *,
        slot_at: datetime,
        sequence: int,
        account: str | None = None,
        variant: int | None = None,
        product: int | None = None,
    ) -> dict[str, Any]:
        """What a campaign template sees; `product` is the chosen product's index (default: sequence % count)."""
        settings = self.settings
        try:
            campaign = settings.campaigns[campaign_name]
        except KeyError as exc:
            raise TemplateError(campaign_name, f"no campaign named {campaign_name!r}") from exc
        zone = settings.campaign_timezone(campaign_name)
        name = self._account_of(campaign_name, account)
        config = settings.accounts.get(name)
        products = self._products(campaign_name, campaign.products)
        utm = {"source": self.account_network(name), **UTM_DEFAULTS, "campaign": campaign_name}
        if variant is not None:
            utm["content"] = variant_content(variant)
        utm["term"] = slot_term(slot_at)
        utm.update(campaign.utm)
        campaign_data = campaign.model_dump(mode="json", exclude={"products", "products_csv"})
        campaign_data["name"] = campaign_name
        context: dict[str, Any] = dict(campaign.extra)
        context.update(
            campaign=campaign_data,
            account={
                "name": name,
                "handle": config.handle if config else "",
                "platform": config.platform if config else "",
            },
            products=products,
            product=products[(sequence if product is None else product) % len(products)] if products else None,
            slot=localize(slot_at, zone),
            sequence=sequence,
            utm=utm,
            hashtags=list(campaign.hashtags),
            extra=dict(campaign.extra),
            currency=settings.campaign_currency(campaign_name),
            now=localize(self._clock.now(), zone),
        )
        return context

    def render_campaign(
        self,
        campaign_name: str,
        *,
        slot_at: datetime,
        sequence: int,
        variant: int | None = None,
        account: str | None = None,
        product: int | None = None,
    ) -> Rendered:
        """Render the campaign's post for one slot and one of its accounts (default: the first), from that
        platform's template (campaign_template), measured by that platform's length rule. variant defaults to
        sequence % variants, product (an index into the campaign's products) to sequence % products."""
        template = self.campaign_template(campaign_name, account)
        name = self._account_of(campaign_name, account)
        count = self.variants(template)
        chosen = sequence % count if variant is None else variant
        if not 0 <= chosen < count:
            raise TemplateError(template, f"variant {chosen} does not exist (the file has {count})")
        context = self.campaign_context(
            campaign_name, slot_at=slot_at, sequence=sequence, account=name, variant=chosen, product=product
        )
        text = self.render_variant(template, chosen, context)
        network = self.account_network(name)
        length, limit, valid, reason = measure(text, network)
        named = context["product"].get("name") if context["product"] is not None else None
        return Rendered(text, chosen, count, length, limit, valid, reason, template, name, network, named)
