"""Answers from the shop's own data: the shipped config and data, real templates, real config files with errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.templating import TemplateRenderer
from bot.core.errors import ConfigError
from bot.core.text import weighted_length
from bot.domains.conversations.answers import (
    NO_DATA,
    NOT_HANDLED,
    NOT_SOLD,
    WHICH_PRODUCT,
    Answer,
    Answerer,
    Knowledge,
    sample_answers,
)
from bot.domains.conversations.replies import reply_context
from bot.settings.config import Settings, load_config

REPO = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
DURING = datetime(2026, 11, 5, 14, tzinfo=SHANGHAI)  # the Double 11 sale runs
BEFORE = datetime(2026, 10, 20, 11, tzinfo=SHANGHAI)
AFTER = datetime(2026, 11, 20, 11, tzinfo=SHANGHAI)
QUESTIONS = REPO / "tests" / "data" / "answers" / "questions.jsonl"


@pytest.fixture(scope="module")
def shipped() -> Settings:
    return load_config(REPO / "config.yaml", require_credentials=False, environ={})


@pytest.fixture(scope="module")
def answerer(shipped: Settings) -> Answerer:
    return Answerer(Knowledge.from_settings(shipped))


def ask(answerer: Answerer, text: str, language: str = "en", now: datetime = DURING) -> Answer:
    return answerer.answer(text, language, now)


# ------------------------------------------------------------------------------------------ answered


def test_price_in_the_customers_language_with_the_sale_price_while_the_sale_runs(answerer: Answerer) -> None:
    during = ask(answerer, "How much is the Aki ceramic table lamp?")
    assert during.answered and during.topic == "price" and during.language == "en"
    assert during.facts["product"] == "Aki ceramic table lamp" and during.facts["price"] == 359
    assert during.facts["usual_price"] == 459 and "¥359" in during.text and "Double 11" in during.text
    assert during.product is not None and during.product["url"].endswith("/p/aki-table-lamp")

    before = ask(answerer, "How much is the Aki lamp?", now=BEFORE)
    assert before.facts["price"] == 459 and before.facts["next_price"] == 359 and "1 Nov" in before.text
    after = ask(answerer, "How much is the Aki lamp?", now=AFTER)
    assert after.facts["price"] == 459 and "next_price" not in after.facts

    chinese = ask(answerer, "秋 陶瓷台灯多少钱？", "zh")
    assert chinese.answered and chinese.language == "zh" and chinese.facts["price"] == 359
    assert "秋 陶瓷台灯" in chinese.text and "双十一" in chinese.text and "原价¥459" in chinese.text


def test_typos_partial_names_chinese_names_and_mixed_scripts(answerer: Answerer) -> None:
    cases = [
        ("how mcuh is the kumo linen throw??", "en", "Kumo linen throw", 329),
        ("pirce of the aki lamp?", "en", "Aki ceramic table lamp", 359),
        ("Hey! How much is the hinoki bathset?", "en", "Hinoki bath set", 299),
        ("Kumo 毯子多少钱", "zh", "Kumo linen throw", 329),
        ("陶瓷台登多少钱", "zh", "Aki ceramic table lamp", 359),  # 台灯 mistyped
        ("How much are the Haru towels", "en", "Haru cotton bath towels (set of 4)", 189),
    ]
    for text, language, product, price in cases:
        answer = ask(answerer, text, language)
        assert answer.answered and answer.topic == "price", (text, answer)
        assert answer.facts["product"] == product and answer.facts["price"] == price, (text, answer.facts)
        assert answer.language == language


def test_the_answer_follows_the_language_the_question_is_asked_in(answerer: Answerer) -> None:
    answer = ask(answerer, "Mizu carafe 什么材质", "en")  # more Latin letters, but asked in Chinese
    assert answer.answered and answer.topic == "material" and answer.language == "zh"
    assert answer.text == "水 玻璃凉水壶的材质是高硼硅玻璃。"


def test_stock_size_material_colour_and_link(answerer: Answerer) -> None:
    sold_out = ask(answerer, "Is the Kumo linen duvet cover sold out?")
    assert sold_out.topic == "stock" and sold_out.facts["in_stock"] is False and "sold out" in sold_out.text
    low = ask(answerer, "秋 陶瓷台灯有货吗？", "zh")
    assert low.topic == "stock" and low.facts["stock"] == 7 and "仅剩7件" in low.text
    size = ask(answerer, "how long is the tsuki pendant cord?")  # "how long is": a size, not delivery
    assert size.topic == "size" and "1.5 m cord" in size.text
    material = ask(answerer, "橡木边几是实木的吗？什么材质", "zh")
    assert material.topic == "material" and material.text == "空 橡木边几的材质是实木橡木。"
    colour = ask(answerer, "What colours does the Kumo duvet cover come in?")
    assert colour.topic == "colour" and "oat, sage or charcoal" in colour.text
    link = ask(answerer, "凉水壶在哪里买？", "zh")
    assert link.topic == "link" and link.text.endswith("https://lumenhome.example.com/p/mizu-carafe")


def test_a_colour_asked_with_stock(answerer: Answerer) -> None:
    offered = ask(answerer, "is the aki lamp in stock in celadon green?")
    assert offered.handover == NO_DATA  # the data counts the lamp, not each colour
    other = ask(answerer, "Do you have the tsuki pendant in black?")
    assert other.topic == "colour" and "natural rattan" in other.text


def test_faq_entries_standard_and_the_teams_own(answerer: Answerer) -> None:
    cases = [
        ("How long does delivery take?", "en", "delivery"),
        ("How much is shipping?", "en", "shipping"),  # "how much ... shipping": not a product's price
        ("How long does the Kumo throw take to arrive?", "en", "delivery"),
        ("支持七天无理由退货吗？", "zh", "returns"),
        ("退货运费谁出？", "zh", "returns"),  # the longer keyword wins over 运费
        ("what time is customer service open?", "en", "hours"),
        ("可以用花呗吗？", "zh", "payment"),
        ("客服电话是多少？", "zh", "contact"),
        ("可以开发票吗", "zh", "faq:invoice"),
        ("Do you do gift wrapping?", "en", "faq:gift_wrap"),
    ]
    for text, language, topic in cases:
        answer = ask(answerer, text, language)
        assert answer.answered and answer.topic == topic, (text, answer)
        assert answer.facts["faq"] == topic.removeprefix("faq:")
    shipping = ask(answerer, "包邮吗？", "zh")
    assert shipping.text == "满199元包邮，不满199元中国大陆运费12元；海外统一60元。"


def test_sales_running_coming_and_ended(answerer: Answerer) -> None:
    running = ask(answerer, "Is there a sale on right now?")
    assert running.topic == "sale" and running.facts["active"] is True and running.facts["sale"] == "Double 11"
    assert "¥50 off every ¥300" in running.text and "11 Nov" in running.text  # end: 2026-11-11, a whole day
    coming = ask(answerer, "双11活动几号开始？", "zh", now=BEFORE)
    assert coming.facts["active"] is False and "11月1日开始" in coming.text and "满300减50" in coming.text
    ended = ask(answerer, "is the double 11 sale still on?", now=AFTER)
    assert ended.facts["active"] is False and "ended" in ended.text
    timing = ask(answerer, "what time does the double 11 sale start?", now=BEFORE)
    assert timing.topic == "sale"  # a sale's dates outrank "what time" (opening hours)


# ------------------------------------------------------------------------------------------ handed over


def test_products_the_shop_does_not_sell_are_handed_over(answerer: Answerer) -> None:
    for text, language in [
        ("How much is the velvet sofa?", "en"),
        ("do you have the Aki floor lamp?", "en"),  # a name we know, a kind we do not sell
        ("how much for the wool blanket", "en"),  # the blanket is linen
        ("how much is the bamboo bath set?", "en"),
        ("羊毛毯多少钱？", "zh"),
        ("Kumo 枕头多少钱", "zh"),
        ("how much is the blorp?", "en"),  # a word nothing in the data knows
    ]:
        answer = ask(answerer, text, language)
        assert answer.handed_over and answer.handover == NOT_SOLD, (text, answer)
        assert answer.reason == "a question about a product we do not sell"
        assert answer.text is None


def test_not_sure_which_product_is_handed_over(answerer: Answerer) -> None:
    lamp = ask(answerer, "how much is the lamp?")
    assert lamp.handover == WHICH_PRODUCT and lamp.reason == "not sure which product"
    assert set(lamp.facts["candidates"]) == {"Aki ceramic table lamp", "Tsuki rattan pendant light"}
    for text, language in [("Kumo 多少钱", "zh"), ("is it in stock?", "en"), ("这个多少钱？", "zh")]:
        assert ask(answerer, text, language).handover == WHICH_PRODUCT, text


def test_questions_the_data_does_not_answer_are_handed_over(answerer: Answerer) -> None:
    for text, language in [
        ("Where is my order #58213?", "en"),
        ("when will the Kumo duvet cover be back in stock?", "en"),
        ("Is the Aki lamp dimmable?", "en"),
        ("学生有优惠吗？", "zh"),
        ("可以货到付款吗？", "zh"),  # 付款 is payment, but cash on delivery is not in its answer
    ]:
        answer = ask(answerer, text, language)
        assert answer.handover == NO_DATA and answer.reason == "a question the shop's data does not answer", text


def test_chit_chat_is_not_a_question_it_handles(answerer: Answerer) -> None:
    for text, language in [
        ("who else is obsessed with the Aki lamp?", "en"),
        ("can't wait for double 11!!", "en"),
        ("在吗？", "zh"),
        ("I love my new lamp", "en"),
        ("", "en"),
    ]:
        answer = ask(answerer, text, language)
        assert answer.outcome == NOT_HANDLED and answer.reason is None, text


def test_a_product_without_the_fact_is_handed_over(tmp_path: Path) -> None:
    config = minimal_config(
        tmp_path,
        "campaigns:\n  picks:\n    account: shop\n    template: t.j2\n    schedule: {interval: 1d}\n"
        "    products:\n      - {name: Umi stoneware mug, price: 59}\n",
    )
    answerer = Answerer(Knowledge.from_settings(load_config(config, environ={})))
    assert ask(answerer, "how much is the umi stoneware mug?").facts["price"] == 59
    missing = ask(answerer, "is the umi stoneware mug in stock?")
    assert missing.handover == NO_DATA and missing.topic == "stock" and missing.facts["product"] == "Umi stoneware mug"


# ------------------------------------------------------------------------------------------ the template


def test_the_answer_template_says_the_answer_and_every_sample_fits(shipped: Settings, answerer: Answerer) -> None:
    renderer = TemplateRenderer(shipped)
    template = shipped.replies.rule("question").answer
    assert template == "replies/answer.j2"
    answer = ask(answerer, "How much is the Kumo linen throw?")
    context = reply_context(
        item_id="1", user="mia", name="Mia", text="How much is the Kumo linen throw?", intent="question",
        language="en", shop="lumenhome", channel="reply", answer=answer,
    )  # fmt: skip
    texts = [renderer.render_variant(template, v, context) for v in range(renderer.variants(template))]
    assert texts[0] == "Hi Mia! The Kumo linen throw is ¥329: https://lumenhome.example.com/p/kumo-linen-throw"
    assert all(answer.text in text for text in texts)
    samples = sample_answers(Knowledge.from_settings(shipped), DURING)
    assert {a.language for a in samples} == {"en", "zh"} and len(samples) >= 20
    for sample in samples:
        context = reply_context(
            item_id="2", user="x", name="A" * 20 if sample.language == "en" else "龙" * 6, text="?",
            intent="question", language=sample.language, shop="lumenhome", channel="reply", answer=sample,
        )  # fmt: skip
        for variant in range(renderer.variants(template)):
            text = renderer.render_variant(template, variant, context)
            assert sample.text in text and weighted_length(text) <= 280, text


# ------------------------------------------------------------------------------------------ faq config errors


def minimal_config(folder: Path, extra: str) -> Path:
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "t.j2").write_text("{{ product.name }}\n", encoding="utf-8")
    config = folder / "config.yaml"
    config.write_text("accounts:\n  shop: {platform: sandbox, handle: shop}\n" + extra, encoding="utf-8")
    return config


GOOD_ENTRY = "    keywords: {en: [gift wrap], zh: [礼品包装]}\n    answer: {en: Free., zh: 免费。}\n"


def test_faq_inline_errors_name_the_line_and_the_field(tmp_path: Path) -> None:
    config = minimal_config(
        tmp_path,
        "faq:\n"  # line 3
        "  gift_wrap:\n"
        + GOOD_ENTRY  # lines 4-6
        + "  delivery:\n"  # line 7
        "    keywords: {en: [delivery]}\n"  # line 8
        "    answer:\n"  # line 9
        "      en: Two days.\n"  # line 10
        "  Returns:\n"  # line 11
        "    keywords: {}\n"  # line 12
        "    answer: {en: x, zh: y}\n"  # line 13
        "  contact:\n"  # line 14
        "    keyword: {en: [email]}\n"  # line 15
        "    answer: {en: x, zh: y}\n",  # line 16
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    found = {(p.line, p.path): p.message for p in caught.value.problems}
    assert found[(9, "faq.delivery.answer.zh")] == "required key is missing"
    assert "lower_snake_case" in found[(12, "faq.Returns")]
    assert found[(12, "faq.Returns.keywords")].startswith("give at least one keyword")
    assert found[(15, "faq.contact.keyword")].startswith("unknown key")
    assert any(line == 14 and path == "faq.contact.keywords" for line, path in found)
    assert all(p.file == str(config) for p in caught.value.problems)


def test_faq_answer_too_long_for_a_post(tmp_path: Path) -> None:
    config = minimal_config(
        tmp_path,
        "faq:\n  care:\n    keywords: {en: [wash]}\n    answer:\n      en: ok\n      zh: " + "很长" * 60 + "\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    (problem,) = caught.value.problems
    assert (
        problem.line == 8 and problem.path == "faq.care.answer.zh" and "240 characters as X counts" in problem.message
    )


def test_faq_in_a_file_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text("gift_wrap:\n" + GOOD_ENTRY, encoding="utf-8")
    config = minimal_config(tmp_path, "faq:\n  file: faq.yaml\n")
    settings = load_config(config, environ={})
    assert settings.faq.file == tmp_path / "faq.yaml" and list(settings.faq.entries) == ["gift_wrap"]
    answer = ask(Answerer(Knowledge.from_settings(settings)), "可以礼品包装吗", "zh")
    assert answer.topic == "faq:gift_wrap" and answer.text == "免费。"


def test_faq_file_errors_name_that_file_and_its_line(tmp_path: Path) -> None:
    faq = tmp_path / "faq.yaml"
    faq.write_text(
        "gift_wrap:\n"
        + GOOD_ENTRY
        + "invoice:\n  keywords: {en: [invoice]}\n  answer: {en: Yes., zh: 可以。, fr: Oui.}\n",
        encoding="utf-8",
    )
    config = minimal_config(tmp_path, "faq:\n  file: faq.yaml\n  gift_wrap:\n" + GOOD_ENTRY)
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    problems = caught.value.problems
    in_file = [p for p in problems if p.file == str(faq)]
    assert [(p.line, p.path) for p in in_file] == [(6, "faq.invoice.answer.fr")]
    assert in_file[0].message.startswith("unknown key")
    twice = [p for p in problems if p.file == str(config)]
    assert [(p.line, p.path) for p in twice] == [(5, "faq.gift_wrap")] and "also defined in" in twice[0].message

    faq.write_text("gift_wrap: [not, a, mapping\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    assert any(p.file == str(faq) and p.line == 1 and "malformed YAML" in p.message for p in caught.value.problems)

    faq.unlink()
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    missing = [p for p in caught.value.problems if "not found" in p.message]
    assert missing and missing[0].file == str(config) and missing[0].line == 4 and missing[0].path == "faq.file"


# ------------------------------------------------------------------------------------------ the labelled set


def test_the_labelled_set_is_sound(shipped: Settings) -> None:
    items = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(items) >= 300 and len({i["id"] for i in items}) == len(items)
    assert {i["language"] for i in items} == {"en", "zh"} and {i["split"] for i in items} == {"dev", "test"}
    names = {p.name for p in Knowledge.from_settings(shipped).products}
    for item in items:
        assert item["answerable"] == (item["expect"] == "answer")
        if item["answerable"]:
            assert item["topic"], item
        if "product" in item.get("facts", {}):
            assert item["facts"]["product"] in names, item


@pytest.mark.slow
def test_eval_answers_meets_the_goals() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/eval_answers.py", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), last
    result = dict(part.split("=", 1) for part in last.split()[1:])
    assert int(result["questions"]) >= 100
    assert float(result["precision"]) >= 0.97 and float(result["coverage"]) >= 0.7
    assert float(result["dev_precision"]) >= 0.97 and float(result["dev_coverage"]) >= 0.7
