"""`socialbot check` on the shipped example and on broken copies of it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from bot.app.checking import check_all, run_checks
from bot.app.cli import app
from bot.core.clock import FrozenClock
from bot.core.text import weighted_length

REPO = Path(__file__).resolve().parent.parent


def shipped_copy(tmp_path: Path) -> Path:
    for name in ("templates", "data"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    return tmp_path / "config.yaml"


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "--config", str(config), *args], env={"COLUMNS": "300"})
    return result.exit_code, result.output


def test_shipped_config_passes(tmp_path: Path) -> None:
    code, output = run(REPO / "config.yaml")
    assert code == 0, output
    assert "ok" in output and "5 campaign(s)" in output
    assert check_all(shipped_copy(tmp_path), environ={}) == []


def test_shipped_chinese_templates_fit(tmp_path: Path) -> None:
    report = run_checks(REPO / "config.yaml", environ={}, clock=FrozenClock(datetime(2026, 10, 30, tzinfo=UTC)))
    assert report.ok and report.rendered >= 40
    assert report.settings is not None
    assert weighted_length("双十一") == 6


def test_broken_copy_exits_2_with_file_line_and_key(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    text = config.read_text(encoding="utf-8")
    text = text.replace('cron: "0 9 * * 1"', 'cron: "0 9 * * 8"').replace("interval: 8h", "interval: 8 hours")
    config.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if '"0 9 * * 8"' in row)
    code, output = run(config)
    assert code == 2
    assert f"config.yaml:{line}: campaigns.weekly_deals.schedule.cron:" in output
    assert "day of week: '8' is not valid" in output and "8 is out of range 0-7" in output
    assert "campaigns.new_arrivals.schedule.interval" in output
    assert "2 problems" in output


def test_template_problems_are_reported_with_template_lines(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    template = tmp_path / "templates" / "weekly_deals.j2"
    lines = template.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1] + " {{ coupon_code }}"
    lines[5] = "{{ product.tagline * 40 }}"
    template.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = check_all(config, environ={})
    undefined = [p for p in problems if "coupon_code" in p.message]
    assert undefined and undefined[0].file == str(template.resolve()) and undefined[0].line == 2
    assert undefined[0].path == "campaigns.weekly_deals.template"
    too_long = [p for p in problems if "limit 280" in p.message]
    assert too_long and all("variant 2/3, product" in p.message for p in too_long)
    assert len(too_long) == 4  # one per product
    code, output = run(config)
    assert code == 2 and "coupon_code" in output


def test_bad_csv_rows_and_missing_template(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    csv_path = tmp_path / "data" / "weekly_deals.csv"
    csv_path.write_text(csv_path.read_text(encoding="utf-8") + "Broken mug,free,,\n", encoding="utf-8")
    (tmp_path / "templates" / "new_arrivals.j2").unlink()
    problems = check_all(config, environ={})
    assert any(p.file == str(csv_path.resolve()) and p.line == 6 and "not a number" in p.message for p in problems)
    assert any(p.path == "campaigns.new_arrivals.template" and "not found" in p.message for p in problems)


def test_missing_credentials_warn_unless_strict(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        "    platform: sandbox\n    handle: lumenhome\n", "    platform: x\n    handle: lumenhome\n"
    )
    config.write_text(text, encoding="utf-8")
    code, output = run(config)
    assert code == 0 and "SOCIALBOT_SHOP_CONSUMER_KEY" in output and "warning" in output
    code, output = run(config, "--strict")
    assert code == 2 and "SOCIALBOT_SHOP_ACCESS_TOKEN" in output


def test_malformed_yaml_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("accounts:\n  shop: {platform: sandbox\n")
    code, output = run(config)
    assert code == 2 and "config.yaml:2" in output and "malformed YAML" in output


def test_an_over_long_reply_template_is_reported_with_its_line(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    praise = tmp_path / "templates" / "replies" / "praise.j2"
    praise.write_text("Thanks!\n{# variant #}\n" + "Thank you so much " * 20 + "{{ text }}\n", encoding="utf-8")
    code, output = run(config)
    assert code == 2, output
    assert f"{praise}:3: replies.intents.4.reply: variant 2/2" in output and "too long" in output
    praise.write_text("Thanks {{ nobody }}!\n", encoding="utf-8")
    code, output = run(config)
    assert code == 2 and f"{praise}:1: replies.intents.4.reply" in output, output


PROMISING = """\
accounts:
  shop: {platform: sandbox, handle: shop}
replies:
  intents:
    - name: question
      keywords: [how]
      reply: replies/ask.j2
      escalate: ESCALATE
    - name: praise
      keywords: [love]
      reply: replies/thanks.j2
coupons:
  campaigns:
    thanks:
      budget: 10
      discount: DISCOUNT
"""


def promising_setup(tmp_path: Path, *, escalate: str = "false", discount: str = '"15%"') -> Path:
    replies = tmp_path / "templates" / "replies"
    replies.mkdir(parents=True)
    (replies / "ask.j2").write_text(
        "{# a person answers later: this comment is no promise #}\n"
        '{% if language == "zh" %}\n收到，同事会尽快回复你（{{ ref }}）。\n'
        "{% else %}\nThanks! Our team will get back to you ({{ ref }}).\n{% endif %}\n",
        encoding="utf-8",
    )
    (replies / "thanks.j2").write_text("Thank you{{ ', ' ~ name if name }}! ({{ ref }})\n", encoding="utf-8")
    shutil.copytree(REPO / "templates" / "coupons", tmp_path / "templates" / "coupons")
    config = tmp_path / "config.yaml"
    config.write_text(PROMISING.replace("ESCALATE", escalate).replace("DISCOUNT", discount), encoding="utf-8")
    return config


def test_a_reply_that_promises_a_follow_up_without_escalating_is_a_warning(tmp_path: Path) -> None:
    config = promising_setup(tmp_path)
    report = run_checks(config, environ={})
    assert report.ok, report.problems
    [warning] = [w for w in report.warnings if "promises a follow-up" in w.message]
    template = tmp_path / "templates" / "replies" / "ask.j2"
    assert (warning.file, warning.line, warning.path) == (str(template), 3, "replies.intents.0.reply")
    assert "intent 'question'" in warning.message and "replies/ask.j2" in warning.message
    assert all(phrase in warning.message for phrase in ("'同事'", "'尽快回复'", "'Our team'", "'get back to you'"))
    assert "escalate: true" in warning.message
    code, output = run(config)
    assert code == 0 and f"warning {template}:3: replies.intents.0.reply: intent 'question'" in output, output


def test_an_escalating_intent_may_promise_a_follow_up(tmp_path: Path) -> None:
    report = run_checks(promising_setup(tmp_path, escalate="true"), environ={})
    assert report.ok and not [w for w in report.warnings if "follow-up" in w.message], report.warnings


def test_a_discount_without_a_form_for_a_language_the_coupon_speaks_is_a_warning(tmp_path: Path) -> None:
    config = promising_setup(tmp_path, escalate="true", discount='{en: "¥30 off ¥200"}')
    report = run_checks(config, environ={})
    assert report.ok, report.problems
    [warning] = [w for w in report.warnings if w.path == "coupons.campaigns.thanks.discount"]
    assert "no zh form" in warning.message and "coupons/coupon.j2:" in warning.message
    assert "would read the en form" in warning.message
    code, output = run(config)
    assert code == 0 and "coupons.campaigns.thanks.discount: no zh form" in output

    plain = run_checks(promising_setup(tmp_path / "plain", escalate="true", discount='"¥30 off ¥200"'), environ={})
    [warning] = [w for w in plain.warnings if w.path == "coupons.campaigns.thanks.discount"]
    assert "one text for every language" in warning.message and "en, zh" in warning.message

    for fine in ('{en: "¥30 off ¥200", zh: "满200减30"}', '"15%"'):
        report = run_checks(promising_setup(tmp_path / str(len(fine)), escalate="true", discount=fine), environ={})
        assert not [w for w in report.warnings if "discount" in w.path], report.warnings


def test_the_shipped_coupon_campaign_speaks_each_language(tmp_path: Path) -> None:
    report = run_checks(shipped_copy(tmp_path), environ={})
    assert not [w for w in report.warnings if w.path.startswith("coupons.")], report.warnings
