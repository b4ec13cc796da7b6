"""Loading a policy file: YAML, then the schema, then the checks that references resolve.

Every problem becomes a PolicyError entry naming file, line, column and key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jsm_bridge.calendar import BusinessCalendar, calendar_from_config
from jsm_bridge.policy.model import Policy
from jsm_bridge.policy.schema import PolicySpec, TemplateFile
from jsm_bridge.policy.templates import TemplateSet


class PolicyError(ValueError):
    """One or more problems in a policy file; `problems` holds (file, line, col, key path, message)."""

    def __init__(self, problems: list[tuple[str, int, int, str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{f}:{line}:{col}: {key}: {msg}" for f, line, col, key, msg in problems))


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans only: `on`, `off`, `yes` and `no` stay strings (a rule's `on: created` is a key)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_policy(path: str | Path) -> Policy:
    """Load and validate one policy file."""
    path = Path(path)
    data: Any = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    spec = PolicySpec.model_validate(data)
    calendars: dict[str, BusinessCalendar] = {
        name: calendar_from_config(name, config) for name, config in spec.calendars.items()
    }
    sources: dict[str, str] = {}
    for name, template in spec.templates.items():
        if isinstance(template, TemplateFile):
            sources[name] = (path.parent / template.file).read_text(encoding="utf-8")
        else:
            sources[name] = template
    return Policy(spec=spec, calendars=calendars, templates=TemplateSet(sources), path=path)
