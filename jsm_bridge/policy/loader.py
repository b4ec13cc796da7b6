"""Loading policy files in layers: YAML with line numbers, then the schema, then the semantic checks.

Every problem becomes a PolicyError entry naming file, line, column and key path; all are collected."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from jsm_bridge.policy.checks import check_policy
from jsm_bridge.policy.model import Policy
from jsm_bridge.policy.schema import PolicySpec
from jsm_bridge.policy.templates import TemplateSet
from jsm_bridge.policy.yamlnodes import KeyPath, YamlDocument, YamlError, load_yaml

#: the environment variable naming policy files and folders, `:`-separated
POLICIES_ENV = "JSM_BRIDGE_POLICIES"
POLICY_SUFFIXES = (".yaml", ".yml")


class Problem(NamedTuple):
    """One problem in a policy file. `path` is the dotted key path (`escalate.1.to`), empty for the whole file."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path or '(file)'}: {self.message}"


class PolicyError(ValueError):
    """One or more problems in policy files; `problems` holds (file, line, col, key path, message) tuples."""

    def __init__(self, problems: Sequence[tuple[str, int, int, str, str]]) -> None:
        self.problems: list[Problem] = [Problem(*p) for p in problems]
        super().__init__("\n".join(str(p) for p in self.problems))


def dotted(path: KeyPath) -> str:
    """`('escalate', 1, 'to')` -> `escalate.1.to`."""
    return ".".join(str(p) for p in path)


def load_policy(path: str | Path) -> Policy:
    """Load and validate one policy file; raises PolicyError listing every problem found."""
    policy, _document = _load(Path(path))
    return policy


def load_policies(spec: str | Sequence[str | Path]) -> list[Policy]:
    """Load files and folders (every *.yaml and *.yml in a folder, sorted); a string is `:`-separated,
    as in JSM_BRIDGE_POLICIES. Raises PolicyError with the problems of all files together."""
    policies, problems = collect_policies(spec)
    if problems:
        raise PolicyError(problems)
    return policies


def collect_policies(spec: str | Sequence[str | Path]) -> tuple[list[Policy], list[Problem]]:
    """Like load_policies, but returns the valid policies and the problems instead of raising."""
    policies: list[Policy] = []
    problems: list[Problem] = []
    first: dict[str, Path] = {}
    for file in _expand(spec, problems):
        try:
            policy, document = _load(file)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        if policy.name in first:
            line, col = _value_at(document, ("policy",))
            problems.append(
                Problem(
                    str(file),
                    line,
                    col,
                    "policy",
                    f"policy id {policy.name!r} is already used by {first[policy.name]}",
                )
            )
            continue
        first[policy.name] = file
        policies.append(policy)
    return policies, problems


def policy_files(spec: str | Sequence[str | Path]) -> list[Path]:
    """The files a policy list names: files as given, folders as their *.yaml and *.yml files, sorted."""
    return _expand(spec, [])


def _expand(spec: str | Sequence[str | Path], problems: list[Problem]) -> list[Path]:
    entries = spec.split(":") if isinstance(spec, str) else [str(s) for s in spec]
    files: list[Path] = []
    for entry in entries:
        if not entry.strip():
            continue
        path = Path(entry.strip())
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file())
            if not found:
                problems.append(
                    Problem(str(path), 1, 1, "", "no policy files (*.yaml, *.yml) in this folder")
                )
            files.extend(found)
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def _load(path: Path) -> tuple[Policy, YamlDocument]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([Problem(file, 1, 1, "", "no such file")]) from None
    except IsADirectoryError:
        raise PolicyError([Problem(file, 1, 1, "", "is a folder, not a policy file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(file, 1, 1, "", f"cannot be read: {exc}")]) from None
    try:
        document = load_yaml(text)
    except YamlError as exc:
        raise PolicyError(
            [Problem(file, p.line, p.col, dotted(p.path), p.message) for p in exc.problems]
        ) from None
    if not isinstance(document.data, dict):
        what = "empty" if document.data is None else f"a {_kind(document.data)}"
        raise PolicyError(
            [
                Problem(
                    file,
                    1,
                    1,
                    "",
                    f"a policy file is a mapping of sections (policy, scope, priorities, ...); this one is {what}",
                )
            ]
        )
    try:
        spec = PolicySpec.model_validate(document.data)
    except ValidationError as exc:
        raise PolicyError(schema_problems(file, exc, document)) from None
    result = check_policy(spec, path.parent)
    if result.problems:
        problems: list[Problem] = []
        for check in result.problems:
            located, position = document.locate(check.path)
            line, col = (
                (position.key_line, position.key_col) if check.on_key else (position.line, position.col)
            )
            if check.inner_line is not None and position.block and located == check.path:
                line, col = _block_line(text, position.line + check.inner_line)
            problems.append(Problem(file, line, col, dotted(located), check.message))
        problems.sort(key=lambda p: (p.line, p.col))
        raise PolicyError(problems)
    policy = Policy(spec=spec, calendars=result.calendars, templates=TemplateSet(result.templates), path=path)
    return policy, document


def _block_line(text: str, line: int) -> tuple[int, int]:
    """A line inside a block scalar (`|`), and the column where its text starts."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return line, 1
    content = lines[line - 1]
    return line, len(content) - len(content.lstrip()) + 1


def _value_at(document: YamlDocument, path: KeyPath) -> tuple[int, int]:
    _located, position = document.locate(path)
    return position.line, position.col


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false value"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"a {_kind(value)}"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- schema errors -----------------------------------------------------------------------------------


def schema_problems(file: str, error: ValidationError, document: YamlDocument) -> list[Problem]:
    """Pydantic's errors as problems a Jira admin can act on, each at the line of the value it is about."""
    problems: list[Problem] = []
    unions: dict[KeyPath, list[dict[str, Any]]] = {}
    for details in error.errors(include_url=False):
        err: dict[str, Any] = dict(details)
        path, branch_at = _data_path(tuple(err["loc"]), document.data, err["type"])
        if branch_at is not None:
            unions.setdefault(path[:branch_at], []).append(err)
        else:
            problems.append(_problem(file, path, err, document))
    for base, errors in unions.items():
        problems.extend(_union_problems(file, base, errors, document))
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.line, p.col, p.path))


def _data_path(loc: tuple[Any, ...], data: Any, error_type: str) -> tuple[KeyPath, int | None]:
    """The key path into the YAML data for a pydantic `loc`: aliases as written, union member tags dropped.

    Also returns, for an error inside a union, how much of the path leads to the union's value."""
    path: list[str | int] = []
    current = data
    branch: int | None = None
    for i, element in enumerate(loc):
        last = i == len(loc) - 1
        if element == "[key]":
            continue
        if isinstance(current, dict):
            key = _key_in(current, element)
            if key is not None:
                path.append(str(key))
                current = current[key]
                continue
            if last and error_type in ("missing", "extra_forbidden"):
                path.append(str(element))
                continue
        elif isinstance(current, list) and isinstance(element, int) and 0 <= element < len(current):
            path.append(element)
            current = current[element]
            continue
        if isinstance(element, str) and branch is None:
            branch = len(path)  # a union member's name, such as `str` or `TemplateFile`
            continue
        path.append(element)
    return tuple(path), branch


_ALIASES = {"from_": "from", "validate_": "validate", "from": "from_", "validate": "validate_"}


def _key_in(mapping: dict[Any, Any], element: Any) -> Any:
    for candidate in (element, _ALIASES.get(str(element))):
        if candidate is None:
            continue
        for key in mapping:
            if key == candidate or str(key) == str(candidate):
                return key
    return None


def _problem(file: str, path: KeyPath, err: dict[str, Any], document: YamlDocument) -> Problem:
    kind = err["type"]
    loc = tuple(err["loc"])
    if kind == "missing":
        _located, position = document.locate(path[:-1])
        return Problem(
            file, position.line, position.col, dotted(path), f"missing required key {str(path[-1])!r}"
        )
    if kind == "extra_forbidden":
        _located, position = document.locate(path)
        return Problem(file, position.key_line, position.key_col, dotted(path), _unknown_key(loc, path))
    extra: KeyPath = ()
    cause = (err.get("ctx") or {}).get("error")
    inner = getattr(cause, "path", None)
    if isinstance(cause, ValueError) and isinstance(inner, tuple):
        extra = inner
    located, position = document.locate(path + extra)
    on_key = "[key]" in loc or (getattr(cause, "on_key", False) and located == path + extra)
    line, col = (position.key_line, position.key_col) if on_key else (position.line, position.col)
    return Problem(file, line, col, dotted(located), _message(err, path))


def _unknown_key(loc: tuple[Any, ...], path: KeyPath) -> str:
    key = str(path[-1])
    model = _model_at(loc[:-1])
    if model is None:
        return f"unknown key {key!r}"
    allowed = _allowed_keys(model)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r}; allowed here: {', '.join(allowed)}"


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model that validates the mapping at `loc` (following fields, lists, dicts, union tags)."""
    current: list[Any] = [PolicySpec]
    for element in loc:
        following: list[Any] = []
        for member in (m for c in current for m in _members(c)):
            if isinstance(member, type) and issubclass(member, BaseModel):
                if element == member.__name__:
                    following.append(member)
                for name, info in member.model_fields.items():
                    if element in (name, info.alias):
                        following.append(info.annotation)
            elif get_origin(member) is list and isinstance(element, int):
                following.append(get_args(member)[0])
            elif get_origin(member) is dict:
                following.append(get_args(member)[1])
        current = following
    models = [m for c in current for m in _members(c) if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if models else None


def _message(err: dict[str, Any], path: KeyPath) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = _show(err.get("input"))
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        text = getattr(cause, "message", None) or str(cause or err["msg"])
        return str(text).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        if path and path[-1] == "policy":
            return f"a policy id is lower-case letters, digits and dashes, such as capital-bytes; got {got}"
        return f"an id is letters, digits, '_', '.' and '-', starting with a letter or digit; got {got}"
    simple = {
        "string_type": "expected text",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "int_type": "expected a whole number",
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "list_type": "expected a list",
        "dict_type": "expected a mapping (key: value)",
    }
    if kind in simple:
        return f"{simple[kind]}; got {got}"
    if kind in ("model_type", "model_attributes_type"):
        model = _model_at(tuple(err["loc"]))
        keys = f" with keys such as {', '.join(_allowed_keys(model)[:4])}" if model is not None else ""
        return f"expected a mapping{keys}; got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}; got {got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than"}
        bound = next(iter(ctx.values()), "")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {words.get(kind, 'at most')} {bound}; got {got}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters; got {got}"
    return f"{err['msg']}; got {got}"


_TYPE_WORDS = {
    "string_type": "text",
    "dict_type": "a mapping",
    "list_type": "a list",
    "bool_type": "true or false",
}


def _union_problems(
    file: str, base: KeyPath, errors: list[dict[str, Any]], document: YamlDocument
) -> list[Problem]:
    """Errors from the members of a union (`text` or `{file: x.j2}`): report the member the value was
    meant to be; when it matches none by shape, say what each member expects."""
    shallow = {"string_type", "dict_type", "list_type", "bool_type", "model_type", "model_attributes_type"}
    deep = [e for e in errors if e["type"] not in shallow]
    if deep:
        out = []
        for err in deep:
            path, _branch = _data_path(tuple(err["loc"]), document.data, err["type"])
            out.append(_problem(file, path, err, document))
        return out
    expected = []
    for err in errors:
        if err["type"] in ("model_type", "model_attributes_type"):
            model = _model_at(tuple(err["loc"]))
            keys = ", ".join(f"{k}: ..." for k in _allowed_keys(model)) if model is not None else "..."
            expected.append(f"{{{keys}}}")
        else:
            expected.append(_TYPE_WORDS.get(err["type"], err["type"]))
    located, position = document.locate(base)
    got = _show(errors[0].get("input"))
    return [
        Problem(
            file, position.line, position.col, dotted(located), f"expected {' or '.join(expected)}; got {got}"
        )
    ]
