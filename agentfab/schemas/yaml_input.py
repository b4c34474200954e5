"""YAML from outside (recipes, declared domains, OpenAPI documents), read with a bound on what aliases expand to.

An alias (`*name`) repeats a whole subtree, so a few hundred bytes of anchors nested a few levels deep stand for
billions of nodes: every size limit checked after loading is too late (a 423-byte recipe once made a 351 MB error
message). The document's node graph is measured first, each shared node counted as often as it is used, and the
document is refused before anything is built from it when that exceeds the limits below.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_NODES = 1_000_000  # values, counting every repetition an alias makes
MAX_TEXT = 64 * 1024 * 1024  # characters of scalar text, likewise
MAX_DEPTH = 200


class YamlInputError(ValueError):
    """A YAML document that cannot be read, or that expands beyond the limits; the message says which and why."""


def _loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _measure(root: Node, source: str) -> None:
    """Refuse a node graph whose expansion is too large, too deep or recursive, without expanding it."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, characters) of its expansion
    active: set[int] = set()

    def size(node: Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlInputError(f"{source}: an alias refers to a node that contains it (a recursive document)")
        if depth > MAX_DEPTH:
            raise YamlInputError(f"{source}: nested more than {MAX_DEPTH} levels deep")
        active.add(key)
        nodes, text = 1, 0
        if isinstance(node, ScalarNode):
            text = len(node.value)
        elif isinstance(node, SequenceNode):
            children = node.value
            for child in children:
                n, t = size(child, depth + 1)
                nodes, text = nodes + n, text + t
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                for child in (k, v):
                    n, t = size(child, depth + 1)
                    nodes, text = nodes + n, text + t
        active.discard(key)
        if nodes > MAX_NODES or text > MAX_TEXT:
            mark = node.start_mark
            raise YamlInputError(f"{source}: aliases at line {mark.line + 1} expand to more than "
                                 f"{MAX_NODES:,} nodes or {MAX_TEXT // 2**20} MB of text; write the values out "
                                 "instead of repeating anchors")
        sizes[key] = (nodes, text)
        return sizes[key]

    size(root, 0)


def load_yaml(text: str | bytes, source: str) -> Any:
    """The document in `text`, as yaml.safe_load reads it, after `_measure` has bounded its expansion.

    `source` names the file in messages. Raises YamlInputError (one line) on bad YAML or a document too large.
    """
    loader = _loader()(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise YamlInputError(f"{source}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
        if node is None:
            return None
        _measure(node, source)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise YamlInputError(f"{source}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
        except RecursionError:
            raise YamlInputError(f"{source}: nested too deeply to read") from None
    finally:
        loader.dispose()
