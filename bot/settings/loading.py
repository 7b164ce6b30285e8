"""load_config: config.yaml -> Settings, or one ConfigError listing every problem with file, line and key path.

The YAML is parsed with line numbers (bot.settings.yamlpos), secrets found in it are reported and dropped, the
cross checks run on the raw data, the models validate it, then paths are resolved, product CSVs merged and
credentials read from the environment (and the .env beside config.yaml).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.core.errors import ConfigError, Problem
from bot.settings.accounts import account_credentials, credential_variables
from bot.settings.base import read_environment
from bot.settings.campaigns import CampaignConfig
from bot.settings.crosschecks import cross_checks
from bot.settings.dates import date_problem
from bot.settings.faq import resolve_faq
from bot.settings.products import Product, read_products_csv
from bot.settings.root import Settings
from bot.settings.yamlpos import KeyPath, LineMap, YamlSyntaxError, load_with_lines

logger = logging.getLogger(__name__)

SECRET_MESSAGE = "secrets belong in the environment, not config.yaml"
_SECRETISH = re.compile(r"(token|secret|password|passwd|bearer|api_?key|consumer_?key|(^|_)key$|^credentials$)", re.I)


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


class _Collector:
    def __init__(self, file: Path, lines: LineMap) -> None:
        self.file = str(file)
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str, *, prefer_key: bool = False) -> None:
        line = self.lines.line_of(path, prefer_key=prefer_key)
        self.problems.append(Problem(self.file, line, _dotted(path), message))


def _clean_loc(loc: tuple[str | int, ...], data: Any, error_type: str) -> KeyPath:
    """Drop pydantic's union tags and validator names so the loc matches the YAML key path."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict and not last and not _holds(current[part], loc[index + 1]) and _holds(current, loc[index + 1]):
            continue  # a union's tag that is also a key (schedule `interval`): the next part is a sibling key
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif last and error_type == "missing":
            path.append(part)
        else:
            continue
    if error_type == "window":
        path.append("end")
    if error_type == "campaign_accounts" and isinstance(current, dict) and "accounts" in current:
        path.append("accounts")  # both given: point at the list
    return tuple(path)


def _holds(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see docs/config.md)"
    if kind == "missing":
        return "required key is missing"
    if "date" in kind and isinstance(error.get("input"), str) and (no_such := date_problem(error["input"])):
        return no_such  # text written like a date that does not exist: the same words as YAML's own dates
    message = str(error["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if kind not in ("value_error", "window", "schedule_kind", "campaign_accounts") and "input" in error:
        shown = repr(error["input"])
        if len(shown) <= 60 and not isinstance(error["input"], dict | list):
            message += f" (got {shown})"
    return message


def _pull_secrets(data: dict[str, Any], out: _Collector) -> None:
    """Remove secret-looking keys from the account sections (and top level), each reported once."""
    sections: list[tuple[KeyPath, dict[str, Any]]] = [((), data)]
    accounts = data.get("accounts")
    if isinstance(accounts, dict):
        sections += [(("accounts", name), acc) for name, acc in accounts.items() if isinstance(acc, dict)]
    for path, section in sections:
        for key in list(section):
            if isinstance(key, str) and _SECRETISH.search(key) and key not in ("accounts",):
                hint = _env_hint(path, section)
                out.add((*path, key), f"{SECRET_MESSAGE} (set {hint} instead)", prefer_key=True)
                del section[key]


def _env_hint(path: KeyPath, section: Mapping[str, Any]) -> str:
    if len(path) == 2 and path[0] == "accounts":
        platform = section.get("platform")
        return ", ".join(credential_variables(str(path[1]), platform if isinstance(platform, str) else "x"))
    return "SOCIALBOT_<ACCOUNT>_* variables"


def _resolve_database_url(url: str, base: Path) -> str:
    match = re.match(r"^(sqlite(?:\+\w+)?):///(?P<rest>[^?]*)(?P<query>\?.*)?$", url)
    if not match:
        return url
    rest = match.group("rest")
    if not rest or rest == ":memory:" or rest.startswith("/") or rest.startswith("file:"):
        return url
    return f"{match.group(1)}:///{(base / rest).resolve()}{match.group('query') or ''}"


def _load_products(campaign: CampaignConfig, key: KeyPath, out: _Collector) -> list[Product]:
    assert campaign.products_csv is not None
    rows, row_problems = read_products_csv(campaign.products_csv)
    if row_problems and all(p.line is None for p in row_problems):
        # the file itself is unusable: report it at the config key
        for problem in row_problems:
            out.add((*key, "products_csv"), problem.message)
        return []
    for problem in row_problems:
        out.problems.append(Problem(problem.file, problem.line, _dotted((*key, "products_csv")), problem.message))
    return rows


def _credentials(settings: Settings, merged_env: Mapping[str, str], out: _Collector, *, required: bool) -> Settings:
    for name, account in settings.accounts.items():
        credentials, missing = account_credentials(name, account, merged_env)
        if credentials is not None:
            settings = settings.with_account(name, credentials=credentials)
        elif account.needs_credentials and required:
            bluesky = account.platform == "bluesky"
            what = "an app password" if bluesky else "credentials"
            out.add(
                ("accounts", name),
                f"{'Bluesky' if bluesky else 'X'} account needs {what} in the environment or .env: "
                f"missing {', '.join(missing)}",
                prefer_key=True,
            )
    return settings


def missing_credentials(settings: Settings) -> dict[str, list[str]]:
    """X and Bluesky accounts without credentials -> the variables to set (for `check`'s warnings)."""
    return {
        name: credential_variables(name, account.platform)
        for name, account in settings.accounts.items()
        if account.needs_credentials and account.credentials is None
    }


def load_config(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = True,
) -> Settings:
    """Load, validate and resolve config.yaml; raise ConfigError listing every problem (file, line, key).

    `environ` defaults to os.environ and is merged over a `.env` file beside config.yaml.
    With `require_credentials=False` (check, preview, schedule) X accounts without credentials load
    with `credentials=None`; `missing_credentials(settings)` lists them.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise ConfigError([Problem(file, None, "", "config file not found" if not path.exists() else "not a file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, None, "", f"cannot read the file: {exc}")]) from exc
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise ConfigError([Problem(file, exc.line, "", exc.message)]) from exc
    if data is None:
        raise ConfigError([Problem(file, 1, "", "the file is empty; it needs at least 'accounts:'")])
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, 1, "", "the top level must be a mapping of settings (key: value)")])

    out = _Collector(path, lines)
    for dup_path, dup_line in lines.duplicates:
        out.problems.append(Problem(file, dup_line, _dotted(dup_path), "duplicate key (the later one would win)"))
    bad_dates = [bad_path for bad_path, _, _ in lines.bad_values if bad_path]
    for bad_path, bad_line, why in lines.bad_values:
        out.problems.append(Problem(file, bad_line, _dotted(bad_path), why))
    _pull_secrets(data, out)
    base = path.resolve().parent
    for key, message in cross_checks(data, base):
        if not _within(key, bad_dates):
            out.add(key, message)

    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            key = _clean_loc(tuple(error["loc"]), data, error["type"])
            if _within(key, bad_dates):
                continue  # already reported, in plain words, as a date that does not exist
            out.add(
                key, _message(error), prefer_key=error["type"] in ("extra_forbidden", "missing", "campaign_accounts")
            )

    if settings is not None:
        settings = _resolve(settings, path, out)
        settings = _credentials(settings, read_environment(path, environ), out, required=require_credentials)

    if out.problems:
        problems = sorted(_unique(out.problems), key=lambda p: (p.file != file, p.file, p.line or 0))
        raise ConfigError(problems)
    assert settings is not None
    logger.debug("loaded %s: %d accounts, %d campaigns", path, len(settings.accounts), len(settings.campaigns))
    return settings


def _within(key: KeyPath, paths: list[KeyPath]) -> bool:
    """`key` is one of `paths` or lies under one (a problem of a value already reported there)."""
    return any(key[: len(path)] == path for path in paths)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    result = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            result.append(problem)
    return result


def _resolve(settings: Settings, path: Path, out: _Collector) -> Settings:
    base = path.resolve().parent
    campaigns: dict[str, CampaignConfig] = {}
    for name, campaign in settings.campaigns.items():
        if campaign.products_csv is not None:
            csv_path = campaign.products_csv if campaign.products_csv.is_absolute() else base / campaign.products_csv
            campaign = campaign.model_copy(update={"products_csv": csv_path})
            rows = _load_products(campaign, ("campaigns", name), out)
            campaign = campaign.model_copy(update={"products": [*campaign.products, *rows]})
        campaigns[name] = campaign
    templates_dir = settings.templates_dir if settings.templates_dir.is_absolute() else base / settings.templates_dir
    faq, faq_problems, faq_keys = resolve_faq(settings.faq, base)  # `faq: {file: ...}`: its entries, its lines
    out.problems.extend(faq_problems)
    for key, message in faq_keys:
        out.add(key, message, prefer_key=True)
    return settings.model_copy(
        update={
            "campaigns": campaigns,
            "faq": faq,
            "templates_dir": templates_dir,
            "database_url": _resolve_database_url(settings.database_url, base),
            "config_path": path.resolve(),
        }
    )
