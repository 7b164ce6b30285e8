"""The only jinja2 user. `messages`: the sandboxed, strict renderer of the team's post and reply templates;
`pages`: the autoescaping environment of the reports' HTML pages."""

from bot.adapters.templating.filters import add_utm, format_price, hashtag, hashtags
from bot.adapters.templating.messages import (
    DM_RULE,
    UTM_DEFAULTS,
    VARIANT_MARKER,
    Rendered,
    RendererSettings,
    TemplateRenderer,
    build_environment,
    measure,
    platform_template,
    read_templates,
    split_variants,
)
from bot.adapters.templating.pages import bdi, clean, page_environment, page_renderer
from bot.adapters.templating.syntax import NameUse, output_uses

__all__ = [
    "DM_RULE",
    "UTM_DEFAULTS",
    "VARIANT_MARKER",
    "NameUse",
    "Rendered",
    "RendererSettings",
    "TemplateRenderer",
    "add_utm",
    "bdi",
    "build_environment",
    "clean",
    "format_price",
    "hashtag",
    "hashtags",
    "measure",
    "output_uses",
    "page_environment",
    "page_renderer",
    "platform_template",
    "read_templates",
    "split_variants",
]
