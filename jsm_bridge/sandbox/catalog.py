"""What the sandbox's Jira site is made of: statuses, transitions, priorities, fields, resolutions, users.

A `Catalog` is plain configuration; the defaults mirror a Jira Service Management IT service project."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Jira's three status categories, as /rest/api/2/statuscategory shows them.
STATUS_CATEGORIES: dict[str, dict[str, object]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # a key of STATUS_CATEGORIES


@dataclass(frozen=True)
class Transition:
    """A workflow transition: available from `sources` (status names; empty means every status but `to`)."""

    id: str
    name: str
    to: str
    sources: tuple[str, ...] = ()
    event: str = "issue_generic"  # the issue_event_type_name its webhook carries


@dataclass(frozen=True)
class CustomField:
    """A custom field: `kind` is text, textarea, select, multiselect, number, date or requesttype.

    For select fields `options` lists the allowed values; empty means any value is accepted."""

    id: str
    name: str
    kind: str = "text"
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    account_type: str = "atlassian"  # "customer" for JSM portal-only accounts (Cloud)
    account: str | None = None  # an explicit Cloud accountId; otherwise derived from the name

    @property
    def key(self) -> str:
        return f"JIRAUSER{int(hashlib.sha1(self.name.encode()).hexdigest()[:6], 16) % 100000}"

    @property
    def account_id(self) -> str:
        if self.account:
            return self.account
        return hashlib.sha1(self.name.encode()).hexdigest()[:24]

    @property
    def email(self) -> str:
        return f"{self.name}@example.com"


AWAITING = (
    "Awaiting third party",
    "Awaiting delivery",
    "Awaiting authorization",
    "Awaiting file restore",
    "Awaiting parts",
    "Awaiting quote",
    "Awaiting rebuild",
)


def default_statuses() -> tuple[Status, ...]:
    fixed = [
        Status("1", "Open", "new"),
        Status("3", "In Progress", "indeterminate"),
        Status("10001", "Waiting for customer", "indeterminate"),
        Status("10002", "Waiting for support", "indeterminate"),
    ]
    awaiting = [Status(str(10003 + i), name, "indeterminate") for i, name in enumerate(AWAITING)]
    rest = [
        Status("10020", "Escalated", "indeterminate"),
        Status("5", "Resolved", "done"),
        Status("6", "Closed", "done"),
    ]
    return tuple(fixed + awaiting + rest)


def default_transitions(statuses: tuple[Status, ...]) -> tuple[Transition, ...]:
    open_statuses = tuple(s.name for s in statuses if s.category != "done")
    done_statuses = tuple(s.name for s in statuses if s.category == "done")

    def from_open_except(name: str) -> tuple[str, ...]:
        return tuple(s for s in open_statuses if s != name)

    transitions = [
        Transition(
            "11", "Start progress", "In Progress", from_open_except("In Progress"), "issue_work_started"
        ),
        Transition(
            "21",
            "Wait for customer",
            "Waiting for customer",
            tuple(s for s in open_statuses if s not in ("Waiting for customer", "Waiting for support")),
        ),
        Transition("31", "Respond to customer", "Waiting for customer", ("Waiting for support",)),
        Transition("41", "Back to support", "Waiting for support", ("Waiting for customer",)),
        Transition("51", "Escalate", "Escalated", from_open_except("Escalated")),
    ]
    transitions += [
        Transition(str(61 + 10 * i), name, name, from_open_except(name)) for i, name in enumerate(AWAITING)
    ]
    transitions += [
        Transition("5", "Resolve", "Resolved", open_statuses, "issue_resolved"),
        Transition("2", "Close", "Closed", open_statuses + ("Resolved",), "issue_closed"),
        Transition("3", "Reopen", "Open", done_statuses, "issue_reopened"),
    ]
    return tuple(transitions)


DEFAULT_PRIORITIES = (
    "Highest",
    "High",
    "Medium",
    "Low",
    "Lowest",
    "Critical",
    "Major",
    "Standard",
    "Minor",
    "Advisory",
)

DEFAULT_CUSTOM_FIELDS = (
    CustomField("customfield_10010", "Request Type", "requesttype"),
    CustomField("customfield_10050", "Tier", "select"),
    CustomField("customfield_10051", "Organisation", "text"),
    CustomField("customfield_10052", "Affected service", "text"),
    CustomField("customfield_10053", "Business impact", "textarea"),
    CustomField("customfield_10054", "Users affected", "select"),
    CustomField("customfield_10055", "Severity", "select"),
    CustomField("customfield_10056", "Impact", "select"),
    CustomField("customfield_10057", "Urgency", "select"),
    CustomField("customfield_10058", "Environment type", "select"),
    CustomField("customfield_10059", "Contract", "text"),
    CustomField("customfield_10060", "Service credit", "number"),
)

DEFAULT_USERS = (
    User("agent", "Alex Agent"),
    User("admin", "Ada Admin"),
    User("bridge", "jsm-bridge automation"),
    User("customer", "Casey Customer", "customer"),
)

RESOLUTIONS = (
    ("10000", "Done"),
    ("10001", "Won't Do"),
    ("10002", "Duplicate"),
    ("10003", "Cannot Reproduce"),
)

ISSUE_TYPES = (
    ("10100", "Service Request"),
    ("10101", "Incident"),
    ("10102", "Problem"),
    ("10103", "Change"),
    ("10104", "Task"),
)


@dataclass
class Catalog:
    """The site's configuration. Unknown projects are created on first use when `auto_projects` is set."""

    statuses: tuple[Status, ...] = field(default_factory=default_statuses)
    transitions: tuple[Transition, ...] = ()
    priorities: tuple[str, ...] = DEFAULT_PRIORITIES
    default_priority: str = "Medium"
    custom_fields: tuple[CustomField, ...] = DEFAULT_CUSTOM_FIELDS
    users: tuple[User, ...] = DEFAULT_USERS
    default_user: str = "agent"
    projects: dict[str, str] = field(default_factory=lambda: {"SUP": "Support"})
    auto_projects: bool = True

    def __post_init__(self) -> None:
        if not self.transitions:
            self.transitions = default_transitions(self.statuses)
        self._status_by_name = {s.name.lower(): s for s in self.statuses}
        self._field_by_id = {f.id: f for f in self.custom_fields}
        self._field_by_name = {f.name.lower(): f for f in self.custom_fields}

    def with_custom_fields(self, *extra: CustomField) -> Catalog:
        """A copy with more custom fields, for sites whose policies name other fields."""
        return Catalog(
            statuses=self.statuses,
            transitions=self.transitions,
            priorities=self.priorities,
            default_priority=self.default_priority,
            custom_fields=self.custom_fields + extra,
            users=self.users,
            default_user=self.default_user,
            projects=dict(self.projects),
            auto_projects=self.auto_projects,
        )

    def status(self, name: str) -> Status | None:
        return self._status_by_name.get(name.lower())

    def status_by_id(self, status_id: str) -> Status | None:
        return next((s for s in self.statuses if s.id == status_id), None)

    def priority_id(self, name: str) -> str:
        return str(self.priorities.index(name) + 1)

    def priority(self, name_or_id: str) -> str | None:
        """The canonical priority name for a name (any case) or an id."""
        for index, name in enumerate(self.priorities):
            if name.lower() == name_or_id.lower() or str(index + 1) == name_or_id:
                return name
        return None

    def custom_field(self, id_or_name: str) -> CustomField | None:
        return self._field_by_id.get(id_or_name) or self._field_by_name.get(id_or_name.lower())

    def transitions_from(self, status: str) -> list[Transition]:
        return [t for t in self.transitions if (status in t.sources) or (not t.sources and t.to != status)]

    def resolution(self, name_or_id: str) -> tuple[str, str] | None:
        for rid, name in RESOLUTIONS:
            if name.lower() == name_or_id.lower() or rid == name_or_id:
                return rid, name
        return None

    def issue_type(self, name_or_id: str) -> tuple[str, str] | None:
        for tid, name in ISSUE_TYPES:
            if name.lower() == name_or_id.lower() or tid == name_or_id:
                return tid, name
        return None
