"""YAML loading that remembers where every key and value is (1-based line numbers).

PyYAML's ``safe_load`` forgets positions; here the document is composed once into a node tree, the
line of every key path is recorded, and the same tree is constructed into plain Python data.

Aliases are bounded while composing: a document whose aliases would expand beyond MAX_EXPANDED_NODES nodes
(a "billion laughs" file), uses more than MAX_ALIASES aliases, refers to a node from inside itself, or nests
deeper than MAX_DEPTH is refused with the line of the offending alias, before anything is expanded.

A value YAML reads as a date (`2026-11-01`, `2026-11-01 10:00:00`) that names no real day or time (`2026-02-30`,
month 13, hour 25) does not stop the loading: it stays the text it was and is listed in `LineMap.bad_values` with
its key path, line and the reason (bot.settings.dates), so every such value anywhere in the file becomes a config
problem at its line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.settings.dates import date_problem

logger = logging.getLogger(__name__)

KeyPath = tuple[str | int, ...]

MAX_ALIASES = 1_000
MAX_EXPANDED_NODES = 100_000
MAX_DEPTH = 100


class YamlSyntaxError(Exception):
    """Malformed YAML, with the 1-based line of the problem."""

    def __init__(self, message: str, line: int | None) -> None:
        self.message = message
        self.line = line
        super().__init__(message if line is None else f"line {line}: {message}")


@dataclass
class LineMap:
    """Key path -> line. `keys` holds the line of a mapping key, `values` the line where its value starts."""

    keys: dict[KeyPath, int] = field(default_factory=dict)
    values: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int]] = field(default_factory=list)
    bad_values: list[tuple[KeyPath, int, str]] = field(default_factory=list)  # (path, line, why): no such date

    def line_of(self, path: KeyPath, *, prefer_key: bool = False) -> int | None:
        """Best line for `path`; walks up to the nearest known ancestor when the exact path is unknown."""
        probe = tuple(path)
        while True:
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            if probe in first:
                return first[probe]
            if probe in second:
                return second[probe]
            if not probe:
                return None
            probe = probe[:-1]


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts what aliases would expand to and refuses documents that blow up."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for once every alias is expanded
        self._aliases = 0
        self._expanded = 0
        self._depth = 0
        self.bad_dates: list[tuple[yaml.Node, str]] = []  # timestamps naming no real day or time, and why

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        """A date or date and time; one that does not exist stays its text and is remembered in `bad_dates`."""
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            text = str(node.value)
            self.bad_dates.append((node, date_problem(text) or f"{text} is not a valid date or time ({exc})"))
            return text

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node: yaml.Node = super().compose_node(parent, index)
            line = event.start_mark.line + 1
            size = self._sizes.get(id(node))
            if size is None:
                raise YamlSyntaxError(f"alias *{event.anchor} refers to the node that contains it", line)
            self._aliases += 1
            self._expanded += size
            if self._aliases > MAX_ALIASES:
                raise YamlSyntaxError(f"more than {MAX_ALIASES:,} aliases (*name); write the values out", line)
            if self._expanded > MAX_EXPANDED_NODES:
                raise YamlSyntaxError(
                    f"alias *{event.anchor} makes the document expand to more than {MAX_EXPANDED_NODES:,} values "
                    "(nested aliases multiply); write the values out",
                    line,
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            line = self.peek_event().start_mark.line + 1
            raise YamlSyntaxError(f"nested more than {MAX_DEPTH} levels deep", line)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return node


_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _BoundedLoader.construct_yaml_timestamp)


def _record(node: yaml.Node, path: KeyPath, lines: LineMap, paths: dict[int, KeyPath]) -> None:
    lines.values[path] = node.start_mark.line + 1
    paths.setdefault(id(node), path)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: str | int = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, str(key))
            if child in lines.keys:
                lines.duplicates.append((child, key_node.start_mark.line + 1))
            lines.keys[child] = key_node.start_mark.line + 1
            paths.setdefault(id(key_node), child)
            _record(value_node, child, lines, paths)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.keys[child] = item.start_mark.line + 1
            _record(item, child, lines, paths)


def load_with_lines(text: str) -> tuple[Any, LineMap]:
    """Parse YAML text; return (data, line map). Raise YamlSyntaxError with the line on malformed input."""
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader checks the characters here
        node = loader.get_single_node()
        lines = LineMap()
        if node is None:
            return None, lines
        paths: dict[int, KeyPath] = {}
        _record(node, (), lines, paths)
        data = loader.construct_document(node)
        for bad, why in loader.bad_dates:
            lines.bad_values.append((paths.get(id(bad), ()), bad.start_mark.line + 1, why))
    except yaml.MarkedYAMLError as exc:
        problem_line = None if exc.problem_mark is None else exc.problem_mark.line + 1
        context_line = None if exc.context_mark is None else exc.context_mark.line + 1
        at_end = bool(exc.problem and ("<stream end>" in exc.problem or "end of stream" in exc.problem))
        scanning = bool(exc.context and exc.context.startswith("while scanning")) or at_end
        line = context_line if scanning and context_line is not None else (problem_line or context_line)
        context = f"{exc.context} (line {context_line})" if exc.context and context_line else exc.context
        message = " ".join(part for part in (context, exc.problem) if part) or str(exc)
        raise YamlSyntaxError(f"malformed YAML: {message}", line) from exc
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        line = text.count("\n", 0, exc.position) + 1
        raise YamlSyntaxError(f"malformed YAML: character {exc.character!r} is not allowed in YAML", line) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"malformed YAML: {exc}", None) from exc
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines
