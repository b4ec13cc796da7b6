"""Semantic checks of a schema-valid policy: every name it uses resolves, every calendar and template builds.

Each problem names the key path of the offending value; the loader turns paths into lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from jsm_bridge.calendar import BusinessCalendar, CalendarError, always, calendar_from_config
from jsm_bridge.policy.conditions import Condition
from jsm_bridge.policy.durations import WALL_CLOCK, Duration, Limit
from jsm_bridge.policy.schema import EscalateRule, FieldFormat, NotifyRule, PolicySpec, TemplateFile
from jsm_bridge.policy.templates import (
    KNOWN_VARIABLES,
    builtin_templates,
    template_problems,
    template_variables,
    variables_for,
)
from jsm_bridge.policy.yamlnodes import KeyPath

#: fields of any section that name a template
TEMPLATE_KEYS = ("template", "remind_template", "close_template")
#: lists of rules whose ids must be unique within the list
RULE_LISTS = ("classify", "escalate", "notify", "flags")


class CheckProblem(NamedTuple):
    path: KeyPath
    message: str
    on_key: bool = False
    inner_line: int | None = None


@dataclass
class CheckResult:
    """Problems as (key path, message), and what was built on the way (for the loaded policy)."""

    problems: list[CheckProblem] = field(default_factory=list)
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)

    def add(self, path: KeyPath, message: str, on_key: bool = False, inner_line: int | None = None) -> None:
        """A problem with the value at `path`; `on_key` when the mapping key at `path` is the culprit;
        `inner_line` for a line within a multi-line value (a template)."""
        self.problems.append(CheckProblem(path, message, on_key, inner_line))


def walk(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every value in a spec with its key path as written in YAML (field aliases, list indices)."""
    yield path, value
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from walk(getattr(value, name), path + (info.alias or name,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, path + (str(key),))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from walk(item, path + (i,))


def check_policy(spec: PolicySpec, base_dir: Path | None = None) -> CheckResult:
    """Run every semantic check; `base_dir` is where `{file: ...}` templates are looked up."""
    result = CheckResult()
    _check_calendars(spec, result)
    _check_priorities(spec, result)
    _check_tiers(spec, result)
    _check_rule_ids(spec, result)
    _check_durations(spec, result)
    _check_clocks(spec, result)
    _check_formats(spec, result)
    _check_templates(spec, base_dir, result)
    return result


def _did_you_mean(word: str, choices: list[str]) -> str:
    import difflib

    for choice in choices:
        if choice.lower() == word.lower():
            return f" (did you mean {choice!r}?)"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(kind: str, name: str, known: list[str], where: str) -> str:
    if not known:
        return f"unknown {kind} {name!r}; none are defined"
    return f"unknown {kind} {name!r}{_did_you_mean(name, known)}; {where}: {', '.join(known)}"


def _check_calendars(spec: PolicySpec, result: CheckResult) -> None:
    for name, config in spec.calendars.items():
        try:
            result.calendars[name] = calendar_from_config(name, config)
        except CalendarError as exc:
            message = str(exc)
            if not message.startswith(f"calendar {name!r}"):
                message = f"calendar {name!r}: {message}"
            inner = getattr(exc, "path", ())  # where inside the calendar's config, when the calendar knows
            result.add(("calendars", name, *inner), message)
        except (TypeError, AttributeError, ValueError) as exc:
            # a section of the wrong shape (a list where a mapping belongs) fails before CalendarError can
            result.add(
                ("calendars", name), f"calendar {name!r} is not a calendar the loader can build: {exc}"
            )
    if WALL_CLOCK not in result.calendars:
        result.calendars[WALL_CLOCK] = always(WALL_CLOCK)


def _calendar_names(spec: PolicySpec) -> list[str]:
    return sorted(set(spec.calendars) | {WALL_CLOCK})


def _references(spec: PolicySpec) -> Iterator[tuple[str, str, KeyPath]]:
    """(kind, name, path) of every priority and tier the policy names, in conditions and in rules."""
    for path, value in walk(spec):
        if isinstance(value, Condition):
            for kind, name, sub in value.references():
                yield kind, name, path + sub
    yield from _priority_keys(spec)
    for i, rule in enumerate(spec.classify):
        yield "priority", rule.priority, ("classify", i, "priority")
    for i, flag in enumerate(spec.flags):
        if flag.priority is not None:
            yield "priority", flag.priority, ("flags", i, "priority")
        if flag.to is not None:
            yield "tier", flag.to, ("flags", i, "to")
    if spec.credits is not None:
        for i, name in enumerate(spec.credits.priorities):
            yield "priority", name, ("credits", "priorities", i)
    for i, escalation in enumerate(spec.escalate):
        yield "tier", escalation.to, ("escalate", i, "to")
        for j, name in enumerate(escalation.from_ or ()):
            yield "tier", name, ("escalate", i, "from", j)


def _priority_keys(spec: PolicySpec) -> Iterator[tuple[str, str, KeyPath]]:
    """Priorities used as keys: per-priority targets and update intervals (`default` is for the rest)."""
    for clock in ("first_response", "resolution"):
        for key in getattr(spec.targets, clock):
            if key != "default":
                yield "priority", key, ("targets", clock, key)
    if spec.updates is not None:
        for key in spec.updates.every:
            if key != "default":
                yield "priority", key, ("updates", "every", key)


def _check_priorities(spec: PolicySpec, result: CheckResult) -> None:
    known = list(spec.priorities)
    if not known:
        result.add(("priorities",), "a policy needs at least one priority, such as P1: {jira: Highest}")
    as_keys = set(_priority_keys(spec))
    for reference in _references(spec):
        kind, name, path = reference
        if kind == "priority" and name not in spec.priorities:
            hint = "" if reference not in as_keys else " (or `default` for all other priorities)"
            result.add(
                path, _unknown("priority", name, known, "priorities are") + hint, on_key=reference in as_keys
            )


def _check_tiers(spec: PolicySpec, result: CheckResult) -> None:
    names = [tier.name for tier in spec.tiers]
    known = list(dict.fromkeys(names))
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            result.add(("tiers", i, "name"), f"tier {name!r} is already defined (tiers.{first[name]})")
        first.setdefault(name, i)
    for kind, name, path in _references(spec):
        if kind == "tier" and name not in first:
            result.add(path, _unknown("tier", name, known, "tiers are"))
    for i, escalation in enumerate(spec.escalate):
        if escalation.from_ and escalation.to in escalation.from_:
            result.add(
                ("escalate", i, "to"), f"the rule moves tickets from {escalation.to!r} to the same tier"
            )


def _rule_lists(spec: PolicySpec) -> Iterator[tuple[KeyPath, list[Any]]]:
    for section in RULE_LISTS:
        yield (section,), getattr(spec, section)
    if spec.validate_ is not None:
        yield ("validate", "rules"), list(spec.validate_.rules)


def _check_rule_ids(spec: PolicySpec, result: CheckResult) -> None:
    for path, rules in _rule_lists(spec):
        first: dict[str, int] = {}
        shorthand = spec.validate_ is not None and bool(spec.validate_.required or spec.validate_.formats)
        if path == ("validate", "rules") and shorthand:
            first["required"] = -1  # the shorthand `required`/`formats` is a rule with this id
        for i, rule in enumerate(rules):
            if rule.id in first:
                where = (
                    "by validate.required"
                    if first[rule.id] < 0
                    else f"by {'.'.join(map(str, path))}.{first[rule.id]}"
                )
                result.add(path + (i, "id"), f"rule id {rule.id!r} is already used {where}")
            first.setdefault(rule.id, i)


def _check_durations(spec: PolicySpec, result: CheckResult) -> None:
    calendars = _calendar_names(spec)
    for path, value in walk(spec):
        parts: list[tuple[KeyPath, Duration]] = []
        if isinstance(value, Duration):
            parts = [(path, value)]
        elif isinstance(value, Limit):
            parts = [(path + (i,) if len(value.parts) > 1 else path, p) for i, p in enumerate(value.parts)]
        for where, duration in parts:
            if duration.calendar is not None and duration.calendar not in calendars:
                result.add(
                    where,
                    _unknown("calendar", duration.calendar, calendars, "calendars are")
                    + _define_always(duration.calendar),
                )
    if spec.credits is not None and spec.credits.hours not in calendars:
        result.add(
            ("credits", "hours"),
            _unknown("calendar", spec.credits.hours, calendars, "calendars are")
            + _define_always(spec.credits.hours),
        )
    if not spec.scope.jql.strip():
        result.add(("scope", "jql"), "the JQL query is empty; write one such as: project = CB")
    if spec.scope.sweep_every.is_zero:
        result.add(("scope", "sweep_every"), "the sweep interval must be longer than zero, such as 1m")
    if spec.stale is not None:
        for key in ("remind_after", "close_after"):
            duration = getattr(spec.stale, key)
            if duration is not None and duration.is_zero:
                result.add(("stale", key), f"`{key}` must be longer than zero, such as 3d")
        remind, close = spec.stale.remind_after, spec.stale.close_after
        if (
            remind is not None
            and remind.calendar is None
            and close.calendar is None
            and remind.exact >= close.exact
        ):
            result.add(
                ("stale", "remind_after"), f"the reminder ({remind}) must come before closing ({close})"
            )


def _define_always(name: str) -> str:
    if name == "always":
        return f" (define it, e.g. `always: 24x7` under calendars, or write @{WALL_CLOCK})"
    return ""


def _check_clocks(spec: PolicySpec, result: CheckResult) -> None:
    """A share of a target needs a target: `at: 50%` of a clock for which no goal is set can never fire."""
    rules: list[tuple[str, int, EscalateRule | NotifyRule]] = [
        ("escalate", i, rule) for i, rule in enumerate(spec.escalate)
    ] + [("notify", i, rule) for i, rule in enumerate(spec.notify)]
    for section, i, rule in rules:
        if isinstance(rule, EscalateRule):
            uses_target = rule.on == "breach" or rule.at is not None
        else:
            uses_target = any(not isinstance(a, Duration) for a in rule.at)
        if uses_target and rule.of is not None and not getattr(spec.targets, rule.of):
            result.add(
                (section, i, "of"),
                f"no {rule.of} targets are set, so a share or breach of them never comes; add targets.{rule.of}",
            )


def _check_formats(spec: PolicySpec, result: CheckResult) -> None:
    for path, value in walk(spec):
        if isinstance(value, FieldFormat) and value.regex is not None:
            try:
                re.compile(value.regex)
            except re.error as exc:
                result.add(path + ("regex",), f"invalid regular expression: {exc}")


def _check_templates(spec: PolicySpec, base_dir: Path | None, result: CheckResult) -> None:
    sources = builtin_templates()
    for name, template in spec.templates.items():
        if isinstance(template, TemplateFile):
            file = (base_dir or Path(".")) / template.file
            try:
                sources[name] = file.read_text(encoding="utf-8")
            except OSError as exc:
                reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
                result.add(("templates", name, "file"), f"template file {template.file!r}: {reason}")
                continue
        else:
            sources[name] = template
        for problem in template_problems(sources[name]):
            inline = not isinstance(template, TemplateFile)
            result.add(
                ("templates", name),
                f"template {name!r}: {problem}",
                inner_line=problem.line if inline else None,
            )
    result.templates = {name: sources[name] for name in spec.templates if name in sources}
    known = sorted(set(sources) | set(spec.templates))  # a template whose file is missing is reported once
    for path, value in walk(spec):
        if not isinstance(value, BaseModel):
            continue
        for key in TEMPLATE_KEYS:
            named = getattr(value, key, None)
            if not isinstance(named, str):
                continue
            if named not in known:
                result.add(path + (key,), _unknown("template", named, known, "templates are"))
            elif named in sources:
                _check_variables_provided(named, sources[named], path, key, result)


def _check_variables_provided(name: str, source: str, path: KeyPath, key: str, result: CheckResult) -> None:
    """A template may only read what the section using it provides: `problems` exists for `validate`
    comments, not for `acknowledge`. Variables no comment provides are reported with the template itself."""
    section = str(path[0])
    available = variables_for(section)
    missing = sorted((template_variables(source) & KNOWN_VARIABLES) - available)
    if missing:
        names = ", ".join(repr(m) for m in missing)
        result.add(
            path + (key,),
            f"template {name!r} uses {names}, which {section} comments do not provide; "
            f"they provide {', '.join(sorted(available))}",
        )
