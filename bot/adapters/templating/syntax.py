"""What a template's syntax tree says, for `socialbot check`: where it outputs given names."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import jinja2
from jinja2 import nodes


@dataclass(frozen=True)
class NameUse:
    name: str
    line: int


def output_uses(env: jinja2.Environment, source: str, names: Collection[str]) -> list[NameUse] | None:
    """Where `source` uses one of `names` other than as a function's own argument (recommend(user) is fine,
    `{{ user }}` or `{{ user ~ "!" }}` is not); None when it does not parse (rendering reports that, with its
    line)."""
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return None
    return [NameUse(node.name, node.lineno) for node in _uses(tree, names)]


def _uses(node: nodes.Node, names: Collection[str]) -> list[nodes.Name]:
    if isinstance(node, nodes.Name):
        return [node] if node.ctx == "load" and node.name in names else []
    children = list(node.iter_child_nodes())
    if isinstance(node, nodes.Call):
        direct = [*node.args, *(k.value for k in node.kwargs)]
        children = [node.node, *(a for a in direct if not isinstance(a, nodes.Name))]
        children += [c for c in (node.dyn_args, node.dyn_kwargs) if c is not None]
    found: list[nodes.Name] = []
    for child in children:
        found += _uses(child, names)
    return found
