"""Jira's JSON for the sandbox's records: issues, users, comments, changelogs, in Cloud or Data Center dress.

One place knows the shapes; the routes and the webhook sender both call it."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from jsm_bridge.sandbox.catalog import STATUS_CATEGORIES, Catalog, User
from jsm_bridge.sandbox.model import ChangeItem, Comment, History, Issue

CLOUD = "cloud"
DATACENTER = "datacenter"

# Fields a search returns for fields=*navigable (everything but the comment list).
NON_NAVIGABLE = {"comment"}


def jira_time(instant: datetime | None) -> str | None:
    """Jira's timestamp format: 2026-11-25T13:46:13.000+0000."""
    if instant is None:
        return None
    text = (
        instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}" + instant.strftime("%z")
    )
    return text


def epoch_millis(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def to_adf(text: str | None) -> dict[str, Any] | None:
    """Plain text as an Atlassian Document Format document: one paragraph per line."""
    if text is None:
        return None
    content = []
    for line in text.split("\n"):
        paragraph: dict[str, Any] = {"type": "paragraph", "content": []}
        if line:
            paragraph["content"] = [{"type": "text", "text": line}]
        content.append(paragraph)
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(value: Any) -> str:
    """Text from an ADF document (v3 input), or the value itself when it is already text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    blocks: list[str] = []

    def inline(node: Any) -> str:
        if not isinstance(node, dict):
            return ""
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "hardBreak":
            return "\n"
        if node.get("type") == "mention":
            return str(node.get("attrs", {}).get("text", ""))
        return "".join(inline(child) for child in node.get("content", []))

    for block in value.get("content", []) if isinstance(value, dict) else []:
        if isinstance(block, dict) and block.get("type") in ("bulletList", "orderedList"):
            blocks.extend("- " + inline(item) for item in block.get("content", []))
        else:
            blocks.append(inline(block))
    return "\n".join(blocks)


class Renderer:
    """Builds Jira JSON for one site (flavor and base URL)."""

    def __init__(self, catalog: Catalog, flavor: str, users: dict[str, User], base_url: str = "") -> None:
        self.catalog = catalog
        self.flavor = flavor
        self.users = users
        self.base_url = base_url

    @property
    def cloud(self) -> bool:
        return self.flavor == CLOUD

    def api(self, path: str, version: int = 2) -> str:
        return f"{self.base_url}/rest/api/{version}/{path}"

    # --- users -------------------------------------------------------------------------------
    def user(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        user = self.users.get(name) or User(name, name)
        avatars = {
            size: f"{self.base_url}/avatar/{size}/{user.name}.png"
            for size in ("48x48", "24x24", "16x16", "32x32")
        }
        if self.cloud:
            return {
                "self": self.api(f"user?accountId={user.account_id}"),
                "accountId": user.account_id,
                "emailAddress": user.email,
                "avatarUrls": avatars,
                "displayName": user.display_name,
                "active": True,
                "timeZone": "Etc/UTC",
                "accountType": user.account_type,
            }
        return {
            "self": self.api(f"user?username={user.name}"),
            "name": user.name,
            "key": user.key,
            "emailAddress": user.email,
            "avatarUrls": avatars,
            "displayName": user.display_name,
            "active": True,
            "timeZone": "Etc/UTC",
        }

    # --- reference values --------------------------------------------------------------------
    def status(self, name: str) -> dict[str, Any]:
        status = self.catalog.status(name)
        assert status is not None, name
        category = dict(STATUS_CATEGORIES[status.category])
        category["self"] = self.api(f"statuscategory/{category['id']}")
        return {
            "self": self.api(f"status/{status.id}"),
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": category,
        }

    def priority(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        pid = self.catalog.priority_id(name)
        return {
            "self": self.api(f"priority/{pid}"),
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def priority_list_entry(self, name: str) -> dict[str, Any]:
        entry = self.priority(name) or {}
        entry.update(
            {
                "statusColor": "#cccccc",
                "description": name,
                "isDefault": name == self.catalog.default_priority,
            }
        )
        return entry

    def resolution(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        found = self.catalog.resolution(name)
        rid = found[0] if found else "10000"
        return {"self": self.api(f"resolution/{rid}"), "id": rid, "description": "", "name": name}

    def issuetype(self, name: str) -> dict[str, Any]:
        found = self.catalog.issue_type(name)
        tid = found[0] if found else "10100"
        return {
            "self": self.api(f"issuetype/{tid}"),
            "id": tid,
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/{tid}.svg",
            "name": name,
            "subtask": False,
            "hierarchyLevel": 0,
        }

    def project(self, key: str, name: str, project_id: int) -> dict[str, Any]:
        return {
            "self": self.api(f"project/{project_id}"),
            "id": str(project_id),
            "key": key,
            "name": name,
            "projectTypeKey": "service_desk",
            "simplified": False,
        }

    def custom_value(self, field_id: str, value: Any, issue: Issue) -> Any:
        definition = self.catalog.custom_field(field_id)
        if value is None or definition is None:
            return value
        if definition.kind == "select":
            return self.option(field_id, str(value))
        if definition.kind == "multiselect":
            return [self.option(field_id, str(v)) for v in value]
        if definition.kind == "requesttype":
            return {
                "_links": {"self": f"{self.base_url}/rest/servicedeskapi/servicedesk/1/requesttype/1"},
                "requestType": {"id": "1", "name": str(value), "description": "", "serviceDeskId": "1"},
                "currentStatus": {"status": issue.status, "statusCategory": "NEW"},
            }
        return value

    def option(self, field_id: str, value: str) -> dict[str, Any]:
        option_id = str(10000 + zlib.crc32(f"{field_id}:{value}".encode()) % 90000)
        return {
            "self": f"{self.base_url}/rest/api/2/customFieldOption/{option_id}",
            "value": value,
            "id": option_id,
        }

    # --- issues ------------------------------------------------------------------------------
    def issue_fields(
        self, issue: Issue, project_name: str, project_id: int, version: int, names: set[str] | None = None
    ) -> dict[str, Any]:
        """The issue's fields as Jira shows them; only `names` (all when None) are rendered."""
        makers = self._field_makers(issue, project_name, project_id, version)
        return {name: make() for name, make in makers.items() if names is None or name in names}

    def _field_makers(
        self, issue: Issue, project_name: str, project_id: int, version: int
    ) -> dict[str, Callable[[], Any]]:
        # Rendering is deferred so a search asking for three fields renders three, not thirty.
        f = issue.fields

        def description() -> Any:
            return to_adf(f.get("description")) if version == 3 else f.get("description")

        makers: dict[str, Callable[[], Any]] = {
            "summary": lambda: f.get("summary"),
            "description": description,
            "issuetype": lambda: self.issuetype(f.get("issuetype") or "Service Request"),
            "project": lambda: self.project(issue.project, project_name, project_id),
            "status": lambda: self.status(issue.status),
            "priority": lambda: self.priority(f.get("priority")),
            "labels": lambda: list(f.get("labels") or []),
            "reporter": lambda: self.user(f.get("reporter")),
            "creator": lambda: self.user(f.get("creator") or f.get("reporter")),
            "assignee": lambda: self.user(f.get("assignee")),
            "created": lambda: jira_time(issue.created),
            "updated": lambda: jira_time(issue.updated),
            "resolution": lambda: self.resolution(f.get("resolution")),
            "resolutiondate": lambda: jira_time(f.get("resolutiondate")),
            "duedate": lambda: None,
            "components": list,
            "fixVersions": list,
            "versions": list,
            "issuelinks": list,
            "subtasks": list,
            "attachment": list,
            "comment": lambda: self.comment_page(
                issue, issue.comments, 0, max(len(issue.comments), 1), version
            ),
        }
        for definition in self.catalog.custom_fields:
            value = f.get(definition.id)
            makers[definition.id] = self._custom_maker(definition.id, definition.kind, value, issue, version)
        return makers

    def _custom_maker(
        self, field_id: str, kind: str, value: Any, issue: Issue, version: int
    ) -> Callable[[], Any]:
        if kind == "textarea" and version == 3:
            return lambda: to_adf(value) if value is not None else None
        return lambda: self.custom_value(field_id, value, issue)

    def issue(
        self,
        issue: Issue,
        project_name: str,
        project_id: int,
        version: int = 2,
        wanted: set[str] | None = None,
        expand: set[str] | None = None,
        default_fields: str = "*all",
    ) -> dict[str, Any]:
        """One issue; `wanted` is the `fields=` selection already parsed (None means the default)."""
        expand = expand or set()
        makers = self._field_makers(issue, project_name, project_id, version)
        names = select_fields(list(makers), wanted, default_fields)
        selected = None if names is None else {name: makers[name]() for name in makers if name in names}
        body: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": self.api(f"issue/{issue.id}", version),
            "key": issue.key,
        }
        if selected is not None:
            body["fields"] = selected
        if "changelog" in expand:
            histories = [self.history(h) for h in issue.changelog]
            body["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(histories),
                "histories": histories,
            }
        if "names" in expand:
            body["names"] = {fid: self.field_name(fid) for fid in (selected or {})}
        return body

    def field_name(self, field_id: str) -> str:
        custom = self.catalog.custom_field(field_id)
        if custom:
            return custom.name
        return {"issuetype": "Issue Type", "resolutiondate": "Resolved", "duedate": "Due date"}.get(
            field_id, field_id[:1].upper() + field_id[1:]
        )

    def webhook_issue(self, issue: Issue, project_name: str, project_id: int) -> dict[str, Any]:
        """The issue as webhooks carry it: v2 text, every field, no comment list on Cloud."""
        body = self.issue(issue, project_name, project_id, 2)
        body.pop("expand", None)
        return body

    def comment_issue(self, issue: Issue, project_name: str, project_id: int) -> dict[str, Any]:
        """The slim issue Cloud puts in comment events."""
        slim = self.issue_fields(
            issue,
            project_name,
            project_id,
            2,
            {"summary", "issuetype", "project", "assignee", "priority", "status"},
        )
        return {"id": str(issue.id), "self": self.api(f"issue/{issue.id}"), "key": issue.key, "fields": slim}

    # --- changelog ---------------------------------------------------------------------------
    def change_item(self, item: ChangeItem) -> dict[str, Any]:
        body: dict[str, Any] = {"field": item.field, "fieldtype": item.fieldtype}
        if self.cloud:
            body["fieldId"] = item.field_id
        from_id, to_id = item.from_id, item.to_id
        if item.field_id in ("assignee", "reporter") and self.cloud:
            # Cloud names users by accountId in changelogs; Data Center by user name.
            from_id, to_id = (self.users[v].account_id if v in self.users else v for v in (from_id, to_id))
        body.update(
            {"from": from_id, "fromString": item.from_string, "to": to_id, "toString": item.to_string}
        )
        return body

    def history(self, history: History) -> dict[str, Any]:
        return {
            "id": str(history.id),
            "author": self.user(history.author),
            "created": jira_time(history.created),
            "items": [self.change_item(item) for item in history.items],
        }

    # --- comments ----------------------------------------------------------------------------
    def comment(
        self, issue: Issue, comment: Comment, version: int = 2, properties: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": self.api(f"issue/{issue.id}/comment/{comment.id}", version),
            "id": str(comment.id),
            "author": self.user(comment.author),
            "body": to_adf(comment.body) if version == 3 else comment.body,
            "updateAuthor": self.user(comment.update_author or comment.author),
            "created": jira_time(comment.created),
            "updated": jira_time(comment.updated),
        }
        if self.cloud:
            body["jsdPublic"] = comment.public
        if properties:
            body["properties"] = (
                [] if comment.public else [{"key": "sd.public.comment", "value": {"internal": True}}]
            ) + [{"key": name, "value": value} for name, value in sorted(comment.properties.items())]
        return body

    def comment_page(
        self,
        issue: Issue,
        comments: list[Comment],
        start: int,
        limit: int,
        version: int,
        properties: bool = False,
    ) -> dict[str, Any]:
        page = comments[start : start + limit]
        return {
            "comments": [self.comment(issue, c, version, properties) for c in page],
            "self": self.api(f"issue/{issue.id}/comment", version),
            "maxResults": limit,
            "total": len(comments),
            "startAt": start,
        }

    def sd_date(self, instant: datetime) -> dict[str, Any]:
        return {
            "iso8601": instant.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "jira": jira_time(instant),
            "friendly": instant.strftime("%d/%b/%y %I:%M %p"),
            "epochMillis": epoch_millis(instant),
        }

    def sd_comment(self, issue: Issue, comment: Comment) -> dict[str, Any]:
        author = self.user(comment.author) or {}
        author = {k: v for k, v in author.items() if k not in ("avatarUrls", "self", "accountType")}
        author["_links"] = {"jiraRest": author.get("self", self.api("user"))}
        return {
            "id": str(comment.id),
            "body": comment.body,
            "public": comment.public,
            "author": author,
            "created": self.sd_date(comment.created),
            "_links": {
                "self": f"{self.base_url}/rest/servicedeskapi/request/{issue.id}/comment/{comment.id}"
            },
        }


def parse_field_list(text: str | list[str] | None) -> set[str] | None:
    """`fields=summary,status` (or a JSON list) as a set; None when not given."""
    if text is None:
        return None
    items = text if isinstance(text, list) else text.split(",")
    return {item.strip() for item in items if item.strip()}


def select_fields(all_fields: list[str], wanted: set[str] | None, default: str) -> set[str] | None:
    """Jira's `fields` selection (names, `*all`, `*navigable`, `-name` exclusions) over the field names.

    None means no fields at all (the Cloud search default)."""
    if wanted is None:
        wanted = {default}
    if not wanted:
        return None
    included: set[str] = set()
    if "*all" in wanted:
        included = set(all_fields)
    if "*navigable" in wanted:
        included |= set(all_fields) - NON_NAVIGABLE
    included |= {name for name in wanted if name in all_fields}
    excluded = {name[1:] for name in wanted if name.startswith("-")}
    if not included and excluded and all(name.startswith("-") for name in wanted):
        included = set(all_fields)
    return included - excluded
