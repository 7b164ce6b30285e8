"""YAML loading that remembers where every key and value is (1-based line numbers).

PyYAML's ``safe_load`` forgets positions; here the document is composed once into a node tree, the
line of every key path is recorded, and the same tree is constructed into plain Python data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import yaml

logger = logging.getLogger(__name__)

KeyPath = tuple[str | int, ...]


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


def _record(node: yaml.Node, path: KeyPath, lines: LineMap) -> None:
    lines.values[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: str | int = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, str(key))
            if child in lines.keys:
                lines.duplicates.append((child, key_node.start_mark.line + 1))
            lines.keys[child] = key_node.start_mark.line + 1
            _record(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.keys[child] = item.start_mark.line + 1
            _record(item, child, lines)


def load_with_lines(text: str) -> tuple[Any, LineMap]:
    """Parse YAML text; return (data, line map). Raise YamlSyntaxError with the line on malformed input."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = LineMap()
        if node is None:
            return None, lines
        _record(node, (), lines)
        loader = yaml.SafeLoader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
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
    return data, lines
