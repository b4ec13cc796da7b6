"""Scenario replay with a fake clock: a scripted timeline of tickets and events, decided step by step.

The simulator jumps from event to event and to each decision's next_due, applies the actions it gets
to the simulated tickets, and prints the timeline (or the actions as JSON for other tools)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from jsm_bridge.actions import Action, apply_all
from jsm_bridge.engine import decide
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.policy.yamlnodes import YamlLoader
from jsm_bridge.ticket import ASSIGNEE, LABELS, PRIORITY, STATUS, TIER, Comment, Ticket

#: how many times decide() may be asked again at one instant before the policy is called unstable
MAX_ROUNDS_PER_INSTANT = 20
#: how many instants one ticket may visit (a guard against a policy that never settles)
MAX_STEPS = 20_000

_SNAPSHOT_FIELDS = {
    "summary",
    STATUS,
    PRIORITY,
    "reporter",
    ASSIGNEE,
    LABELS,
    TIER,
    "request_type",
    "request type",
}
_EVENT_KEYS = ("at", "comment", STATUS, PRIORITY, "fields", LABELS, ASSIGNEE, TIER)


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and the key."""

    def __init__(self, path: Path | str, where: str, message: str) -> None:
        self.path = str(path)
        self.where = where
        super().__init__(f"{path}: {where}: {message}" if where else f"{path}: {message}")


@dataclass(frozen=True)
class Event:
    """One scripted thing that happens to a ticket: a comment and/or field changes, at an instant."""

    at: datetime
    changes: tuple[tuple[str, Any], ...] = ()
    comment: Comment | None = None

    def apply(self, ticket: Ticket) -> Ticket:
        for name, value in self.changes:
            if name == LABELS:
                value = sorted(value or ())
            ticket = ticket.with_change(self.at, name, value, author="agent")
        if self.comment is not None:
            ticket = ticket.with_comment(self.comment)
        return ticket

    def describe(self) -> str:
        parts = [f"{name} -> {value}" for name, value in self.changes]
        if self.comment is not None:
            visibility = "public" if self.comment.public else "internal"
            who: str = self.comment.role
            if self.comment.author not in (who, ""):
                who += f" {self.comment.author}"
            parts.append(f"{who} comments ({visibility}): {_short(self.comment.body)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class ScenarioTicket:
    ticket: Ticket
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Scenario:
    path: Path
    policy: Policy
    until: datetime
    tickets: tuple[ScenarioTicket, ...]
    expect: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a scripted event or an action the policy took."""

    at: datetime
    ticket: str
    action: Action | None = None
    event: Event | None = None


@dataclass
class Result:
    scenario: Scenario
    entries: list[Entry] = field(default_factory=list)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    decisions: int = 0  # how many times decide() was called: instants visited, not minutes simulated

    @property
    def actions(self) -> list[Action]:
        return [e.action for e in self.entries if e.action is not None]


# ------------------------------------------------------------------------------------------------------
# loading
def load_scenario(path: str | Path, policies: dict[Path, Policy] | None = None) -> Scenario:
    """Read and check a scenario file; errors name the file and the key (`tickets[0].events[2].at`).

    `policies`, when given, is a cache of loaded policies by resolved path, shared by many scenarios."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YamlLoader)  # noqa: S506
    except OSError as exc:
        raise ScenarioError(path, "", f"cannot read the scenario: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(path, "", f"not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ScenarioError(path, "", "a scenario is a mapping with policy, until and tickets")
    _only(path, "", data, ("policy", "until", "tickets", "expect", "description"))
    policy_ref = data.get("policy")
    if not isinstance(policy_ref, str):
        raise ScenarioError(path, "policy", "name the policy file, relative to the scenario or absolute")
    policy_path = Path(policy_ref) if Path(policy_ref).is_absolute() else path.parent / policy_ref
    if not policy_path.exists():
        raise ScenarioError(path, "policy", f"no policy file at {policy_path}")
    cached = policies.get(policy_path.resolve()) if policies is not None else None
    try:
        policy = cached or load_policy(policy_path)
    except Exception as exc:  # the policy's own errors already name its file and line
        raise ScenarioError(path, "policy", f"the policy does not load: {exc}") from exc
    if policies is not None:
        policies[policy_path.resolve()] = policy
    until = _instant(path, "until", data.get("until"))
    tickets_data = data.get("tickets")
    if not isinstance(tickets_data, list) or not tickets_data:
        raise ScenarioError(path, "tickets", "list at least one ticket")
    tickets = tuple(_ticket(path, f"tickets[{i}]", item, policy) for i, item in enumerate(tickets_data))
    keys = [t.ticket.key for t in tickets]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise ScenarioError(path, f"tickets[{i}].key", f"ticket {key} is listed twice")
    expect = data.get("expect")
    if expect is not None and not isinstance(expect, list):
        raise ScenarioError(path, "expect", "a list of {at, key, action, rule, params}")
    return Scenario(path=path, policy=policy, until=until, tickets=tickets, expect=expect)


def _only(path: Path, where: str, data: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for key in data:
        if key not in allowed:
            at = f"{where}.{key}" if where else str(key)
            raise ScenarioError(path, at, f"unknown key; allowed: {', '.join(allowed)}")


def _instant(path: Path, where: str, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ScenarioError(path, where, f"{value!r} is not an ISO 8601 instant") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ScenarioError(path, where, "give a time and an offset, such as 2026-11-23T09:00:00+00:00")
    if not isinstance(value, datetime):
        raise ScenarioError(path, where, "expected an instant such as 2026-11-23T09:00:00+00:00")
    if value.tzinfo is None:
        raise ScenarioError(path, where, "the instant needs an offset, such as +00:00")
    return value


def _ticket(path: Path, where: str, data: Any, policy: Policy) -> ScenarioTicket:
    if not isinstance(data, Mapping):
        raise ScenarioError(path, where, "a ticket is a mapping with key, created, fields and events")
    _only(path, where, data, ("key", "created", "fields", "events", "done"))
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise ScenarioError(path, f"{where}.key", "give the ticket's key, such as CB-1")
    created = _instant(path, f"{where}.created", data.get("created"))
    fields = dict(data.get("fields") or {})
    priority = fields.pop(PRIORITY, None)
    if priority is not None and str(priority) not in policy.spec.priorities:
        raise ScenarioError(
            path,
            f"{where}.fields.priority",
            f"unknown priority {priority!r}; the policy has {', '.join(policy.priorities)}",
        )
    labels = fields.pop(LABELS, None) or []
    if not isinstance(labels, list):
        raise ScenarioError(path, f"{where}.fields.labels", "a list of labels")
    ticket = Ticket(
        key=key,
        created=created,
        status=str(fields.pop(STATUS, "Open")),
        priority=str(priority) if priority is not None else None,
        reporter=_opt_str(fields.pop("reporter", "customer")),
        assignee=_opt_str(fields.pop(ASSIGNEE, None)),
        tier=_opt_str(fields.pop(TIER, None)),
        labels=frozenset(str(label) for label in labels),
        request_type=_opt_str(fields.pop("request_type", None)),
        fields=fields,
        done=frozenset(str(k) for k in data.get("done") or ()),
    )
    events_data = data.get("events") or []
    if not isinstance(events_data, list):
        raise ScenarioError(path, f"{where}.events", "a list of events in time order")
    events: list[Event] = []
    for i, item in enumerate(events_data):
        event = _event(path, f"{where}.events[{i}]", item, ticket, policy)
        if event.at < created:
            raise ScenarioError(path, f"{where}.events[{i}].at", "the event is before the ticket was created")
        if events and event.at < events[-1].at:
            raise ScenarioError(path, f"{where}.events[{i}].at", "events must be in time order")
        events.append(event)
    return ScenarioTicket(ticket=ticket, events=tuple(events))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _event(path: Path, where: str, data: Any, ticket: Ticket, policy: Policy) -> Event:
    if not isinstance(data, Mapping):
        raise ScenarioError(path, where, "an event is a mapping with `at` and what happens")
    _only(path, where, data, _EVENT_KEYS)
    at = _instant(path, f"{where}.at", data.get("at"))
    changes: list[tuple[str, Any]] = []
    for name in (STATUS, PRIORITY, ASSIGNEE, TIER, LABELS):
        if name in data:
            value = data[name]
            if name == PRIORITY and str(value) not in policy.spec.priorities:
                raise ScenarioError(
                    path,
                    f"{where}.priority",
                    f"unknown priority {value!r}; the policy has {', '.join(policy.priorities)}",
                )
            changes.append((name, value if name == LABELS else (None if value is None else str(value))))
    fields = data.get("fields") or {}
    if not isinstance(fields, Mapping):
        raise ScenarioError(path, f"{where}.fields", "a mapping of field names to values")
    for name, value in fields.items():
        if name == PRIORITY and str(value) not in policy.spec.priorities:
            raise ScenarioError(path, f"{where}.fields.priority", f"unknown priority {value!r}")
        changes.append((str(name), value))
    comment = None
    if "comment" in data:
        comment = _comment(path, f"{where}.comment", data["comment"], at, ticket)
    if not changes and comment is None:
        raise ScenarioError(
            path, where, "the event changes nothing: add a comment, status, priority or fields"
        )
    return Event(at=at, changes=tuple(changes), comment=comment)


def _comment(path: Path, where: str, data: Any, at: datetime, ticket: Ticket) -> Comment:
    if not isinstance(data, Mapping):
        raise ScenarioError(path, where, "a comment is a mapping with author, public and body")
    _only(path, where, data, ("author", "public", "body"))
    author = str(data.get("author", "customer"))
    is_customer = author == "customer" or (ticket.reporter is not None and author == ticket.reporter)
    public = data.get("public", True)
    if not isinstance(public, bool):
        raise ScenarioError(path, f"{where}.public", "true or false")
    return Comment(
        at=at,
        author=(ticket.reporter or author) if author == "customer" else author,
        role="customer" if is_customer else "agent",
        public=public,
        body=str(data.get("body", "")),
    )


# ------------------------------------------------------------------------------------------------------
# running
def simulate(scenario: Scenario) -> Result:
    """Replay every ticket up to `until`; the entries are in time order (tickets in file order at ties)."""
    result = Result(scenario)
    per_ticket = []
    for item in scenario.tickets:
        entries, final, decisions = _run_ticket(item, scenario.policy, scenario.until)
        result.decisions += decisions
        per_ticket.append(entries)
        result.tickets[item.ticket.key] = final
    order = {item.ticket.key: i for i, item in enumerate(scenario.tickets)}
    merged = [entry for entries in per_ticket for entry in entries]
    merged.sort(key=lambda e: (e.at, order[e.ticket]))  # stable: keeps each ticket's own order at ties
    result.entries = merged
    return result


def _run_ticket(item: ScenarioTicket, policy: Policy, until: datetime) -> tuple[list[Entry], Ticket, int]:
    ticket = item.ticket
    events = list(item.events)
    entries: list[Entry] = []
    now = ticket.created
    decisions = 0
    for _ in range(MAX_STEPS):
        while events and events[0].at <= now:
            event = events.pop(0)
            ticket = event.apply(ticket)
            entries.append(Entry(at=event.at, ticket=ticket.key, event=event))
        next_due = None
        for _round in range(MAX_ROUNDS_PER_INSTANT):
            decision = decide(ticket, policy, now)
            decisions += 1
            new = [a for a in decision.actions if a.key not in ticket.done]
            next_due = decision.next_due
            if not new:
                break
            ticket = apply_all(ticket, new, now)
            entries.extend(Entry(at=now, ticket=ticket.key, action=a) for a in new)
        else:
            raise RuntimeError(
                f"{ticket.key}: the policy keeps proposing new actions at {now.isoformat()}; "
                "check for rules that undo each other"
            )
        candidates = [t for t in (events[0].at if events else None, next_due) if t is not None and t > now]
        if not candidates or min(candidates) > until:
            return entries, ticket, decisions
        now = min(candidates)
    raise RuntimeError(f"{ticket.key}: more than {MAX_STEPS} steps before {until.isoformat()}")


def run_scenario(path: str | Path) -> list[Action]:
    """The actions a scenario file produces, in time order (the API tests and the demo use)."""
    return simulate(load_scenario(path)).actions


def action_json(action: Action) -> dict[str, Any]:
    """One action in the `simulate --json` shape."""
    return action.to_dict()


# ------------------------------------------------------------------------------------------------------
# expectations (the table-driven scenario tests)
EXPECT_KEYS = ("at", "key", "action", "rule", "params")


def expectation(action: Action, with_bodies: bool = False) -> dict[str, Any]:
    """An action as an `expect:` entry; comment bodies are left out unless asked for (they are long)."""
    data = action.to_dict()
    params = dict(data["params"])
    if not with_bodies:
        params.pop("body", None)
        params.pop("effects", None)
    return {
        "at": data["at"],
        "key": data["key"],
        "action": data["action"],
        "rule": data["rule"],
        "params": params,
    }


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _subset(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return bool(expected == actual)


def _same_instant(expected: Any, actual: str) -> bool:
    try:
        when = expected if isinstance(expected, datetime) else datetime.fromisoformat(str(expected))
        return when == datetime.fromisoformat(actual)
    except ValueError:
        return False


def _matches(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    return (
        _same_instant(expected.get("at"), actual["at"])
        and all(expected.get(k) == actual[k] for k in ("key", "action", "rule"))
        and _subset(expected.get("params") or {}, actual["params"])
    )


def _line(entry: Mapping[str, Any]) -> str:
    at = entry.get("at")
    at_text = at.isoformat() if isinstance(at, datetime) else str(at)
    params = json.dumps(entry.get("params") or {}, sort_keys=True, default=str, ensure_ascii=False)
    return f"{at_text} {entry.get('key')} {entry.get('action')} [{entry.get('rule')}] {params}"


def expectation_diff(expected: Sequence[Mapping[str, Any]], actions: Sequence[Action]) -> str | None:
    """None when the actions are exactly the expected timeline (params as subsets), else a readable diff."""
    actual = [a.to_dict() for a in actions]
    if len(expected) == len(actual) and all(_matches(e, a) for e, a in zip(expected, actual, strict=True)):
        return None
    import difflib

    shown_actual = []
    for i, a in enumerate(actual):
        # Show an actual entry in the expected's shape where it matches, so the diff shows real differences.
        if i < len(expected) and _matches(expected[i], a):
            shown_actual.append(_line(expected[i]))
        else:
            shown_actual.append(_line(expectation(actions[i])))
    lines = difflib.unified_diff(
        [_line(e) for e in expected], shown_actual, "expected", "actual", lineterm="", n=2
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------
# output
def _short(text: str, width: int = 70) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _describe_action(action: Action) -> str:
    params = action.params()
    describe = _ACTION_TEXT.get(action.kind)
    return describe(params) if describe is not None else json.dumps(params)


_ACTION_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "set_priority": lambda p: f"priority -> {p['priority']}",
    "transition": lambda p: f"status -> {p['status']}",
    "comment": lambda p: f"{'public' if p['public'] else 'internal'} comment: {_short(p['body'])}",
    "assign": lambda p: f"assign -> {p['assignee']}",
    "set_field": lambda p: f"{p['field']} -> {p['value']}",
    "label": lambda p: " ".join([f"+{x}" for x in p["add"]] + [f"-{x}" for x in p["remove"]]) or "labels",
    "tier": lambda p: f"tier -> {p['to']}",
}


def format_timeline(result: Result) -> str:
    """The timeline as text: one line per event (·) and per action (»), with the rule and the reason."""
    lines = [
        f"{result.scenario.path}: policy {result.scenario.policy.name}, until {_when(result.scenario.until)}"
    ]
    day = None
    for entry in result.entries:
        local = entry.at
        if local.date() != day:
            day = local.date()
            lines.append("")
            lines.append(local.strftime("%A %d %B %Y"))
        prefix = f"  {local:%H:%M} {entry.ticket}"
        if entry.event is not None:
            lines.append(f"{prefix}  · {entry.event.describe()}")
        elif entry.action is not None:
            lines.append(f"{prefix}  » {_describe_action(entry.action)}  [{entry.action.rule}]")
            lines.append(f"{' ' * len(prefix)}    {entry.action.reason}")
    lines.append("")
    for key, ticket in result.tickets.items():
        lines.append(
            f"{key} at the end: {ticket.status}, priority {ticket.priority or '-'}, "
            f"tier {ticket.tier or '-'}, labels {', '.join(sorted(ticket.labels)) or '-'}"
        )
    return "\n".join(lines)


def format_expect(actions: Sequence[Action]) -> str:
    """The actions as a YAML `expect:` block, one flow mapping a line."""
    lines = ["expect:"]
    for action in actions:
        entry = expectation(action)
        params = json.dumps(entry["params"], ensure_ascii=False, default=str)
        lines.append(
            f"  - {{at: {entry['at']}, key: {entry['key']}, action: {entry['action']}, "
            f"rule: {entry['rule']}, params: {params}}}"
        )
    return "\n".join(lines)


def _when(instant: datetime) -> str:
    return instant.strftime("%a %d %b %Y %H:%M %z")


# ------------------------------------------------------------------------------------------------------
# CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario file (YAML): policy, until, tickets and their events")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the actions as a JSON list")
    output.add_argument(
        "--expect",
        action="store_true",
        help="print the timeline as an `expect:` block to paste into the scenario (comment bodies left out)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        result = simulate(load_scenario(args.scenario))
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([action_json(a) for a in result.actions], indent=2, ensure_ascii=False))
    elif args.expect:
        print(format_expect(result.actions))
    else:
        print(format_timeline(result))
    return 0


__all__ = [
    "Entry",
    "Event",
    "Result",
    "Scenario",
    "ScenarioError",
    "action_json",
    "configure",
    "expectation",
    "expectation_diff",
    "format_expect",
    "format_timeline",
    "load_scenario",
    "run",
    "run_scenario",
    "simulate",
]
