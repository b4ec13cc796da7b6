"""Action types that decide() returns: small frozen classes in a registry, one per kind.

An action is data: what to do, to which ticket, which rule asked for it, why, and its idempotency key.
Carrying it out on Jira is the gateway's job; `apply` shows its effect on a ticket for the simulator."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from jsm_bridge.ticket import LABELS, PRIORITY, STATUS, TIER, Comment, Ticket

BOT_AUTHOR = "jsm-bridge"

A = TypeVar("A", bound="Action")

ACTIONS: dict[str, type[Action]] = {}


def register(cls: type[A]) -> type[A]:
    """Class decorator: adds an action class to the registry under its `kind`."""
    if cls.kind in ACTIONS:
        raise ValueError(f"action kind {cls.kind!r} registered twice")
    ACTIONS[cls.kind] = cls
    return cls


@dataclass(frozen=True, kw_only=True)
class Action(ABC):
    """Base of all actions. `key` is deterministic: the same due action always has the same key."""

    kind: ClassVar[str] = ""
    key: str
    ticket: str
    rule: str
    reason: str
    at: datetime

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The action's own parameters as plain JSON-able data (the `params` of `simulate --json`)."""

    @abstractmethod
    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        """The ticket as it is after this action, for the simulator."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "key": self.ticket,
            "action": self.kind,
            "params": self.params(),
            "rule": self.rule,
            "reason": self.reason,
            "idempotency_key": self.key,
        }


@register
@dataclass(frozen=True, kw_only=True)
class SetPriority(Action):
    """Set the ticket's priority (a policy priority name; the gateway maps it to Jira's)."""

    kind: ClassVar[str] = "set_priority"
    priority: str

    def params(self) -> dict[str, Any]:
        return {"priority": self.priority}

    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        return ticket.with_change(at, PRIORITY, self.priority, BOT_AUTHOR)


@register
@dataclass(frozen=True, kw_only=True)
class Transition(Action):
    """Move the ticket through the workflow to a status (by transition or status name)."""

    kind: ClassVar[str] = "transition"
    status: str
    resolution: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.resolution:
            out["resolution"] = self.resolution
        if self.fields:
            out["fields"] = dict(self.fields)
        return out

    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        result = ticket.with_change(at, STATUS, self.status, BOT_AUTHOR)
        for name, value in self.fields.items():
            result = result.with_change(at, name, value, BOT_AUTHOR)
        return result


@register
@dataclass(frozen=True, kw_only=True)
class AddComment(Action):
    """Post a comment, public (the customer sees it) or internal (agents only), mentioning people."""

    kind: ClassVar[str] = "comment"
    body: str
    public: bool
    mentions: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"public": self.public, "body": self.body}
        if self.mentions:
            out["mentions"] = list(self.mentions)
        return out

    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        comment = Comment(
            at=at, author=BOT_AUTHOR, role="agent", public=self.public, body=self.body, id=self.key
        )
        return ticket.with_comment(comment)


@register
@dataclass(frozen=True, kw_only=True)
class Assign(Action):
    """Assign the ticket to a user (account id on Cloud, user name on Data Center); None unassigns."""

    kind: ClassVar[str] = "assign"
    assignee: str | None

    def params(self) -> dict[str, Any]:
        return {"assignee": self.assignee}

    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        return ticket.with_change(at, "assignee", self.assignee, BOT_AUTHOR)


@register
@dataclass(frozen=True, kw_only=True)
class SetField(Action):
    """Set one field, by the policy's name for it or a Jira field id."""

    kind: ClassVar[str] = "set_field"
    field: str
    value: Any

    def params(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value}

    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        return ticket.with_change(at, self.field, self.value, BOT_AUTHOR)


@register
@dataclass(frozen=True, kw_only=True)
class Label(Action):
    """Add and/or remove labels."""

    kind: ClassVar[str] = "label"
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        return {"add": list(self.add), "remove": list(self.remove)}

    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        labels = (set(ticket.labels) | set(self.add)) - set(self.remove)
        return ticket.with_change(at, LABELS, sorted(labels), BOT_AUTHOR)


@register
@dataclass(frozen=True, kw_only=True)
class MoveToTier(Action):
    """Move the ticket to a support tier; `effects` are what that means in Jira (from the policy's tier)."""

    kind: ClassVar[str] = "tier"
    to: str
    effects: tuple[Action, ...] = ()

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"to": self.to}
        if self.effects:
            out["effects"] = [{"action": e.kind, "params": e.params()} for e in self.effects]
        return out

    def apply(self, ticket: Ticket, at: datetime) -> Ticket:
        result = ticket.with_change(at, TIER, self.to, BOT_AUTHOR)
        for effect in self.effects:
            result = effect.apply(result, at)
        return result


def apply_all(ticket: Ticket, actions: list[Action] | tuple[Action, ...], at: datetime) -> Ticket:
    """Apply actions in order and record their keys as done."""
    for action in actions:
        ticket = action.apply(ticket, at).with_done(action.key)
    return ticket


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """Rebuild an action from `Action.to_dict()` output (the ledger stores actions that way)."""
    kind = data["action"]
    cls = ACTIONS.get(kind)
    if cls is None:
        raise ValueError(f"unknown action kind {kind!r}; known: {', '.join(sorted(ACTIONS))}")
    params = dict(data.get("params", {}))
    common: dict[str, Any] = {
        "key": data["idempotency_key"],
        "ticket": data["key"],
        "rule": data["rule"],
        "reason": data["reason"],
        "at": datetime.fromisoformat(data["at"]),
    }
    return _BUILDERS[kind](common, params)


def _build_tier(common: dict[str, Any], params: dict[str, Any]) -> Action:
    effects = tuple(
        action_from_dict({**_common_as_dict(common), "action": e["action"], "params": e["params"]})
        for e in params.get("effects", [])
    )
    return MoveToTier(**common, to=params["to"], effects=effects)


def _common_as_dict(common: dict[str, Any]) -> dict[str, Any]:
    return {
        "idempotency_key": common["key"],
        "key": common["ticket"],
        "rule": common["rule"],
        "reason": common["reason"],
        "at": common["at"].isoformat(),
    }


_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Action]] = {
    "set_priority": lambda c, p: SetPriority(**c, priority=p["priority"]),
    "transition": lambda c, p: Transition(
        **c, status=p["status"], resolution=p.get("resolution"), fields=p.get("fields", {})
    ),
    "comment": lambda c, p: AddComment(
        **c, body=p["body"], public=bool(p["public"]), mentions=tuple(p.get("mentions", ()))
    ),
    "assign": lambda c, p: Assign(**c, assignee=p.get("assignee")),
    "set_field": lambda c, p: SetField(**c, field=p["field"], value=p.get("value")),
    "label": lambda c, p: Label(**c, add=tuple(p.get("add", ())), remove=tuple(p.get("remove", ()))),
    "tier": _build_tier,
}

# Keep the contract's list of kinds and the registry in step.
assert set(_BUILDERS) == set(ACTIONS), "every action kind needs a builder"

__all__ = [
    "ACTIONS",
    "Action",
    "AddComment",
    "Assign",
    "Label",
    "MoveToTier",
    "SetField",
    "SetPriority",
    "TIER",
    "Transition",
    "action_from_dict",
    "apply_all",
    "register",
]
