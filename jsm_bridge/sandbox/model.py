"""The sandbox's records: issues with their changelog, comments and properties; webhooks; logged requests.

Values are kept in Jira's terms (status, priority and user *names*); the render module turns them into JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Comment:
    id: int
    author: str
    body: str
    created: datetime
    updated: datetime
    public: bool = True
    update_author: str | None = None
    # Comment properties set when the comment was created, other than sd.public.comment (kept as `public`).
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChangeItem:
    field: str  # display name ("status", "Tier", "labels")
    field_id: str  # id ("status", "customfield_10050")
    fieldtype: str  # "jira" or "custom"
    from_id: str | None
    from_string: str | None
    to_id: str | None
    to_string: str | None


@dataclass
class History:
    id: int
    author: str
    created: datetime
    items: list[ChangeItem]


@dataclass
class Issue:
    """One issue. `fields` holds summary, description, issuetype, priority, status, labels, reporter,
    assignee, resolution, resolutiondate and custom field values by id."""

    id: int
    key: str
    project: str
    created: datetime
    updated: datetime
    fields: dict[str, Any]
    changelog: list[History] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])

    @property
    def status(self) -> str:
        return str(self.fields["status"])

    def comment(self, comment_id: int) -> Comment | None:
        return next((c for c in self.comments if c.id == comment_id), None)


@dataclass
class Webhook:
    id: int
    name: str
    url: str
    events: list[str]
    jql: str = ""
    secret: str | None = None
    enabled: bool = True
    exclude_body: bool = False
    last_updated: datetime | None = None
    last_updated_user: str = "admin"


@dataclass(frozen=True)
class RequestRecord:
    """One request the sandbox answered: for tests that count Jira calls."""

    method: str
    path: str
    query: str
    status: int
    at: datetime
    duration_ms: float
    user: str | None


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery attempt and how it ended."""

    webhook_id: int
    event: str
    identifier: str
    attempt: int
    status: int | None  # None when the connection failed or the delivery was dropped
    outcome: str  # delivered, retry, failed, dropped
    error: str | None = None
