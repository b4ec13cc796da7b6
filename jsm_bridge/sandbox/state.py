"""The sandbox's Jira site in memory: issues, comments, properties, webhooks, and the log of requests.

Every change goes through one method here, takes its time from the clock, records a changelog entry when
Jira would, and tells the listeners (the webhook sender) about it, whichever client made the change."""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox.catalog import Catalog, Transition, User
from jsm_bridge.sandbox.jql import Query
from jsm_bridge.sandbox.model import ChangeItem, Comment, Delivery, History, Issue, RequestRecord, Webhook
from jsm_bridge.sandbox.render import adf_to_text
from jsm_bridge.sandbox.storage import MemoryStorage, Storage


class JiraError(Exception):
    """A request Jira would refuse: answered with `status` and Jira's error body."""

    def __init__(
        self, status: int, messages: Iterable[str] = (), errors: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.messages = list(messages)
        self.errors = errors or {}
        super().__init__("; ".join(self.messages + [f"{k}: {v}" for k, v in self.errors.items()]))

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


@dataclass(frozen=True)
class Event:
    """Something webhooks report: `name` is the webhookEvent, `type_name` the issue_event_type_name."""

    name: str
    issue: Issue
    user: str
    type_name: str | None = None
    history: History | None = None
    comment: Comment | None = None


Listener = Callable[[Event], None]

AUTOMATION_USER = User("automation", "Automation for Jira", "app")


@dataclass
class _Counters:
    issue: int = 10000
    comment: int = 10000
    history: int = 10000
    webhook: int = 0
    project: int = 10000
    numbers: dict[str, int] = field(default_factory=dict)


class SandboxState:
    """All records, guarded by one lock. Tests may read the attributes directly."""

    def __init__(
        self, catalog: Catalog, clock: ManualClock, storage: Storage | None = None, restore_clock: bool = True
    ) -> None:
        self.catalog = catalog
        self.clock = clock
        self.storage: Storage = storage or MemoryStorage()
        self.lock = threading.RLock()
        self.issues: dict[str, Issue] = {}
        self.issue_keys_by_id: dict[int, str] = {}
        self.issues_by_project: dict[str, dict[str, Issue]] = {}
        self.projects: dict[str, tuple[int, str]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.users: dict[str, User] = {u.name: u for u in catalog.users}
        self.requests: deque[RequestRecord] = deque(maxlen=100_000)
        self.deliveries: deque[Delivery] = deque(maxlen=100_000)
        self.listeners: list[Listener] = []
        self.version = 0  # bumped on every change to an issue; keys the search cache
        # Cloud search is eventually consistent: with a lag, searches show an issue as it was before
        # changes made less than `search_lag` ago (sandbox clock), and not at all if it is that new.
        self.search_lag = timedelta(0)
        self._lagging: dict[str, tuple[datetime, Issue | None]] = {}
        # JSM's default "transition on comment" automation: a customer's reply moves a ticket from
        # Waiting for customer to Waiting for support; an agent's public reply moves it back.
        self.jsm_automation = False
        self._counters = _Counters()
        self._search_cache: dict[str, tuple[tuple[int, datetime, timedelta], list[Issue]]] = {}
        for key, name in catalog.projects.items():
            self._project(key, name)
        self._load(restore_clock)

    # --- persistence -------------------------------------------------------------------------
    def _load(self, restore_clock: bool) -> None:
        issues, webhooks, meta = self.storage.load()
        counters = meta.get("counters")
        if counters:
            self._counters = _Counters(**counters)
        for key, (project_id, name) in (meta.get("projects") or {}).items():
            self.projects[key] = (project_id, name)
        for issue in issues:
            self._index(issue)
        for webhook in webhooks:
            self.webhooks[webhook.id] = webhook
        if restore_clock and meta.get("clock"):
            self.clock.set(meta["clock"])

    def _save(self, *issues: Issue) -> None:
        self.version += 1
        self.storage.save_issues(list(issues))
        self._save_meta()

    def _save_meta(self) -> None:
        counters = self._counters
        self.storage.save_meta(
            {
                "counters": {
                    "issue": counters.issue,
                    "comment": counters.comment,
                    "history": counters.history,
                    "webhook": counters.webhook,
                    "project": counters.project,
                    "numbers": counters.numbers,
                },
                "projects": {k: list(v) for k, v in self.projects.items()},
                "clock": self.clock.now(),
            }
        )

    def save_clock(self) -> None:
        with self.lock:
            self._save_meta()

    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    # --- look-ups ----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def issue(self, key_or_id: str) -> Issue:
        """The issue by key (any case) or numeric id; 404 as Jira answers when missing."""
        with self.lock:
            key = key_or_id.upper()
            if key_or_id.isdigit():
                key = self.issue_keys_by_id.get(int(key_or_id), "")
            issue = self.issues.get(key)
            if issue is None:
                raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
            return issue

    def project_info(self, key: str) -> tuple[int, str]:
        return self.projects.get(key, (0, key))

    def user(self, reference: Any, field_name: str = "user") -> str | None:
        """A user name from Jira's input forms: {"accountId"}, {"name"}, {"id"}, a string or null.

        Unknown users are created on first sight so scripts may name anyone."""
        if reference is None:
            return None
        if isinstance(reference, dict):
            value = (
                reference.get("accountId")
                or reference.get("name")
                or reference.get("id")
                or reference.get("key")
            )
            if value is None:
                raise JiraError(400, [], {field_name: "Specify a valid value for the user"})
        else:
            value = str(reference)
        with self.lock:
            for user in self.users.values():
                if value in (user.name, user.account_id, user.key, user.email):
                    return user.name
            explicit = isinstance(reference, dict) and "accountId" in reference
            self.users[value] = User(value, value, account=value if explicit else None)
            return value

    def _project(self, key: str, name: str | None = None) -> tuple[int, str]:
        if key not in self.projects:
            self._counters.project += 1
            self.projects[key] = (self._counters.project, name or key)
        return self.projects[key]

    # --- search ------------------------------------------------------------------------------
    def search(self, query: Query) -> list[Issue]:
        """Matching issues in the query's order; cached until the next change or the clock moves."""
        with self.lock:
            now = self.now()
            cached = self._search_cache.get(query.text)
            if cached and cached[0] == (self.version, now, self.search_lag):
                return cached[1]
            if query.projects is None:
                candidates: Iterable[Issue] = self.issues.values()
            else:
                candidates = [
                    issue
                    for project in query.projects
                    for issue in self.issues_by_project.get(project, {}).values()
                ]
            lagging = self._lagging_view(now)
            if lagging:
                seen = (
                    lagging.get(issue.key, issue) if issue.key in lagging else issue for issue in candidates
                )
                candidates = [issue for issue in seen if issue is not None]
            matching = [issue for issue in candidates if query.matches(issue, now)]
            result = query.sort(matching, self.catalog)
            if len(self._search_cache) > 64:
                self._search_cache.clear()
            self._search_cache[query.text] = ((self.version, now, self.search_lag), result)
            return result

    def _lagging_view(self, now: datetime) -> dict[str, Issue | None]:
        """Issues whose search view is still behind: key -> the state searches see (None: not yet)."""
        if not self.search_lag:
            self._lagging.clear()
            return {}
        for key, (last, _) in list(self._lagging.items()):
            if now >= last + self.search_lag:
                del self._lagging[key]
        return {key: snapshot for key, (_, snapshot) in self._lagging.items()}

    def _remember(self, issue: Issue, new: bool = False) -> None:
        """Before a change: keep what searches may still see while the lag lasts."""
        if not self.search_lag:
            return
        now = self.now()
        previous = self._lagging.get(issue.key)
        if previous is not None and now < previous[0] + self.search_lag:
            self._lagging[issue.key] = (now, previous[1])
        else:
            self._lagging[issue.key] = (now, None if new else copy.deepcopy(issue))

    # --- field input -------------------------------------------------------------------------
    def _value(self, field_id: str, raw: Any) -> Any:
        """Jira's input form of a field value, as stored."""
        if field_id in ("summary",):
            return None if raw is None else str(raw)
        if field_id == "description":
            return None if raw is None else adf_to_text(raw)
        if field_id == "priority":
            if raw is None:
                return None
            name = raw.get("name") or raw.get("id") if isinstance(raw, dict) else str(raw)
            priority = self.catalog.priority(str(name))
            if priority is None:
                raise JiraError(400, [], {"priority": f"Specify a valid priority ('{name}' is not one)"})
            return priority
        if field_id == "issuetype":
            name = raw.get("name") or raw.get("id") if isinstance(raw, dict) else str(raw)
            found = self.catalog.issue_type(str(name))
            if found is None:
                raise JiraError(400, [], {"issuetype": "Specify a valid issue type"})
            return found[1]
        if field_id == "labels":
            labels = list(raw or [])
            for label in labels:
                if " " in str(label):
                    raise JiraError(400, [], {"labels": "The label can't contain spaces."})
            return [str(label) for label in labels]
        if field_id in ("reporter", "assignee"):
            return self.user(raw, field_id)
        if field_id == "resolution":
            if raw is None:
                return None
            name = raw.get("name") or raw.get("id") if isinstance(raw, dict) else str(raw)
            found = self.catalog.resolution(str(name))
            if found is None:
                raise JiraError(400, [], {"resolution": f"Resolution '{name}' does not exist."})
            return found[1]
        custom = self.catalog.custom_field(field_id)
        if custom is None or custom.id != field_id:
            raise JiraError(
                400,
                [],
                {
                    field_id: f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."
                },
            )
        if raw is None:
            return None
        if custom.kind in ("select", "requesttype"):
            value = raw.get("value") or raw.get("name") or raw.get("id") if isinstance(raw, dict) else raw
            if custom.options and value not in custom.options:
                raise JiraError(400, [], {field_id: f"Option value '{value}' is not valid"})
            return str(value)
        if custom.kind == "multiselect":
            return [str(v.get("value") if isinstance(v, dict) else v) for v in raw]
        if custom.kind == "number":
            return float(raw)
        if custom.kind == "textarea":
            return adf_to_text(raw)
        return raw

    def _change(self, issue: Issue, field_id: str, new: Any) -> ChangeItem | None:
        """Set one stored field and describe the change for the changelog (None when nothing changed)."""
        old = issue.fields.get(field_id)
        if old == new:
            return None
        issue.fields[field_id] = new
        return self._item(field_id, old, new)

    def _item(self, field_id: str, old: Any, new: Any) -> ChangeItem:
        custom = self.catalog.custom_field(field_id) if field_id.startswith("customfield_") else None
        if custom is not None:
            return ChangeItem(custom.name, field_id, "custom", None, _text(old), None, _text(new))
        if field_id == "status":
            old_status, new_status = self.catalog.status(old), self.catalog.status(new)
            return ChangeItem(
                "status",
                "status",
                "jira",
                old_status.id if old_status else None,
                old,
                new_status.id if new_status else None,
                new,
            )
        if field_id == "priority":
            return ChangeItem(
                "priority",
                "priority",
                "jira",
                self.catalog.priority_id(old) if old else None,
                old,
                self.catalog.priority_id(new) if new else None,
                new,
            )
        if field_id == "resolution":
            old_res, new_res = (self.catalog.resolution(v) if v else None for v in (old, new))
            return ChangeItem(
                "resolution",
                "resolution",
                "jira",
                old_res[0] if old_res else None,
                old,
                new_res[0] if new_res else None,
                new,
            )
        if field_id in ("assignee", "reporter"):
            return ChangeItem(
                field_id,
                field_id,
                "jira",
                old,
                self.users[old].display_name if old in self.users else old,
                new,
                self.users[new].display_name if new in self.users else new,
            )
        if field_id == "labels":
            return ChangeItem(
                "labels",
                "labels",
                "jira",
                None,
                " ".join(old or []) or None,
                None,
                " ".join(new or []) or None,
            )
        return ChangeItem(field_id, field_id, "jira", None, _text(old), None, _text(new))

    def _record(self, issue: Issue, actor: str, items: list[ChangeItem]) -> History | None:
        if not items:
            return None
        now = self.now()
        self._counters.history += 1
        history = History(self._counters.history, actor, now, items)
        issue.changelog.append(history)
        issue.updated = now
        return history

    # --- issues ------------------------------------------------------------------------------
    def create_issue(self, fields: dict[str, Any], actor: str, notify: bool = True) -> Issue:
        with self.lock:
            issue = self._new_issue(fields, actor)
            self._remember(issue, new=True)
            self._save(issue)
            if notify:
                self._emit(Event("jira:issue_created", issue, actor, "issue_created"))
            return issue

    def _new_issue(self, fields: dict[str, Any], actor: str) -> Issue:
        fields = dict(fields)
        project_ref = fields.pop("project", None)
        project_key = None
        if isinstance(project_ref, dict):
            project_key = project_ref.get("key")
            if project_key is None and "id" in project_ref:
                project_key = next(
                    (k for k, (pid, _) in self.projects.items() if str(pid) == str(project_ref["id"])), None
                )
        elif isinstance(project_ref, str):
            project_key = project_ref
        if not project_key:
            raise JiraError(400, [], {"project": "Specify a valid project ID or key"})
        project_key = project_key.upper()
        if project_key not in self.projects and not self.catalog.auto_projects:
            raise JiraError(400, [], {"project": f"Project '{project_key}' does not exist."})
        self._project(project_key)
        if not fields.get("summary"):
            raise JiraError(400, [], {"summary": "You must specify a summary of the issue."})
        stored: dict[str, Any] = {
            "summary": None,
            "description": None,
            "issuetype": "Service Request",
            "priority": self.catalog.default_priority,
            "status": self.catalog.statuses[0].name,
            "labels": [],
            "reporter": actor,
            "creator": actor,
            "assignee": None,
            "resolution": None,
            "resolutiondate": None,
        }
        for field_id, raw in fields.items():
            stored[field_id] = self._value(field_id, raw)
        now = self.now()
        self._counters.issue += 1
        number = self._counters.numbers.get(project_key, 0) + 1
        self._counters.numbers[project_key] = number
        issue = Issue(self._counters.issue, f"{project_key}-{number}", project_key, now, now, stored)
        self._index(issue)
        return issue

    def _index(self, issue: Issue) -> None:
        self.issues[issue.key] = issue
        self.issue_keys_by_id[issue.id] = issue.key
        self.issues_by_project.setdefault(issue.project, {})[issue.key] = issue

    def bulk_create(
        self, project: str, count: int, fields: dict[str, Any] | None = None, actor: str | None = None
    ) -> list[Issue]:
        """Many issues at once, without webhooks: for benchmarks and large searches."""
        base = dict(fields or {})
        base["project"] = {"key": project}
        with self.lock:
            created = []
            for n in range(count):
                values = dict(base)
                values.setdefault("summary", f"Ticket {n + 1}")
                created.append(self._new_issue(values, actor or self.catalog.default_user))
            self._save(*created)
            return created

    def update_issue(
        self,
        key: str,
        fields: dict[str, Any] | None,
        update: dict[str, list[dict[str, Any]]] | None,
        actor: str,
        notify: bool = True,
    ) -> Issue:
        """PUT /issue: `fields` sets values, `update` applies verbs (set, add, remove, edit)."""
        with self.lock:
            issue = self.issue(key)
            self._remember(issue)
            items, comments = self._apply(issue, fields or {}, update or {}, actor)
            history = self._record(issue, actor, items)
            self._save(issue)
            if notify and history:
                only_assignee = all(item.field_id == "assignee" for item in history.items)
                type_name = "issue_assigned" if only_assignee else "issue_updated"
                self._emit(Event("jira:issue_updated", issue, actor, type_name, history))
            for comment in comments:
                self._comment_added(issue, comment, actor, notify)
            return issue

    def _apply(
        self, issue: Issue, fields: dict[str, Any], update: dict[str, list[dict[str, Any]]], actor: str
    ) -> tuple[list[ChangeItem], list[Comment]]:
        # Validate everything before changing anything, as Jira does.
        values = {
            field_id: self._value(field_id, raw) for field_id, raw in fields.items() if field_id != "comment"
        }
        if "project" in values or "status" in fields:
            raise JiraError(400, [], {"status" if "status" in fields else "project": "Field cannot be set."})
        comments: list[Comment] = []
        for field_id, operations in update.items():
            for operation in operations:
                for verb, raw in operation.items():
                    if field_id == "comment" and verb == "add":
                        body = raw.get("body") if isinstance(raw, dict) else raw
                        public = not _internal(raw.get("properties") if isinstance(raw, dict) else None)
                        comments.append(self._new_comment(issue, adf_to_text(body), public, actor))
                        continue
                    current = values.get(field_id, issue.fields.get(field_id))
                    if verb == "set" or verb == "edit":
                        values[field_id] = self._value(field_id, raw)
                    elif (
                        verb == "add"
                        and field_id in ("labels",)
                        or verb == "add"
                        and isinstance(current, list)
                    ):
                        addition = (
                            self._value(field_id, [raw])[0]
                            if field_id == "labels"
                            else str(raw.get("value") if isinstance(raw, dict) else raw)
                        )
                        values[field_id] = list(current or []) + (
                            [addition] if addition not in (current or []) else []
                        )
                    elif verb == "remove" and isinstance(current, list | None):
                        removal = raw.get("value") if isinstance(raw, dict) else raw
                        values[field_id] = [v for v in (current or []) if v != removal]
                    else:
                        raise JiraError(
                            400, [], {field_id: f"Field '{field_id}' does not support operation '{verb}'"}
                        )
        items = [item for field_id, value in values.items() if (item := self._change(issue, field_id, value))]
        return items, comments

    def delete_issue(self, key: str, actor: str, notify: bool = True) -> None:
        with self.lock:
            issue = self.issue(key)
            del self.issues[issue.key]
            del self.issue_keys_by_id[issue.id]
            del self.issues_by_project[issue.project][issue.key]
            self.version += 1
            self.storage.delete_issue(issue.key)
            if notify:
                self._emit(Event("jira:issue_deleted", issue, actor, "issue_deleted"))

    def assign(self, key: str, reference: Any, actor: str) -> Issue:
        return self.update_issue(key, {"assignee": reference}, None, actor)

    # --- workflow ----------------------------------------------------------------------------
    def transitions(self, key: str) -> list[Transition]:
        with self.lock:
            return self.catalog.transitions_from(self.issue(key).status)

    def transition(
        self,
        key: str,
        transition_id: str,
        fields: dict[str, Any] | None,
        update: dict[str, list[dict[str, Any]]] | None,
        actor: str,
    ) -> Issue:
        with self.lock:
            issue = self.issue(key)
            self._remember(issue)
            available = {t.id: t for t in self.catalog.transitions_from(issue.status)}
            chosen = available.get(str(transition_id))
            if chosen is None:
                raise JiraError(
                    400,
                    [
                        f"Transition id '{transition_id}' is not valid for this issue.",
                    ],
                )
            fields = dict(fields or {})
            target = self.catalog.status(chosen.to)
            assert target is not None
            items: list[ChangeItem] = []
            was_done = (self.catalog.status(issue.status) or target).category == "done"
            if target.category == "done" and not was_done:
                fields.setdefault("resolution", {"name": "Done"})
            elif target.category != "done" and was_done:
                fields["resolution"] = None
            extra_items, comments = self._apply(issue, fields, update or {}, actor)
            status_item = self._change(issue, "status", target.name)
            if status_item:
                items.append(status_item)
            items += extra_items
            if target.category == "done" and not was_done:
                issue.fields["resolutiondate"] = self.now()
            elif target.category != "done":
                issue.fields["resolutiondate"] = None
            history = self._record(issue, actor, items)
            self._save(issue)
            if history:
                self._emit(Event("jira:issue_updated", issue, actor, chosen.event, history))
            for comment in comments:
                self._comment_added(issue, comment, actor, True)
            return issue

    # --- comments ----------------------------------------------------------------------------
    def _new_comment(self, issue: Issue, body: str, public: bool, actor: str) -> Comment:
        now = self.now()
        self._counters.comment += 1
        comment = Comment(self._counters.comment, actor, body, now, now, public)
        issue.comments.append(comment)
        issue.updated = now
        return comment

    def _comment_added(self, issue: Issue, comment: Comment, actor: str, notify: bool) -> None:
        if notify:
            self._emit(Event("comment_created", issue, actor, "issue_commented", comment=comment))

    def add_comment(
        self, key: str, body: Any, public: bool, actor: str, properties: Any = None
    ) -> tuple[Issue, Comment]:
        """Add a comment; `properties` is the create body's list of {key, value} comment properties."""
        with self.lock:
            issue = self.issue(key)
            text = adf_to_text(body)
            if not text.strip():
                raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
            self._remember(issue)
            comment = self._new_comment(issue, text, public, actor)
            comment.properties = _comment_properties(properties)
            self._save(issue)
            self._comment_added(issue, comment, actor, True)
            if self.jsm_automation and public:
                self._transition_on_comment(issue, actor)
            return issue, comment

    def _transition_on_comment(self, issue: Issue, actor: str) -> None:
        by_customer = actor == issue.fields.get("reporter")
        target = {
            (True, "Waiting for customer"): "Waiting for support",
            (False, "Waiting for support"): "Waiting for customer",
        }.get((by_customer, issue.status))
        if target is None:
            return
        for transition in self.catalog.transitions_from(issue.status):
            if transition.to == target:
                self.users.setdefault(AUTOMATION_USER.name, AUTOMATION_USER)
                self.transition(issue.key, transition.id, None, None, AUTOMATION_USER.name)
                return

    def comment(self, key: str, comment_id: str) -> tuple[Issue, Comment]:
        with self.lock:
            issue = self.issue(key)
            comment = issue.comment(int(comment_id)) if comment_id.isdigit() else None
            if comment is None:
                raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
            return issue, comment

    def edit_comment(
        self, key: str, comment_id: str, body: Any, public: bool | None, actor: str
    ) -> tuple[Issue, Comment]:
        with self.lock:
            issue, comment = self.comment(key, comment_id)
            comment.body = adf_to_text(body)
            if public is not None:
                comment.public = public
            comment.updated = self.now()
            comment.update_author = actor
            issue.updated = comment.updated
            self._save(issue)
            self._emit(Event("comment_updated", issue, actor, "issue_comment_edited", comment=comment))
            return issue, comment

    def delete_comment(self, key: str, comment_id: str, actor: str) -> None:
        with self.lock:
            issue, comment = self.comment(key, comment_id)
            issue.comments.remove(comment)
            issue.updated = self.now()
            self._save(issue)
            self._emit(Event("comment_deleted", issue, actor, "issue_comment_deleted", comment=comment))

    # --- properties --------------------------------------------------------------------------
    def set_property(self, key: str, name: str, value: Any) -> bool:
        """Store an issue property; True when it is new."""
        with self.lock:
            issue = self.issue(key)
            created = name not in issue.properties
            issue.properties[name] = value
            self._save(issue)
            return created

    def delete_property(self, key: str, name: str) -> None:
        with self.lock:
            issue = self.issue(key)
            if name not in issue.properties:
                raise JiraError(404, [f"The property with key '{name}' does not exist."])
            del issue.properties[name]
            self._save(issue)

    # --- webhooks ----------------------------------------------------------------------------
    def register_webhook(self, webhook: Webhook) -> Webhook:
        with self.lock:
            self._counters.webhook += 1
            webhook.id = self._counters.webhook
            webhook.last_updated = self.now()
            self.webhooks[webhook.id] = webhook
            self.storage.save_webhook(webhook)
            self._save_meta()
            return webhook

    def webhook(self, webhook_id: str) -> Webhook:
        with self.lock:
            found = self.webhooks.get(int(webhook_id)) if webhook_id.isdigit() else None
            if found is None:
                raise JiraError(404, [f"Webhook with id {webhook_id} does not exist."])
            return found

    def replace_webhook(self, webhook_id: str, webhook: Webhook) -> Webhook:
        with self.lock:
            old = self.webhook(webhook_id)
            webhook.id = old.id
            if webhook.secret is None:
                webhook.secret = old.secret
            webhook.last_updated = self.now()
            self.webhooks[old.id] = webhook
            self.storage.save_webhook(webhook)
            return webhook

    def delete_webhook(self, webhook_id: str) -> None:
        with self.lock:
            old = self.webhook(webhook_id)
            del self.webhooks[old.id]
            self.storage.delete_webhook(old.id)

    # --- request log -------------------------------------------------------------------------
    def log_request(self, record: RequestRecord) -> None:
        self.requests.append(record)

    def count_requests(self, method: str | None = None, path_prefix: str = "/rest/") -> int:
        """How many requests a client made (control paths under /_sandbox are not counted by default)."""
        return sum(
            1
            for r in list(self.requests)
            if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _internal(properties: Any) -> bool:
    """True when comment properties mark it internal (sd.public.comment {"internal": true})."""
    for prop in properties or []:
        if isinstance(prop, dict) and prop.get("key") == "sd.public.comment":
            value = prop.get("value") or {}
            return bool(value.get("internal")) if isinstance(value, dict) else False
    return False


def _comment_properties(properties: Any) -> dict[str, Any]:
    """The comment properties of a create body other than sd.public.comment (that one is `public`)."""
    if not isinstance(properties, list):
        return {}
    out: dict[str, Any] = {}
    for prop in properties:
        if isinstance(prop, dict) and isinstance(prop.get("key"), str) and prop["key"] != "sd.public.comment":
            out[prop["key"]] = prop.get("value")
    return out


def is_internal(properties: Any) -> bool:
    return _internal(properties)
