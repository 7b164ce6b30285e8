"""The `faq:` section of config.yaml: the team's own answers to common questions, in English and Chinese.

Each entry has `keywords` (words or phrases, per language, any one of which points a question at the entry) and
an `answer` in both languages. Entries named like STANDARD_TOPICS are those topics (delivery, shipping cost,
returns, opening/service hours, payment, contact); any other name is a custom entry, topic `faq:<name>`.

The entries are written inline (`faq: {delivery: {...}, ...}`) or in a YAML file beside config.yaml
(`faq: {file: faq.yaml}`, the file holding the same mapping of entries), or both (a name may appear once).
A problem in that file is reported with the file's own name and line (`resolve_faq`, called by load_config).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from bot.core.errors import Problem
from bot.settings.base import ConfigModel
from bot.settings.yamlpos import KeyPath, YamlSyntaxError, load_with_lines

logger = logging.getLogger(__name__)

STANDARD_TOPICS = ("delivery", "shipping", "returns", "hours", "payment", "contact")
ANSWER_MAX_WEIGHT = 220  # X's weighted characters (a Chinese character counts 2): room left for a greeting
FILE_KEY = "file"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class FaqKeywords(ConfigModel):
    """Words or phrases per language; English ones match as whole words, Chinese ones anywhere in the text."""

    en: list[str] = Field(default_factory=list)
    zh: list[str] = Field(default_factory=list)

    @field_validator("en", "zh")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not str(word).strip() for word in value):
            raise ValueError("keywords must not be empty")
        return [str(word).strip() for word in value]

    @model_validator(mode="after")
    def _some(self) -> FaqKeywords:
        if not self.en and not self.zh:
            raise ValueError("give at least one keyword (under en or zh) that points a question at this entry")
        return self


class FaqAnswer(ConfigModel):
    """The answer in both languages, as the customer reads it (the reply template adds the greeting)."""

    en: Annotated[str, Field(min_length=1)]
    zh: Annotated[str, Field(min_length=1)]

    @field_validator("en", "zh")
    @classmethod
    def _fits(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the answer must not be empty")
        from bot.core.text import weighted_length  # twitter-text: loaded only when a faq is configured

        size = weighted_length(value)
        if size > ANSWER_MAX_WEIGHT:
            raise ValueError(
                f"the answer is {size} characters as X counts them (Chinese characters count 2, a link 23); "
                f"keep it within {ANSWER_MAX_WEIGHT} so the reply fits in a post"
            )
        return value


class FaqEntry(ConfigModel):
    keywords: FaqKeywords
    answer: FaqAnswer


def topic_of(name: str) -> str:
    """The answer topic of an entry: its name for the standard ones, `faq:<name>` for the team's own."""
    return name if name in STANDARD_TOPICS else f"faq:{name}"


def _entry_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"faq entry name {name!r} must be lower_snake_case (e.g. gift_wrap)")
    return name


class FaqConfig(ConfigModel):
    """`file` (relative to config.yaml's folder) and the entries written inline, by name."""

    file: Path | None = None
    entries: dict[Annotated[str, AfterValidator(_entry_name)], FaqEntry] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _inline(cls, value: Any) -> Any:
        """config.yaml writes the entries right under `faq:` (beside an optional `file`)."""
        if value is None:
            return {}
        if isinstance(value, FaqConfig) or not isinstance(value, Mapping):
            return value
        if set(value) <= {FILE_KEY, "entries"} and isinstance(value.get("entries"), Mapping):
            return dict(value)  # already in model form (a copy made in code)
        return {FILE_KEY: value.get(FILE_KEY), "entries": {k: v for k, v in value.items() if k != FILE_KEY}}

    @field_validator("file")
    @classmethod
    def _file(cls, value: Path | None) -> Path | None:
        if value is not None and not str(value).strip():
            raise ValueError("file must name a YAML file beside config.yaml, e.g. faq.yaml")
        return value


def resolve_faq(faq: FaqConfig, base: Path) -> tuple[FaqConfig, list[Problem], list[tuple[KeyPath, str]]]:
    """`faq` with the entries of its file (relative to `base`) merged in, then the file named absolutely.

    Returns (faq, problems inside the file with its own line numbers, problems at a config.yaml key path)."""
    if faq.file is None:
        return faq, [], []
    path = faq.file if faq.file.is_absolute() else base / faq.file
    entries, problems, at_keys = read_faq_file(path)
    for name in entries:
        if name in faq.entries:
            at_keys.append((("faq", name), f"faq entry {name!r} is also defined in {path}; keep one of them"))
    merged = {**entries, **faq.entries}
    return faq.model_copy(update={"file": path, "entries": merged}), problems, at_keys


def read_faq_file(path: Path) -> tuple[dict[str, FaqEntry], list[Problem], list[tuple[KeyPath, str]]]:
    """The entries of a faq file: (good entries, problems with the file's lines, problems at `faq.file`)."""
    file = str(path)
    if not path.is_file():
        return {}, [], [(("faq", FILE_KEY), f"faq file {path} not found")]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [], [(("faq", FILE_KEY), f"cannot read the faq file {path}: {exc}")]
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        return {}, [Problem(file, exc.line, "", exc.message)], []
    if data is None:
        return {}, [], []
    if not isinstance(data, dict):
        return {}, [Problem(file, 1, "", "a faq file holds a mapping of entries (name: {keywords, answer})")], []
    problems = [
        Problem(file, line, _dotted(key), "duplicate key (the later one would win)") for key, line in lines.duplicates
    ]
    entries: dict[str, FaqEntry] = {}
    for name, raw in data.items():
        key: KeyPath = (str(name),)
        if name == FILE_KEY:
            problems.append(
                Problem(file, lines.line_of(key, prefer_key=True), _dotted(key), "a faq file cannot name another file")
            )
            continue
        if not _NAME.fullmatch(str(name)):
            message = f"faq entry name {name!r} must be lower_snake_case (e.g. gift_wrap)"
            problems.append(Problem(file, lines.line_of(key, prefer_key=True), _dotted(key), message))
            continue
        try:
            entries[str(name)] = FaqEntry.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                where = (*key, *_present(tuple(error["loc"]), raw))
                kind = error["type"]
                problems.append(
                    Problem(file, lines.line_of(where, prefer_key=kind in _AT_KEY), _dotted(where), _message(error))
                )
    logger.debug("read %d faq entries from %s (%d problems)", len(entries), path, len(problems))
    return entries, problems, []


_AT_KEY = ("extra_forbidden", "missing")


def _dotted(path: KeyPath) -> str:
    return ".".join(("faq", *map(str, path)))


def _present(loc: tuple[str | int, ...], data: Any) -> KeyPath:
    """The part of pydantic's location that exists in the file (validator names dropped); a missing key kept."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif index == len(loc) - 1 and isinstance(part, str) and not part.startswith("function-"):
            path.append(part)
    return tuple(path)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (an entry has `keywords` and `answer`; see docs/config.md)"
    if kind == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")
