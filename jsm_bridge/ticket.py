"""The ticket as the decision core sees it: a snapshot plus its history, independent of Jira's JSON.

The gateway builds it from Jira issues and changelogs; the simulator builds it from scenario files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

Role = Literal["customer", "agent"]

# Names of the built-in history fields; any other `Change.field` is a ticket field under its policy name.
STATUS = "status"
PRIORITY = "priority"
TIER = "tier"
LABELS = "labels"
ASSIGNEE = "assignee"


@dataclass(frozen=True)
class Comment:
    """One comment on the ticket; `role` says whether the customer (reporter) or an agent wrote it."""

    at: datetime
    author: str
    role: Role
    public: bool
    body: str
    id: str | None = None


@dataclass(frozen=True)
class Change:
    """One change of a field at an instant: status, priority (policy name), tier, labels or any field."""

    at: datetime
    field: str
    old: Any
    new: Any
    author: str | None = None


@dataclass(frozen=True)
class Ticket:
    """A ticket's current state and history, all times time-zone aware.

    `fields` holds every other field under the name the policy uses (summary, description,
    "Business impact", ...). `done` holds the idempotency keys of actions already carried out
    on this ticket (from the ledger or the issue property), so decide() does not propose them again.
    """

    key: str
    created: datetime
    status: str
    priority: str | None = None
    reporter: str | None = None
    assignee: str | None = None
    tier: str | None = None
    labels: frozenset[str] = frozenset()
    fields: Mapping[str, Any] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()
    comments: tuple[Comment, ...] = ()
    done: frozenset[str] = frozenset()
    request_type: str | None = None

    def field_value(self, name: str) -> Any:
        """The value of a field by policy name, with the built-in fields answered from the snapshot."""
        builtin = _BUILTIN_FIELDS.get(name.lower())
        if builtin is not None:
            return builtin(self)
        if name in self.fields:
            return self.fields[name]
        lowered = name.lower()
        for key, value in self.fields.items():
            if key.lower() == lowered:
                return value
        return None

    def history(self, field_name: str) -> tuple[Change, ...]:
        """Changes of one field, oldest first."""
        return tuple(c for c in self.changes if c.field == field_name)

    def with_change(self, at: datetime, field_name: str, new: Any, author: str | None = None) -> Ticket:
        """A copy with one field changed and the change recorded in the history."""
        old = self.field_value(field_name)
        change = Change(at=at, field=field_name, old=old, new=new, author=author)
        builtin_attr = _SNAPSHOT_ATTRS.get(field_name)
        if builtin_attr is not None:
            value = frozenset(new) if builtin_attr == "labels" else new
            updated: dict[str, Any] = {"changes": self.changes + (change,), builtin_attr: value}
            return replace(self, **updated)
        fields = dict(self.fields)
        fields[field_name] = new
        return replace(self, fields=fields, changes=self.changes + (change,))

    def with_comment(self, comment: Comment) -> Ticket:
        return replace(self, comments=self.comments + (comment,))

    def with_done(self, *keys: str) -> Ticket:
        return replace(self, done=self.done | frozenset(keys))


_BUILTIN_FIELDS: dict[str, Any] = {
    "key": lambda t: t.key,
    "status": lambda t: t.status,
    "priority": lambda t: t.priority,
    "reporter": lambda t: t.reporter,
    "assignee": lambda t: t.assignee,
    "tier": lambda t: t.tier,
    "labels": lambda t: sorted(t.labels),
    "created": lambda t: t.created,
    "request type": lambda t: t.request_type,
    "request_type": lambda t: t.request_type,
}

_SNAPSHOT_ATTRS = {
    STATUS: "status",
    PRIORITY: "priority",
    TIER: "tier",
    LABELS: "labels",
    ASSIGNEE: "assignee",
    "reporter": "reporter",
    "request_type": "request_type",
}
