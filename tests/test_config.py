"""config.yaml loading: every bad input becomes a Problem with file, line and key path."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.core.durations import parse_duration
from bot.core.errors import ConfigError, Problem
from bot.settings.config import (
    CronSchedule,
    IntervalSchedule,
    Settings,
    TimesSchedule,
    credential_variables,
    load_config,
)
from bot.settings.cronspec import CronSyntaxError, apscheduler_fields, validate_cron

GOOD = """\
timezone: Asia/Shanghai
database_url: sqlite:///var/socialbot.db
accounts:
  shop:
    platform: sandbox
    handle: lumenhome
campaigns:
  sale:
    account: shop
    template: sale.j2
    schedule:
      cron: "0 10 * * 1-5"
    start: 2026-11-01
    end: 2026-11-12
    utm:
      campaign: sale
"""


def write(tmp_path: Path, text: str, templates: dict[str, str] | None = None) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    for name, body in (templates or {"sale.j2": "Sale on {{ campaign.name }} {{ sequence }}"}).items():
        (tmp_path / "templates" / name).write_text(body, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, **kwargs)  # type: ignore[arg-type]
    assert str(info.value)  # printable
    return info.value.problems


def test_good_config_loads_and_resolves_paths(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD), environ={})
    assert isinstance(settings, Settings)
    assert settings.config_path == (tmp_path / "config.yaml").resolve()
    assert settings.templates_dir == tmp_path.resolve() / "templates"
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'var' / 'socialbot.db'}"
    campaign = settings.campaigns["sale"]
    assert isinstance(campaign.schedule, CronSchedule)
    start, end = settings.campaign_window("sale")
    assert start is not None and start.isoformat() == "2026-11-01T00:00:00+08:00"
    assert end is not None and end.isoformat() == "2026-11-13T00:00:00+08:00"  # date-only end: whole day
    assert str(settings.campaign_timezone("sale")) == "Asia/Shanghai"
    with pytest.raises(Exception, match="frozen"):
        settings.timezone = "UTC"  # type: ignore[misc]


def test_overrides_for_the_demo(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD), environ={})
    fast = settings.with_account("shop", base_url="http://127.0.0.1:9").with_campaign(
        "sale", schedule=IntervalSchedule(interval="5s")
    )
    fast = fast.with_overrides(database_url="sqlite:///x.db")
    assert fast.accounts["shop"].base_url == "http://127.0.0.1:9"
    assert fast.campaigns["sale"].schedule.every == timedelta(seconds=5)  # type: ignore[union-attr]
    assert fast.database_url == "sqlite:///x.db"
    assert settings.accounts["shop"].base_url is None  # original untouched


def test_missing_empty_and_non_mapping_files(tmp_path: Path) -> None:
    [missing] = problems(tmp_path / "nope.yaml")
    assert "not found" in missing.message
    empty = tmp_path / "empty.yaml"
    empty.write_text("# only a comment\n")
    [p] = problems(empty)
    assert "empty" in p.message
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    [p] = problems(listy)
    assert "mapping" in p.message


def test_malformed_yaml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('      cron: "0 10 * * 1-5"', '      cron: "0 10 * * 1-5'))
    [p] = problems(path)
    assert p.file == str(path)
    assert p.line == 12
    assert "malformed YAML" in p.message
    path = write(tmp_path, GOOD.replace("    handle: lumenhome", "   handle: lumenhome"))
    [p] = problems(path)
    assert p.line == 6


def test_unknown_keys_are_rejected_with_their_line(tmp_path: Path) -> None:
    text = GOOD.replace("    handle: lumenhome\n", "    handle: lumenhome\n    hndle: typo\n")
    text = text.replace("    utm:\n", "    enabld: true\n    utm:\n")
    found = {p.path: p for p in problems(write(tmp_path, text))}
    assert found["accounts.shop.hndle"].line == 7
    assert "unknown key" in found["accounts.shop.hndle"].message
    assert found["campaigns.sale.enabld"].line == 16


def test_wrong_types_collect_every_problem(tmp_path: Path) -> None:
    text = GOOD.replace("platform: sandbox", "platform: myspace").replace("  sale:\n", "  sale:\n    enabled: maybe\n")
    text += "delivery:\n  per_account_per_day: lots\n  min_spacing_seconds: -1\n"
    found = {p.path: p for p in problems(write(tmp_path, text))}
    assert found["accounts.shop.platform"].line == 5
    assert found["campaigns.sale.enabled"].line == 9
    assert found["delivery.per_account_per_day"].line == 19
    assert found["delivery.min_spacing_seconds"].line == 20
    assert "'lots'" in found["delivery.per_account_per_day"].message


def test_missing_required_key_points_at_the_parent(tmp_path: Path) -> None:
    found = {p.path: p for p in problems(write(tmp_path, GOOD.replace("    handle: lumenhome\n", "")))}
    assert found["accounts.shop.handle"].message == "required key is missing"
    assert found["accounts.shop.handle"].line == 4


def test_bad_cron_and_timezone(tmp_path: Path) -> None:
    text = GOOD.replace("0 10 * * 1-5", "0 25 * * 1-5").replace("Asia/Shanghai", "Asia/Shanghia")
    found = {p.path: p for p in problems(write(tmp_path, text))}
    assert found["timezone"].line == 1
    assert "unknown timezone" in found["timezone"].message
    assert found["campaigns.sale.schedule.cron"].line == 12
    assert "hour: '25' is not valid (0-23)" in found["campaigns.sale.schedule.cron"].message


def test_schedule_needs_exactly_one_kind(tmp_path: Path) -> None:
    text = GOOD.replace('      cron: "0 10 * * 1-5"\n', '      cron: "0 10 * * *"\n      interval: 2h\n')
    [p] = problems(write(tmp_path, text))
    assert p.path == "campaigns.sale.schedule"
    assert "exactly one of" in p.message


def test_bad_interval_and_times(tmp_path: Path) -> None:
    text = GOOD.replace('      cron: "0 10 * * 1-5"\n', "      interval: 2 hours\n")
    [p] = problems(write(tmp_path, text))
    assert p.path == "campaigns.sale.schedule.interval" and p.line == 12
    text = GOOD.replace('      cron: "0 10 * * 1-5"\n', "      times:\n        - 2026-11-11 20:00\n        - someday\n")
    [p] = problems(write(tmp_path, text))
    assert p.path == "campaigns.sale.schedule.times.1" and p.line == 14


def test_window_start_must_precede_end(tmp_path: Path) -> None:
    [p] = problems(write(tmp_path, GOOD.replace("end: 2026-11-12", "end: 2026-10-01")))
    assert p.path == "campaigns.sale.end" and p.line == 14
    assert "before end" in p.message


def test_unknown_account_and_template(tmp_path: Path) -> None:
    text = GOOD.replace("account: shop", "account: shopp").replace("template: sale.j2", "template: sael.j2")
    found = {p.path: p for p in problems(write(tmp_path, text))}
    assert found["campaigns.sale.account"].line == 9
    assert "unknown account 'shopp'" in found["campaigns.sale.account"].message
    assert found["campaigns.sale.template"].line == 10
    assert "not found" in found["campaigns.sale.template"].message


def test_secrets_in_config_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("    handle: lumenhome\n", "    handle: lumenhome\n    access_token: abc123\n")
    [p] = problems(write(tmp_path, text))
    assert p.path == "accounts.shop.access_token" and p.line == 7
    assert "secrets belong in the environment, not config.yaml" in p.message
    assert "abc123" not in p.message
    assert "SOCIALBOT_SHOP_ACCESS_TOKEN" in p.message


X_ACCOUNT = GOOD.replace(
    "  shop:\n    platform: sandbox\n    handle: lumenhome\n",
    "  shop:\n    platform: x\n    handle: lumenhome\n  brand-2:\n    platform: x\n    handle: other\n",
)


def test_missing_credentials_for_x_accounts(tmp_path: Path) -> None:
    path = write(tmp_path, X_ACCOUNT)
    found = {p.path: p for p in problems(path)}
    assert "SOCIALBOT_SHOP_CONSUMER_KEY" in found["accounts.shop"].message
    assert found["accounts.shop"].line == 4
    assert "SOCIALBOT_BRAND_2_ACCESS_TOKEN_SECRET" in found["accounts.brand-2"].message
    # check / preview / schedule work without secrets
    settings = load_config(path, environ={}, require_credentials=False)
    assert settings.accounts["shop"].credentials is None


def test_credentials_from_environ_and_dotenv(tmp_path: Path) -> None:
    path = write(tmp_path, X_ACCOUNT)
    names = credential_variables("shop")
    (tmp_path / ".env").write_text("\n".join(f"{n}=from-dotenv-{i}" for i, n in enumerate(names)) + "\n")
    environ = {n: f"env-{i}" for i, n in enumerate(credential_variables("brand-2"))}
    environ[names[0]] = "env-wins"
    settings = load_config(path, environ=environ)
    shop = settings.accounts["shop"].credentials
    assert shop is not None and shop.consumer_key == "env-wins" and shop.access_token == "from-dotenv-2"
    assert "env-wins" not in repr(settings)
    assert "credentials" not in settings.model_dump()["accounts"]["shop"]


def test_products_csv_bad_rows_reported_good_rows_kept(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    csv_path = tmp_path / "data" / "p.csv"
    csv_path.write_text(
        "name,price,url,stock\n"
        "Lamp,459,https://x.example/l,3\n"
        ",10,,\n"
        "Vase,cheap,,\n"
        '"Throw, linen","1,299.50",,7\n'
        "Mug,25,,1,extra\n"
        "Bowl,19.5,,\n",
        encoding="utf-8",
    )
    path = write(tmp_path, GOOD + "    products_csv: data/p.csv\n")
    found = problems(path)
    assert [(p.file, p.line) for p in found] == [(str(csv_path), 3), (str(csv_path), 4), (str(csv_path), 6)]
    assert "price 'cheap' is not a number" in found[1].message
    assert all(p.path == "campaigns.sale.products_csv" for p in found)
    # the good rows: load the same file without the bad rows to see what is kept
    csv_path.write_text('name,price,url,stock\nLamp,459,https://x.example/l,3\n"Throw, linen","1,299.50",,7\n')
    products = load_config(path, environ={}).campaigns["sale"].products
    assert [(p.name, p.price) for p in products] == [("Lamp", 459.0), ("Throw, linen", 1299.5)]
    assert products[0].stock == 3  # type: ignore[attr-defined]


def test_products_csv_needs_name_column_and_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    products_csv: data/none.csv\n")
    [p] = problems(path)
    assert p.path == "campaigns.sale.products_csv" and p.line == 17 and "not found" in p.message
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "none.csv").write_text("title,price\nLamp,1\n")
    [p] = problems(path)
    assert "needs a 'name' column" in p.message


def test_duplicate_keys(tmp_path: Path) -> None:
    [p] = problems(write(tmp_path, GOOD + "timezone: UTC\n"))
    assert p.path == "timezone" and p.line == 17 and "duplicate" in p.message


def test_parse_duration() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    for bad in ("", "0s", "2 hours", "h", "1h1h", "-5m", "5x"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_cron_validation_and_apscheduler_translation() -> None:
    assert validate_cron("*/15  9-17 * * mon-fri") == "*/15 9-17 * * mon-fri"
    assert validate_cron("@weekly") == "0 0 * * 0"
    assert apscheduler_fields("0 10 * * 1-5")["day_of_week"] == "mon,tue,wed,thu,fri"
    assert apscheduler_fields("0 10 * * 0")["day_of_week"] == "sun"
    assert apscheduler_fields("0 10 * * 7")["day_of_week"] == "sun"
    assert apscheduler_fields("@daily") == {"minute": "0", "hour": "0", "day": "*", "month": "*", "day_of_week": "*"}
    for bad in ("61 * * * *", "* * * *", "0 10 5-1 * *", "0 10 1 * 1", "a b c d e", "*/0 * * * *"):
        with pytest.raises(CronSyntaxError):
            validate_cron(bad)


def test_times_schedule_and_interval_objects(tmp_path: Path) -> None:
    text = GOOD.replace(
        '      cron: "0 10 * * 1-5"\n', "      times: [2026-11-11 20:00, '2026-11-11T21:00:00+00:00']\n"
    )
    schedule = load_config(write(tmp_path, text), environ={}).campaigns["sale"].schedule
    assert isinstance(schedule, TimesSchedule)
    assert schedule.times[0] == datetime(2026, 11, 11, 20, 0)


def test_without_a_replies_section_the_bot_answers_nobody(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD), environ={}).replies.enabled is False


def test_replies_section_problems_name_their_lines(tmp_path: Path) -> None:
    text = GOOD + textwrap.dedent(
        """\
        replies:
          accounts: [shop, nobody]
          quiet_hours: {start: "23:00", end: "08:00", timezone: Mars/Base}
          intents:
            - name: opt_out
              keywords: [stop]
            - name: complaint
              patterns: ["(unclosed"]
              reply: replies/missing.j2
            - name: Bad-Name
        """
    )
    path = write(tmp_path, text)
    lines = text.splitlines()
    found = {(p.path, p.line) for p in problems(path)}
    line = lambda needle: next(i for i, t in enumerate(lines, 1) if needle in t)  # noqa: E731
    assert ("replies.accounts.1", line("accounts: [shop")) in found
    assert any(path_ == "replies.quiet_hours.timezone" for path_, _ in found)
    assert ("replies.intents.1.patterns", line("patterns:")) in found
    assert ("replies.intents.1.reply", line("reply: replies/missing")) in found
    assert ("replies.intents.2.name", line("Bad-Name")) in found


def test_replies_defaults_need_their_templates_and_opt_out_first(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "replies:\n  poll_seconds: 30\n")
    assert any("replies/opt_out.j2" in p.message and p.path == "replies" for p in problems(path))
    order = GOOD + "replies:\n  intents:\n    - {name: other}\n    - {name: opt_out, keywords: [stop]}\n"
    assert any("opt_out must come first" in p.message for p in problems(write(tmp_path, order)))


# ------------------------------------------------------------------------------------- Bluesky (issue 7)

BLUESKY = """\
accounts:
  shop_x:
    platform: x
    handle: lumenhome
  shop_bsky:
    platform: bluesky
    handle: "@Lumen.BSKY.social"
  own_pds:
    platform: bluesky
    handle: shop.test
    base_url: http://127.0.0.1:2583/
campaigns:
  sale:
    accounts: [shop_x, shop_bsky]
    template: sale.j2
    schedule:
      cron: "0 10 * * 1-5"
"""


def test_bluesky_accounts_with_their_server_and_app_password(tmp_path: Path) -> None:
    path = write(tmp_path, BLUESKY)
    environ = {
        **{n: "x-secret" for n in credential_variables("shop_x")},
        "SOCIALBOT_SHOP_BSKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop",
    }
    (tmp_path / ".env").write_text("SOCIALBOT_OWN_PDS_APP_PASSWORD=from-dotenv\n")
    settings = load_config(path, environ=environ)
    bsky, own = settings.accounts["shop_bsky"], settings.accounts["own_pds"]
    assert (bsky.platform, bsky.handle, bsky.base_url) == ("bluesky", "lumen.bsky.social", "https://bsky.social")
    assert (own.handle, own.base_url) == ("shop.test", "http://127.0.0.1:2583")
    assert bsky.credentials is not None and bsky.credentials.app_password == "abcd-efgh-ijkl-mnop"  # type: ignore[union-attr]
    assert own.credentials is not None and own.credentials.app_password == "from-dotenv"  # type: ignore[union-attr]
    assert "abcd-efgh" not in repr(settings) and "from-dotenv" not in repr(settings)
    assert "credentials" not in settings.model_dump()["accounts"]["shop_bsky"]
    assert credential_variables("shop_bsky", "bluesky") == ["SOCIALBOT_SHOP_BSKY_APP_PASSWORD"]
    assert settings.campaigns["sale"].targets == ("shop_x", "shop_bsky")
    assert settings.campaigns["sale"].multi_account


def test_bluesky_app_password_is_required_only_to_run(tmp_path: Path) -> None:
    path = write(tmp_path, BLUESKY)
    found = {p.path: p for p in problems(path)}
    assert found["accounts.shop_bsky"].line == 5
    assert "SOCIALBOT_SHOP_BSKY_APP_PASSWORD" in found["accounts.shop_bsky"].message
    assert "CONSUMER_KEY" not in found["accounts.shop_bsky"].message  # each platform its own variables
    assert "SOCIALBOT_OWN_PDS_APP_PASSWORD" in found["accounts.own_pds"].message
    assert "APP_PASSWORD" not in found["accounts.shop_x"].message
    settings = load_config(path, environ={}, require_credentials=False)
    from bot.settings.config import missing_credentials

    assert missing_credentials(settings)["shop_bsky"] == ["SOCIALBOT_SHOP_BSKY_APP_PASSWORD"]
    assert settings.accounts["shop_bsky"].credentials is None


def test_bluesky_password_in_config_is_refused(tmp_path: Path) -> None:
    text = BLUESKY.replace(
        '    handle: "@Lumen.BSKY.social"\n', "    handle: lumen.bsky.social\n    app_password: hunter2\n"
    )
    text = text.replace("    handle: lumenhome\n", "    handle: lumenhome\n    credentials: {access_token: t0ken}\n")
    found = {p.path: p for p in problems(write(tmp_path, text), require_credentials=False)}
    password = found["accounts.shop_bsky.app_password"]
    assert password.line == 9
    assert "secrets belong in the environment, not config.yaml" in password.message
    assert "SOCIALBOT_SHOP_BSKY_APP_PASSWORD" in password.message and "hunter2" not in password.message
    nested = found["accounts.shop_x.credentials"]
    assert nested.line == 5 and "secrets belong in the environment" in nested.message
    assert "t0ken" not in nested.message


@pytest.mark.parametrize(
    ("platform", "handle", "message"),
    [
        ("bluesky", "shop", "domain name"),
        ("bluesky", "shop_.bsky.social", "domain name"),
        ("bluesky", "shop.123", "domain name"),
        ("bluesky", "-shop.bsky.social", "domain name"),
        ("x", "shop.bsky.social", "1-15 letters"),
        ("x", "a_very_long_handle_indeed", "1-15 letters"),
        ("sandbox", "shop.test", "1-15 letters"),
    ],
)
def test_handles_are_checked_by_their_platform(tmp_path: Path, platform: str, handle: str, message: str) -> None:
    text = f"accounts:\n  shop:\n    platform: {platform}\n    handle: {handle}\n"
    [p] = problems(write(tmp_path, text), require_credentials=False)
    assert (p.path, p.line) == ("accounts.shop.handle", 4)
    assert message in p.message


def test_campaign_names_one_account_or_a_list(tmp_path: Path) -> None:
    both = BLUESKY.replace(
        "    accounts: [shop_x, shop_bsky]\n", "    account: shop_x\n    accounts: [shop_x, shop_bsky]\n"
    )
    [p] = problems(write(tmp_path, both), require_credentials=False)
    assert (p.path, p.line) == ("campaigns.sale.accounts", 15)
    assert "exactly one of 'account'" in p.message

    neither = BLUESKY.replace("    accounts: [shop_x, shop_bsky]\n", "")
    [p] = problems(write(tmp_path, neither), require_credentials=False)
    assert (p.path, p.line) == ("campaigns.sale", 13)
    assert "exactly one of 'account'" in p.message

    listed = BLUESKY.replace(
        "    accounts: [shop_x, shop_bsky]\n", "    accounts:\n      - shop_x\n      - shop_bsky\n      - shop_bksy\n"
    )
    [p] = problems(write(tmp_path, listed), require_credentials=False)
    assert (p.path, p.line) == ("campaigns.sale.accounts.2", 17)
    assert "unknown account 'shop_bksy'" in p.message

    twice = BLUESKY.replace("[shop_x, shop_bsky]", "[shop_x, shop_x]")
    [p] = problems(write(tmp_path, twice), require_credentials=False)
    assert (p.path, p.line) == ("campaigns.sale.accounts", 14)
    assert "'shop_x' is listed twice" in p.message

    empty = BLUESKY.replace("[shop_x, shop_bsky]", "[]")
    [p] = problems(write(tmp_path, empty), require_credentials=False)
    assert (p.path, p.line) == ("campaigns.sale.accounts", 14)
