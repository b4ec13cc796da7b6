"""Tickets straight from JQL search results, for the sweeper: one request per page, nothing per ticket.

Asks only for the fields the policy reads, and for the changelog and comments when its clocks need them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from jsm_bridge.jira import paths
from jsm_bridge.jira.adapter import ticket_from_issue
from jsm_bridge.jira.logline import log_event
from jsm_bridge.policy.conditions import Condition
from jsm_bridge.policy.model import Policy
from jsm_bridge.ticket import Ticket

log = logging.getLogger(__name__)

# What every decision reads: the snapshot, the clocks' start and end, and the texts conditions scan.
BASE_FIELDS = (
    "status",
    "priority",
    "reporter",
    "assignee",
    "labels",
    "created",
    "updated",
    "resolution",
    "resolutiondate",
    "summary",
    "description",
    "issuetype",
    "project",
)


class SearchedTicket:
    """One search result. The Ticket is built only when asked for; `fingerprint` tells, without building
    it, whether the issue changed since it was last seen. `complete` is False when search cut its
    history short (changelog or comments not all there): then only a full read can be trusted."""

    def __init__(
        self, issue: Mapping[str, Any], build: Callable[[Mapping[str, Any]], Ticket], history: bool
    ) -> None:
        self.issue = issue
        self._build = build
        self._history = history
        self.key = str(issue.get("key") or "")

    @cached_property
    def complete(self) -> bool:
        return _complete(self.issue, self._history)

    @cached_property
    def ticket(self) -> Ticket:
        return self._build(self.issue)

    @cached_property
    def fingerprint(self) -> tuple[Any, ...]:
        """What changes whenever anything a decision reads changes: Jira's `updated` stamp, plus the
        status, priority, labels, the sizes of the history and comments (stamps can repeat), done keys."""
        f = self.issue.get("fields") or {}
        changelog = self.issue.get("changelog") or {}
        comments = f.get("comment") or {}
        return (
            f.get("updated"),
            _name_of(f.get("status")),
            _name_of(f.get("priority")),
            tuple(f.get("labels") or ()),
            changelog.get("total") if isinstance(changelog, dict) else None,
            len(changelog.get("histories") or ()) if isinstance(changelog, dict) else None,
            comments.get("total") if isinstance(comments, dict) else None,
            repr((self.issue.get("properties") or {}).get(paths.DONE_PROPERTY)),
        )


def _name_of(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


def fields_for(policy: Policy, field_ids: Mapping[str, str] | None = None) -> list[str]:
    """The Jira field ids a sweep of `policy` asks for: the base fields, comments when any rule reads
    them, and every field named by the policy's conditions, required fields, tiers and field map."""
    ids = {k.lower(): v for k, v in (field_ids or {}).items()}
    wanted: list[str] = list(BASE_FIELDS)
    if needs_comments(policy):
        wanted.append("comment")
    names: set[str] = set(policy.spec.fields)
    for tier in policy.tiers:
        names.update(tier.set)
    for value in _walk(policy.spec):
        if isinstance(value, Condition):
            names.update(value.fields())
    validate = getattr(policy.spec, "validate_", None) or getattr(policy.spec, "validate", None)
    if isinstance(validate, BaseModel):
        names.update(getattr(validate, "required", []) or [])
        names.update(getattr(validate, "formats", {}) or {})
        for rule in getattr(validate, "rules", []) or []:
            names.update(rule.required)
            names.update(rule.formats)
    for name in sorted(names):
        jira_id = policy.spec.fields.get(name) or ids.get(name.lower())
        if jira_id is None and (name.startswith("customfield_") or name.lower() == name):
            jira_id = name
        if jira_id is None:
            log_event(log, "sweep.field_unknown", policy=policy.name, field=name)
            continue
        if jira_id not in wanted and jira_id not in ("key", "tier", "request type", "request_type"):
            wanted.append(jira_id)
    return wanted


def needs_changelog(policy: Policy) -> bool:
    """Whether decisions need the history: paused clocks, time in tier, stale and update timers all do."""
    spec = policy.spec
    return bool(
        spec.targets.first_response
        or spec.targets.resolution
        or spec.tiers
        or spec.escalate
        or spec.stale
        or spec.updates
        or spec.feedback
        or spec.credits
    )


def needs_comments(policy: Policy) -> bool:
    """Comments matter to first response, updates, stale reminders and text conditions: nearly always."""
    return True


def search_issues(
    gateway: Any,
    jql: str,
    fields: Sequence[str],
    *,
    expand: Sequence[str] = (),
    properties: Sequence[str] = (),
    page_size: int = 100,
) -> Iterator[dict[str, Any]]:
    """Issues matching `jql` with `fields`, the `expand`ed parts and issue `properties`, page by page:
    Cloud's /search/jql (nextPageToken) or Data Center's /search (startAt), through the gateway's
    paced, retried reads."""
    params: dict[str, Any] = {"jql": jql, "fields": ",".join(fields), "maxResults": page_size}
    if expand:
        params["expand"] = ",".join(expand)
    if properties:
        params["properties"] = ",".join(properties)
    if gateway.is_cloud:
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = gateway._get(
                paths.SEARCH_CLOUD, params={**params, **({"nextPageToken": token} if token else {})}
            )
            page = page or {}
            yield from page.get("issues") or []
            token = page.get("nextPageToken")
            if page.get("isLast") or not token or token in seen:
                return
            seen.add(token)
    else:
        start = 0
        while True:
            page = gateway._get(paths.SEARCH_DATA_CENTER, params={**params, "startAt": start}) or {}
            issues = page.get("issues") or []
            yield from issues
            start += len(issues)
            total = page.get("total")
            if not issues or (isinstance(total, int) and start >= total):
                return


def search_tickets(gateway: Any, jql: str, policy: Policy, page_size: int = 100) -> Iterator[SearchedTicket]:
    """Tickets for every issue matching `jql`, built from the search results alone (no request per
    ticket). The done keys come from the jsm-bridge.actions issue property, asked for in the search."""
    inner = getattr(gateway, "inner", gateway)  # a dry-run gateway reads through its inner gateway
    field_ids = inner.field_ids()
    fields = fields_for(policy, field_ids)
    history = needs_changelog(policy)
    issues = search_issues(
        inner,
        jql,
        fields,
        expand=("changelog", "names") if history else ("names",),
        properties=(paths.DONE_PROPERTY,),
        page_size=page_size,
    )
    flavor = inner.flavor
    bot_account = getattr(inner, "bot_account", None)  # its comments and changes are the bridge's own

    def build(issue: Mapping[str, Any]) -> Ticket:
        return ticket_from_issue(
            issue, policy, flavor, _done_keys(issue), field_ids=field_ids, bot_account=bot_account
        )

    for issue in issues:
        yield SearchedTicket(issue, build, history)


def _done_keys(issue: Mapping[str, Any]) -> frozenset[str]:
    value = (issue.get("properties") or {}).get(paths.DONE_PROPERTY)
    if isinstance(value, Mapping):  # some servers wrap the value
        value = value.get("value")
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def _complete(issue: Mapping[str, Any], history: bool) -> bool:
    """False when the search result holds only part of the changelog or of the comments."""
    if history:
        changelog = issue.get("changelog")
        if not isinstance(changelog, Mapping):
            return False
        total = changelog.get("total")
        histories = changelog.get("histories") or []
        if isinstance(total, int) and total > len(histories):
            return False
    block = (issue.get("fields") or {}).get("comment")
    if isinstance(block, Mapping):
        total = block.get("total")
        comments = block.get("comments") or []
        if isinstance(total, int) and total > len(comments):
            return False
    return True


def _walk(value: Any) -> Iterable[Any]:
    """Every value inside a policy spec: models, lists and mappings, depth first."""
    yield value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)
