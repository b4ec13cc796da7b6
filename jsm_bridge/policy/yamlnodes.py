"""YAML with line numbers: plain Python data plus, for every key path, where its key and value are written.

Duplicate keys are refused (naming both lines) and syntax errors carry their line and column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

#: a key path into the data: mapping keys as text, list indices as numbers
KeyPath = tuple[str | int, ...]


class YamlLoader(yaml.SafeLoader):
    """YAML 1.2 booleans only: `on`, `off`, `yes` and `no` stay strings (a rule's `on: created` is a key)."""


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Position:
    """Where a value is written (1-based line and column), and where its key is (the value's own for list items)."""

    line: int
    col: int
    key_line: int
    key_col: int
    block: bool = False  # a literal or folded block scalar (`|`, `>`): its text starts on the next line


@dataclass(frozen=True)
class YamlProblem:
    line: int
    col: int
    path: KeyPath
    message: str


class YamlError(ValueError):
    """The text is not YAML we can read; `problems` says where."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        super().__init__("; ".join(f"{p.line}:{p.col}: {p.message}" for p in problems))
        self.problems = problems


@dataclass
class YamlDocument:
    """The data of one YAML document and the position of every key path in it."""

    data: Any
    positions: dict[KeyPath, Position] = field(default_factory=dict)

    def locate(self, path: KeyPath) -> tuple[KeyPath, Position]:
        """The longest prefix of `path` written in the file, and its position (the document start at worst)."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(_normal(path[:end]))
            if found is not None:
                return path[:end], found
        return (), Position(1, 1, 1, 1)


def _normal(path: KeyPath) -> KeyPath:
    return tuple(p if isinstance(p, int) and not isinstance(p, bool) else str(p) for p in path)


def _at(mark: yaml.Mark | None) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def load_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; raises YamlError for syntax errors, duplicate keys and unreadable tags."""
    loader = YamlLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            line, col = _at(exc.problem_mark or exc.context_mark)
            problem = exc.problem or exc.context or "not valid YAML"
            raise YamlError([YamlProblem(line, col, (), f"YAML syntax: {problem}")]) from exc
        except yaml.YAMLError as exc:
            raise YamlError([YamlProblem(1, 1, (), f"YAML syntax: {exc}")]) from exc
        document = YamlDocument(data=None)
        if root is None:
            return document
        builder = _Builder(loader, document)
        line, col = _at(root.start_mark)
        document.positions[()] = Position(line, col, line, col)
        document.data = builder.build(root, ())
        if builder.problems:
            raise YamlError(builder.problems)
        return document
    finally:
        loader.dispose()


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Builder:
    """Turns the composed node tree into data, recording positions and refusing duplicate keys."""

    def __init__(self, loader: YamlLoader, document: YamlDocument) -> None:
        self.loader = loader
        self.document = document
        self.problems: list[YamlProblem] = []
        self.done: dict[int, Any] = {}  # aliased nodes are built once and shared, as PyYAML does
        self.building: set[int] = set()

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        if id(node) in self.done:
            return self.done[id(node)]
        if id(node) in self.building:
            line, col = _at(node.start_mark)
            self.problems.append(YamlProblem(line, col, path, "an alias refers to itself"))
            return None
        self.building.add(id(node))
        try:
            value = self._build(node, path)
        finally:
            self.building.discard(id(node))
        self.done[id(node)] = value
        return value

    def _build(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            line, col = _at(node.start_mark)
            self.problems.append(YamlProblem(line, col, path, f"unsupported tag {node.tag!r}"))
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            out = []
            for i, item in enumerate(node.value):
                self._record(path + (i,), item, item)
                out.append(self.build(item, path + (i,)))
            return out
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            line, col = _at(exc.problem_mark or node.start_mark)
            self.problems.append(YamlProblem(line, col, path, exc.problem or "a value that cannot be read"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            line, col = _at(key_node.start_mark)
            if key in seen:
                self.problems.append(
                    YamlProblem(
                        line, col, path + (str(key),), f"duplicate key {key!r} (first on line {seen[key]})"
                    )
                )
            else:
                seen[key] = line
        try:
            self.loader.flatten_mapping(node)  # resolves `<<: *defaults` merge keys
        except yaml.MarkedYAMLError as exc:
            line, col = _at(exc.problem_mark or node.start_mark)
            self.problems.append(YamlProblem(line, col, path, exc.problem or "invalid merge key"))
            return {}
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path, report=False)
            if key is None:
                continue
            sub = path + (str(key),)
            self._record(sub, key_node, value_node)
            out[key] = self.build(value_node, sub)
        return out

    def _key(self, node: yaml.Node, path: KeyPath, report: bool = True) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            if report:
                line, col = _at(node.start_mark)
                self.problems.append(YamlProblem(line, col, path, "a key must be a plain value, not a list"))
            return None
        return self._scalar(node, path)

    def _record(self, path: KeyPath, key_node: yaml.Node, value_node: yaml.Node) -> None:
        if path in self.document.positions:
            return
        line, col = _at(value_node.start_mark)
        key_line, key_col = _at(key_node.start_mark)
        block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
        self.document.positions[path] = Position(line, col, key_line, key_col, block)
