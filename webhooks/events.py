"""Jira webhook payloads to "issue touched" records: a dispatch table from `webhookEvent` to small handlers.

Handlers read only what the workers need (which issue, which project, what kind of touch); the
workers fetch the fresh issue from Jira anyway, so nothing else in a payload is trusted or required.
A payload's objects and arrays are dicts and lists from a JSON library, or the receiver's read-only
simdjson views (OBJECT_TYPES, ARRAY_TYPES)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

try:  # the receiver's parser: its documents are read-only views of objects and arrays
    from simdjson import Array as _ViewArray
    from simdjson import Object as _ViewObject
except ImportError:  # pragma: no cover - pysimdjson is a dependency
    OBJECT_TYPES: tuple[type, ...] = (dict,)
    ARRAY_TYPES: tuple[type, ...] = (list,)
else:
    OBJECT_TYPES = (dict, _ViewObject)
    ARRAY_TYPES = (list, _ViewArray)
"""What a payload's JSON objects and arrays can be: dicts and lists from a JSON library, or simdjson's
views (webhooks/receiver.py). Concrete types: checked many times per request."""

# The kinds of touch a handled event becomes.
CREATED = "created"
UPDATED = "updated"
DELETED = "deleted"
COMMENTED = "commented"
COMMENT_EDITED = "comment_edited"
COMMENT_DELETED = "comment_deleted"

CLOUD = "cloud"
DATA_CENTER = "datacenter"

_ISSUE_KEY = re.compile(r"^([A-Z][A-Z0-9_]*)-\d+$")
# A comment's `self`: .../rest/api/2/issue/<issue id>/comment/<comment id> (v2 or v3, any context path).
_COMMENT_SELF = re.compile(
    r"/rest/api/(?:2|3|latest)/issue/([A-Za-z0-9_-]{1,100})/comment/[^/?#]+/?(?:[?#].*)?$"
)


class PayloadError(ValueError):
    """A payload this receiver cannot read: `path` names the offending value (dotted), when there is one."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Touched:
    """An issue that an event touched. `issue_key` is None only for Data Center comment events, which
    name the issue by id alone; `reference` is what Jira accepts in /rest/api/2/issue/{issueIdOrKey}."""

    event: str
    kind: str
    issue_key: str | None
    issue_id: str | None
    project_key: str | None
    changed_fields: tuple[str, ...] = ()
    comment_id: str | None = None

    @property
    def reference(self) -> str:
        reference = self.issue_key or self.issue_id
        assert reference is not None  # handlers never build a Touched without one
        return reference


@dataclass(frozen=True)
class Ignored:
    """A well-formed event this receiver does not act on, and why (logged, acknowledged, not stored)."""

    event: str
    reason: str


Handler = Callable[[str, Mapping[str, Any]], "Touched | Ignored"]


def _obj(value: Any, path: str, *, required: bool) -> Mapping[str, Any] | None:
    if value is None:
        if required:
            raise PayloadError(f"{path} is missing: a {path} object is required for this event", path)
        return None
    if not isinstance(value, OBJECT_TYPES):
        raise PayloadError(f"{path} must be an object, not {_json_type(value)}", path)
    return value


MAX_REFERENCE = 100  # the inbox's issue_key column; Jira's keys and ids are far shorter


def _text(value: Any, path: str) -> str | None:
    """An optional id or key: strings as they are, integers (older servers send numeric ids) as text."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PayloadError(f"{path} must be a string, not {_json_type(value)}", path)
    text = str(value).strip()
    if len(text) > MAX_REFERENCE:
        raise PayloadError(f"{path} is longer than {MAX_REFERENCE} characters: not a Jira key or id", path)
    return text or None


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    """`mapping.get(key)`, fast for a view too (its `get` of a missing key raises and catches inside)."""
    return mapping[key] if key in mapping else None  # noqa: SIM401 - see above


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, ARRAY_TYPES):
        return "an array"
    return "an object"


def _issue(event: str, kind: str, payload: Mapping[str, Any], *, changed: tuple[str, ...] = ()) -> Touched:
    """The issue an issue event names; its key or its id must be there."""
    issue = _obj(_get(payload, "issue"), "issue", required=True)
    assert issue is not None
    key = _text(_get(issue, "key"), "issue.key")
    issue_id = _text(_get(issue, "id"), "issue.id")
    if key is None and issue_id is None:
        raise PayloadError(
            "issue has neither key nor id: one of them is needed to find the issue", "issue.key"
        )
    return Touched(
        event=event,
        kind=kind,
        issue_key=key,
        issue_id=issue_id,
        project_key=_project_key(issue, key),
        changed_fields=changed,
        comment_id=_comment_id(payload),
    )


def _project_key(issue: Mapping[str, Any], key: str | None) -> str | None:
    fields = _get(issue, "fields")
    if isinstance(fields, OBJECT_TYPES):
        project = _get(fields, "project")
        project_key = _get(project, "key") if isinstance(project, OBJECT_TYPES) else None
        if isinstance(project_key, str) and project_key:
            return project_key
    return project_of(key)


def project_of(issue_key: str | None) -> str | None:
    """The project key an issue key starts with (`CB-12` -> `CB`), or None for an id or an odd key."""
    if issue_key is None:
        return None
    match = _ISSUE_KEY.match(issue_key)
    return match.group(1) if match else None


def _comment_id(payload: Mapping[str, Any]) -> str | None:
    comment = _get(payload, "comment")
    if isinstance(comment, OBJECT_TYPES):
        value = _get(comment, "id")
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
    return None


def _changed_fields(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Changed fields from the changelog: `fieldId` when Jira sends it (Cloud), else the display name (DC)."""
    changelog = _obj(_get(payload, "changelog"), "changelog", required=False)
    if changelog is None:
        return ()
    items = _get(changelog, "items")
    if items is None:
        return ()
    if not isinstance(items, ARRAY_TYPES):
        raise PayloadError(f"changelog.items must be an array, not {_json_type(items)}", "changelog.items")
    names: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, OBJECT_TYPES):
            raise PayloadError(
                f"changelog.items[{i}] must be an object, not {_json_type(item)}", f"changelog.items[{i}]"
            )
        name = _get(item, "fieldId") or _get(item, "field")
        if isinstance(name, str) and name:
            names.append(name)
    return tuple(names)


def issue_created(event: str, payload: Mapping[str, Any]) -> Touched:
    """jira:issue_created."""
    return _issue(event, CREATED, payload)


# Older servers send comment activity as jira:issue_updated, told apart by issue_event_type_name.
_UPDATE_KINDS: dict[str, str] = {
    "issue_commented": COMMENTED,
    "issue_comment_edited": COMMENT_EDITED,
    "issue_comment_deleted": COMMENT_DELETED,
}


def issue_updated(event: str, payload: Mapping[str, Any]) -> Touched:
    """jira:issue_updated: field changes (issue_updated, issue_generic, issue_assigned, ...) and, on
    older servers, comments. The oldest payloads carry no issue_event_type_name: a comment without a
    changelog is then a new comment."""
    type_name = _get(payload, "issue_event_type_name")
    if type_name is not None and not isinstance(type_name, str):
        raise PayloadError(
            f"issue_event_type_name must be a string, not {_json_type(type_name)}", "issue_event_type_name"
        )
    changed = _changed_fields(payload)
    kind = _UPDATE_KINDS.get(type_name or "")
    if kind is None:
        kind = COMMENTED if type_name is None and not changed and _get(payload, "comment") else UPDATED
    return _issue(event, kind, payload, changed=changed)


def issue_deleted(event: str, payload: Mapping[str, Any]) -> Touched:
    """jira:issue_deleted: the workers forget the issue."""
    return _issue(event, DELETED, payload)


_COMMENT_KINDS = {
    "comment_created": COMMENTED,
    "comment_updated": COMMENT_EDITED,
    "comment_deleted": COMMENT_DELETED,
}


def comment_event(event: str, payload: Mapping[str, Any]) -> Touched:
    """comment_created, comment_updated, comment_deleted. Cloud sends the issue; Data Center sends only
    the comment, whose `self` URL names the issue id (and sometimes no `user` at all)."""
    kind = _COMMENT_KINDS[event]
    if _get(payload, "issue") is not None:
        return _issue(event, kind, payload)
    comment = _obj(_get(payload, "comment"), "comment", required=True)
    assert comment is not None
    self_url = _get(comment, "self")
    if not isinstance(self_url, str):
        raise PayloadError(
            "comment.self is missing: without an issue, the comment's self URL is needed to find it",
            "comment.self",
        )
    match = _COMMENT_SELF.search(self_url)
    if match is None:
        raise PayloadError(
            "comment.self does not look like .../rest/api/2/issue/<id>/comment/<id>", "comment.self"
        )
    reference = match.group(1)
    key = reference if _ISSUE_KEY.match(reference) else None
    return Touched(
        event=event,
        kind=kind,
        issue_key=key,
        issue_id=None if key else reference,
        project_key=project_of(key),
        comment_id=_comment_id(payload),
    )


HANDLERS: dict[str, Handler] = {
    "jira:issue_created": issue_created,
    "jira:issue_updated": issue_updated,
    "jira:issue_deleted": issue_deleted,
    "comment_created": comment_event,
    "comment_updated": comment_event,
    "comment_deleted": comment_event,
}
"""Every webhookEvent the receiver acts on; tests check each has a Cloud and a Data Center fixture."""


def touched(payload: Mapping[str, Any]) -> Touched | Ignored:
    """What a decoded payload means for the workers. Raises PayloadError for a malformed handled event."""
    event = _get(payload, "webhookEvent")
    if event is None:
        raise PayloadError("webhookEvent is missing: this does not look like a Jira webhook", "webhookEvent")
    if not isinstance(event, str) or not event:
        raise PayloadError(
            f"webhookEvent must be a non-empty string, not {_json_type(event)}", "webhookEvent"
        )
    handler = HANDLERS.get(event)
    if handler is None:
        return Ignored(event=event, reason="event not handled")
    return handler(event, payload)


def flavor_of(payload: Mapping[str, Any], delivery_id: str | None) -> str:
    """Cloud or Data Center: Cloud names users by accountId and adds a delivery identifier header."""
    if delivery_id:
        return CLOUD
    for holder in (
        _get(payload, "user"),
        _nested(payload, "comment", "author"),
        _nested(payload, "changelog", "author"),
    ):
        if isinstance(holder, OBJECT_TYPES):
            return CLOUD if "accountId" in holder else DATA_CENTER
    return DATA_CENTER


def _nested(payload: Mapping[str, Any], outer: str, inner: str) -> Any:
    value = _get(payload, outer)
    return _get(value, inner) if isinstance(value, OBJECT_TYPES) else None
