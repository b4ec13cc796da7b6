"""Comment templates: Jinja2 rendered in a sandbox, from the policy, files beside it, or built-in defaults.

Undefined variables are errors, never empty strings, so a typo in a template cannot reach a customer."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import Any, NamedTuple

import jinja2
from jinja2 import meta, nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

from jsm_bridge.secrets import redact

# Variables every template may use, and the extra ones each kind of comment adds.
COMMON_VARIABLES = frozenset({"ticket", "policy", "rule", "clocks", "reason", "now"})
EXTRA_VARIABLES = frozenset(
    {"problems", "to", "mentions", "point", "clock", "clock_name", "close_at", "waited", "credit", "findings"}
)
KNOWN_VARIABLES = COMMON_VARIABLES | EXTRA_VARIABLES
#: what each clock (`clocks.resolution`, a notify or credit comment's `clock`) holds: `goal` in words for
#: customers (`4 working hours`), `goal_code` as the policy writes it (`4h@office`)
CLOCK_VARIABLES = frozenset(
    {"goal", "goal_code", "elapsed", "remaining", "breached", "breached_by", "breach_at"}
)
#: what each section's comments add to COMMON_VARIABLES; every comment also has `mentions` (who it mentions)
SECTION_VARIABLES: dict[str, frozenset[str]] = {
    "acknowledge": frozenset(),
    "classify": frozenset(),
    "validate": frozenset({"problems"}),
    "escalate": frozenset({"to"}),
    "notify": frozenset({"point", "clock", "clock_name"}),
    "updates": frozenset(),
    "stale": frozenset({"close_at", "waited"}),
    "feedback": frozenset(),
    "credits": frozenset({"credit", "clock"}),
    "flags": frozenset({"findings"}),
}


def variables_for(section: str) -> frozenset[str]:
    """The variables a comment posted by `section` (such as `notify`) is rendered with."""
    return COMMON_VARIABLES | {"mentions"} | SECTION_VARIABLES.get(section, EXTRA_VARIABLES)


def template_variables(source: str) -> frozenset[str]:
    """The variables a template reads from its context (empty when it does not compile)."""
    try:
        return frozenset(meta.find_undeclared_variables(make_environment().parse(source)))
    except jinja2.TemplateSyntaxError:
        return frozenset()


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; the message names the template."""


def format_when(value: Any) -> str:
    """An instant for people, in its own zone: `Tue 24 Nov 2026 09:00 GMT`."""
    if isinstance(value, datetime):
        return value.strftime("%a %d %b %Y %H:%M %Z").strip()
    return str(value)


def format_mention(person: Any) -> str:
    """A mention in wiki markup; the gateway turns it into Cloud's `[~accountid:...]` form where needed."""
    return f"[~{person}]"


#: a line holding only block tags (`{% endif %}`, `{% for x in y %}`), with its line break
_TAG_LINE = re.compile(r"^[ \t]*((?:\{%(?:[^%]|%(?!\}))*%\}[ \t]*)+)\n", re.MULTILINE)
_RAW = re.compile(r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.DOTALL)


def drop_tag_lines(source: str) -> str:
    """The template with each line that holds only block tags taking its line break with it, while a tag
    that ends a line of text keeps the break after it (Jinja's `trim_blocks` would eat that one too and
    run two sentences together). The break goes into a comment, so error line numbers stay right."""
    out, last = [], 0
    for raw in _RAW.finditer(source):
        out.append(_TAG_LINE.sub(_tags_only, source[last : raw.start()]))
        out.append(raw.group(0))
        last = raw.end()
    out.append(_TAG_LINE.sub(_tags_only, source[last:]))
    return "".join(out)


def _tags_only(match: re.Match[str]) -> str:
    return match.group(1).rstrip() + "{#\n#}"


class TagLines(Extension):
    """Applies `drop_tag_lines` to every template before it is parsed."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return drop_tag_lines(source)


def make_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=False,
        extensions=[TagLines],
    )
    env.filters["when"] = format_when
    env.filters["mention"] = format_mention
    env.filters["redact"] = redact
    return env


def builtin_templates() -> dict[str, str]:
    """The default templates shipped with jsm-bridge, by name."""
    folder = resources.files("jsm_bridge.policy") / "templates"
    return {
        entry.name.removesuffix(".j2"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".j2")
    }


class TemplateProblem(NamedTuple):
    """A problem found in a template's text, with its line within the template (1 for the first)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line} of the template: {self.message}"


def template_problems(source: str, known: frozenset[str] = KNOWN_VARIABLES) -> list[TemplateProblem]:
    """What is wrong with a template's text, checked before anything is rendered: syntax, unknown filters,
    variables no comment provides, and attributes starting with `_` (which the sandbox would refuse)."""
    environment = make_environment()
    try:
        tree = environment.parse(source)
        environment.compile(tree)  # unknown filters and tests are found when compiling
    except jinja2.TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno, exc.message or "invalid template")]
    problems = []
    for name in sorted(meta.find_undeclared_variables(tree) - known):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        line = min(n.lineno for n in tree.find_all(nodes.Name) if n.name == name)
        message = f"unknown variable {name!r}{hint}; templates may use {', '.join(sorted(known))}"
        problems.append(TemplateProblem(line, message))
    for read in tree.find_all(nodes.Getattr):
        if _is_clock(read.node) and read.attr not in CLOCK_VARIABLES:
            close = difflib.get_close_matches(read.attr, sorted(CLOCK_VARIABLES), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"a clock has no {read.attr!r}{hint}; a clock has {', '.join(sorted(CLOCK_VARIABLES))}"
            problems.append(TemplateProblem(read.lineno, message))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attribute = node.attr if isinstance(node, nodes.Getattr) else _constant(getattr(node, "arg", None))
        if isinstance(attribute, str) and attribute.startswith("_"):
            problems.append(
                TemplateProblem(node.lineno, f"attribute {attribute!r} is not available to templates")
            )
    return sorted(problems)


def _is_clock(node: nodes.Node) -> bool:
    """`clock` or `clocks.<name>`: the expressions whose attributes are a clock's keys."""
    if isinstance(node, nodes.Name):
        return node.name == "clock"
    return (
        isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name) and node.node.name == "clocks"
    )


def _constant(node: nodes.Node | None) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


class TemplateSet:
    """Named templates compiled once; policy templates override the built-in ones of the same name."""

    def __init__(self, sources: Mapping[str, str], include_builtins: bool = True) -> None:
        self.environment = make_environment()
        merged = dict(builtin_templates()) if include_builtins else {}
        merged.update(sources)
        self.sources = merged
        self._compiled: dict[str, jinja2.Template] = {}
        for name, source in merged.items():
            try:
                self._compiled[name] = self.environment.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template {name!r}, line {exc.lineno}: {exc.message}") from exc

    def __contains__(self, name: object) -> bool:
        return name in self._compiled

    def names(self) -> list[str]:
        return sorted(self._compiled)

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        template = self._compiled.get(name)
        if template is None:
            raise TemplateError(f"no template named {name!r}; known: {', '.join(self.names())}")
        try:
            return template.render(**context).strip()
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {name!r}: {exc.message}") from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"template {name!r} tried something unsafe: {exc}") from exc
