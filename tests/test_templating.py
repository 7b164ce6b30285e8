"""Templates: real files, sandboxed Jinja2, variants, filters, errors with real line numbers."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.templating import Rendered, TemplateRenderer, add_utm, format_price, hashtag, hashtags, split_variants
from bot.core.errors import TemplateError
from bot.core.text import weighted_length
from bot.settings.config import Settings, load_config

CONFIG = """\
timezone: Asia/Shanghai
currency: "¥"
accounts:
  shop: {platform: sandbox, handle: lumenhome}
campaigns:
  sale:
    account: shop
    template: sale.j2
    schedule: {cron: "0 10 * * *"}
    hashtags: ["Double 11", "双十一"]
    utm: {campaign: d11, content: zh}
    extra: {sale_name: 双十一}
    products:
      - {name: Lamp, price: 1299, url: "https://lumenhome.example.com/p/lamp?ref=a"}
      - {name: Vase, price: 19.99, url: "https://lumenhome.example.com/p/vase"}
"""

SALE = """\
{# sale: three variants #}
{{ sale_name }}: {{ product.name }} {{ product.price | price }}
{{ product.url | utm }}
{# variant #}
Variant two, {{ slot.hour }}:00 {{ hashtags | hashtags }}
{# variant #}
Variant three {{ product.name }}
   {{ ["a", "b"] | pick }}
"""

SLOT = datetime(2026, 11, 11, 2, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Shanghai


def make(tmp_path: Path, templates: dict[str, str], config: str = CONFIG) -> Settings:
    (tmp_path / "templates").mkdir(exist_ok=True)
    for name, body in templates.items():
        (tmp_path / "templates" / name).write_text(textwrap.dedent(body), encoding="utf-8")
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    return load_config(tmp_path / "config.yaml", environ={})


def test_variants_rotate_with_sequence(tmp_path: Path) -> None:
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": SALE}))
    assert renderer.variants("sale.j2") == 3
    first = renderer.render_campaign("sale", slot_at=SLOT, sequence=0)
    assert isinstance(first, Rendered)
    assert first.variant == 0 and first.variants == 3 and first.valid and first.reason is None
    assert first.text == (
        "双十一: Lamp ¥1,299.00\n"
        "https://lumenhome.example.com/p/lamp?ref=a&utm_source=x&utm_medium=social&utm_campaign=d11&utm_content=zh"
        "&utm_term=20261111T0200Z"  # the slot (attribution); the config's utm_content wins over the variant's
    )
    assert first.length == weighted_length(first.text) and first.limit == 280
    second = renderer.render_campaign("sale", slot_at=SLOT, sequence=1)
    assert second.variant == 1 and second.text == "Variant two, 10:00 #Double11 #双十一"
    third = renderer.render_campaign("sale", slot_at=SLOT, sequence=2)
    assert third.text == "Variant three Lamp\na"  # product = products[2 % 2], pick = ["a","b"][2 % 2]
    forced = renderer.render_campaign("sale", slot_at=SLOT, sequence=1, variant=0)
    assert forced.text.startswith("双十一: Vase ¥19.99")


def test_render_all_variants_generic(tmp_path: Path) -> None:
    renderer = TemplateRenderer(
        make(tmp_path, {"sale.j2": SALE, "reply.j2": "Hi {{ name }}\n{# variant #}\nHello {{ name }}\n"})
    )
    assert renderer.render("reply.j2", {"name": "Ann"}) == ["Hi Ann", "Hello Ann"]


def test_split_variants_keeps_line_numbers() -> None:
    parts = split_variants(SALE)
    assert [line for line, _ in parts] == [1, 5, 7]


def test_syntax_error_reports_real_line(tmp_path: Path) -> None:
    broken = SALE.replace("Variant three {{ product.name }}", "Variant three {{ product.name }")
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": broken}))
    renderer.render_campaign("sale", slot_at=SLOT, sequence=0)  # other variants still fine
    with pytest.raises(TemplateError) as info:
        renderer.render_campaign("sale", slot_at=SLOT, sequence=2)
    assert info.value.template == "sale.j2" and info.value.line == 7
    assert "syntax error" in info.value.message


def test_undefined_variable_reports_real_line(tmp_path: Path) -> None:
    broken = SALE.replace("Variant two, {{ slot.hour }}", "Variant two, {{ slot.hour }} {{ discount_code }}")
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": broken}))
    with pytest.raises(TemplateError) as info:
        renderer.render_campaign("sale", slot_at=SLOT, sequence=1)
    assert info.value.line == 5
    assert "'discount_code' is undefined" in info.value.message
    with pytest.raises(TemplateError, match="undefined"):
        TemplateRenderer(make(tmp_path, {"sale.j2": "{{ product.colour }}"})).render_campaign(
            "sale", slot_at=SLOT, sequence=0
        )


def test_over_long_text_is_invalid_not_truncated(tmp_path: Path) -> None:
    long_text = "{{ '双' * 140 }}{{ '!' * 11 }}"
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": long_text}))
    rendered = renderer.render_campaign("sale", slot_at=SLOT, sequence=0)
    assert not rendered.valid
    assert rendered.reason == "text is 291 weighted characters, limit 280"
    assert rendered.length == 291 and len(rendered.text) == 151


def test_sandbox_blocks_unsafe_attributes(tmp_path: Path) -> None:
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": "{{ product.__class__.__mro__ }}"}))
    with pytest.raises(TemplateError):
        renderer.render_campaign("sale", slot_at=SLOT, sequence=0)


def test_customer_text_is_data_not_source(tmp_path: Path) -> None:
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": SALE, "reply.j2": "Thanks: {{ text }}"}))
    assert renderer.render("reply.j2", {"text": "{{ 7 * 7 }} {% raw %}"}) == ["Thanks: {{ 7 * 7 }} {% raw %}"]


def test_unknown_template(tmp_path: Path) -> None:
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": SALE}))
    with pytest.raises(TemplateError, match="not found"):
        renderer.variants("nope.j2")


def test_template_edits_are_picked_up(tmp_path: Path) -> None:
    settings = make(tmp_path, {"sale.j2": "one {{ sequence }}"})
    renderer = TemplateRenderer(settings)
    assert renderer.render_campaign("sale", slot_at=SLOT, sequence=0).text == "one 0"
    path = tmp_path / "templates" / "sale.j2"
    path.write_text("two {{ sequence }}\n  {# variant #}  \nthree")
    import os

    os.utime(path, (path.stat().st_atime + 5, path.stat().st_mtime + 5))
    assert renderer.render_campaign("sale", slot_at=SLOT, sequence=0).text == "two 0"
    assert renderer.variants("sale.j2") == 2


def test_a_snapshot_ignores_later_edits_and_keeps_real_lines(tmp_path: Path) -> None:
    from bot.adapters.templating import read_templates

    settings = make(tmp_path, {"sale.j2": "one {{ sequence }}\n{# variant #}\nline three {{ missing }}"})
    renderer = TemplateRenderer(settings, sources=read_templates(tmp_path / "templates"))
    (tmp_path / "templates" / "sale.j2").write_text("{% broken")
    assert renderer.render_campaign("sale", slot_at=SLOT, sequence=0).text == "one 0"
    with pytest.raises(TemplateError) as info:
        renderer.render_campaign("sale", slot_at=SLOT, sequence=1)
    assert info.value.line == 3


def test_filters() -> None:
    assert format_price(1299) == "$1,299.00"
    assert format_price(19.99, "¥") == "¥19.99"
    assert format_price(5, "€", 0) == "€5"
    with pytest.raises(ValueError):
        format_price(None)
    assert hashtag("Double 11") == "#Double11"
    assert hashtag("new arrivals") == "#NewArrivals"
    assert hashtag("双十一 好价") == "#双十一好价"
    assert hashtag("#already") == "#already"
    assert hashtags(["Double 11", "double11", "家居"]) == "#Double11 #家居"
    url = add_utm("https://x.example/p?a=1&utm_source=newsletter#top", {"source": "x", "medium": "social"})
    assert url == "https://x.example/p?a=1&utm_source=newsletter&utm_medium=social#top"
    assert add_utm(url, {"medium": "social"}) == url  # never doubled


def test_truncate_filter_and_utm_override(tmp_path: Path) -> None:
    body = "{{ ('word ' * 100) | truncate_weighted(30) }} {{ 'https://a.example' | utm(content='b', utm_term='t') }}"
    renderer = TemplateRenderer(make(tmp_path, {"sale.j2": body}))
    text = renderer.render_campaign("sale", slot_at=SLOT, sequence=0).text
    assert text.startswith("word word word word word…")
    assert text.endswith("utm_campaign=d11&utm_content=b&utm_term=t")
