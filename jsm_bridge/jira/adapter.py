"""Jira issue JSON (Cloud or Data Center, v2 or v3) to the Ticket the decision core understands.

Null or missing values anywhere give None or empty values, never an exception: Jira omits what it likes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from jsm_bridge.actions import BOT_AUTHOR
from jsm_bridge.jira.adf import adf_to_text, is_adf
from jsm_bridge.jira.config import CLOUD, Flavor
from jsm_bridge.jira.logline import log_event
from jsm_bridge.jira.paths import SD_PUBLIC_COMMENT
from jsm_bridge.policy.model import Policy
from jsm_bridge.policy.schema import TierDef
from jsm_bridge.ticket import ASSIGNEE, LABELS, PRIORITY, STATUS, TIER, Change, Comment, Ticket

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Fields the Ticket holds as attributes, and fields that are lists of records rather than values.
_SNAPSHOT_FIELDS = {"status", "priority", "reporter", "assignee", "labels", "created"}
_SKIPPED_FIELDS = {"comment", "worklog", "attachment"}
# System fields whose changelog `field` is their id (in English); a translated name is looked up instead.
_SYSTEM_FIELD_IDS = {
    "status",
    "priority",
    "labels",
    "assignee",
    "reporter",
    "resolution",
    "summary",
    "description",
    "duedate",
    "issuetype",
    "components",
}


def ticket_from_issue(
    issue: Mapping[str, Any],
    policy: Policy,
    flavor: Flavor,
    done: frozenset[str] = frozenset(),
    *,
    field_ids: Mapping[str, str] | None = None,
    bot_account: str | None = None,
) -> Ticket:
    """The Ticket for an issue read with its changelog and comments (as `JiraGateway.fetch_issue` returns it).

    `field_ids` maps field display names (any case) to ids, from the site's field list; the issue's own
    `names` (expand=names) are used too. Data Center changelog items have no fieldId and carry names only.

    `bot_account` is the Jira account the bridge acts as (accountId on Cloud, user name on Data Center, as
    `/rest/api/2/myself` gives it): its comments and changes get the author `actions.BOT_AUTHOR`, so the
    decision core knows its own acknowledgements (no first response) and its own priority changes."""
    reader = _IssueReader(issue, policy, flavor, field_ids or {}, bot_account)
    return reader.ticket(done)


def parse_time(value: Any) -> datetime | None:
    """A time-zone-aware datetime from Jira's formats (2026-11-23T09:00:00.000+0000, ISO 8601, JSM DateDTO)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        if value.get("iso8601"):
            return parse_time(value["iso8601"])
        try:
            return datetime.fromtimestamp(int(value["epochMillis"]) / 1000, tz=UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def user_id(user: Any, flavor: Flavor) -> str | None:
    """A user's identity: accountId on Cloud; name (else key) on Data Center. Strings pass through."""
    if user is None:
        return None
    if isinstance(user, str):
        return user or None
    if not isinstance(user, Mapping):
        return str(user)
    if flavor == CLOUD:
        found = user.get("accountId") or user.get("name") or user.get("key")
    else:
        found = user.get("name") or user.get("key") or user.get("accountId")
    return str(found) if found else None


def plain_value(value: Any, flavor: Flavor) -> Any:
    """A field value as plain data: option -> its value, user -> id, named object -> name, lists element-wise."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [plain_value(v, flavor) for v in value]
    if not isinstance(value, Mapping):
        return str(value)
    if is_adf(value):
        return adf_to_text(value)
    if "requestType" in value and isinstance(value["requestType"], Mapping):
        return value["requestType"].get("name")
    if "accountId" in value or ("emailAddress" in value or "displayName" in value) and "key" in value:
        return user_id(value, flavor)
    if "value" in value:
        return value.get("value")
    if "projectTypeKey" in value and value.get("key"):
        return value.get("key")
    if "name" in value:
        return value.get("name")
    if "displayName" in value:
        return value.get("displayName")
    return dict(value)


class _IssueReader:
    """Reads one issue's JSON; holds the lookups (field ids and names, user keys) the parts share."""

    def __init__(
        self,
        issue: Mapping[str, Any],
        policy: Policy,
        flavor: Flavor,
        field_ids: Mapping[str, str],
        bot_account: str | None = None,
    ) -> None:
        self.issue = issue
        self.bot_account = bot_account
        self.policy = policy
        self.flavor = flavor
        self.key = str(issue.get("key") or issue.get("id") or "")
        self.fields: Mapping[str, Any] = _map(issue.get("fields"))
        names = _map(issue.get("names"))
        self.names: dict[str, str] = {str(k): str(v) for k, v in names.items() if v}
        self.id_by_name: dict[str, str] = {str(k).lower(): str(v) for k, v in field_ids.items()}
        for fid, name in self.names.items():
            self.id_by_name.setdefault(name.lower(), fid)
        self.policy_name_by_id = {jid: name for name, jid in policy.spec.fields.items()}
        self.user_names = self._user_names_by_key()

    # -- the snapshot -------------------------------------------------------------------------------

    def ticket(self, done: frozenset[str]) -> Ticket:
        f = self.fields
        reporter = self.user(f.get("reporter"))
        changes = self.changes()
        created = parse_time(f.get("created"))
        if created is None:
            created = changes[0].at if changes else EPOCH
            log_event(log, "jira.adapter.no_created", ticket=self.key, using=created.isoformat())
        return Ticket(
            key=self.key,
            created=created,
            status=str(_name(f.get("status")) or ""),
            priority=self.policy.priority_from_jira(_name(f.get("priority"))),
            reporter=reporter,
            assignee=self.user(f.get("assignee")),
            tier=self.tier_of(self.current_state()),
            labels=frozenset(str(x) for x in _list(f.get("labels"))),
            fields=self.ticket_fields(),
            changes=changes,
            comments=self.comments(reporter),
            done=frozenset(done),
            request_type=self.request_type(),
        )

    def user(self, value: Any) -> str | None:
        return user_id(value, self.flavor)

    def author(self, value: Any) -> str | None:
        """Who wrote a comment or made a change: the bridge's own account is `BOT_AUTHOR`."""
        found = self.user(value)
        if found is not None and self.bot_account and _is_account(value, found, self.bot_account):
            return BOT_AUTHOR
        return found

    def ticket_fields(self) -> dict[str, Any]:
        """Every other field under its id, its display name and the policy's name for it."""
        out: dict[str, Any] = {}
        for fid, raw in self.fields.items():
            if fid in _SNAPSHOT_FIELDS or fid in _SKIPPED_FIELDS:
                continue
            value = plain_value(raw, self.flavor)
            out[fid] = value
            display = self.names.get(fid)
            if display:
                out.setdefault(display, value)
            policy_name = self.policy_name_by_id.get(fid)
            if policy_name:
                out[policy_name] = value
        return out

    def request_type(self) -> str | None:
        for name in ("Request type", "Request Type", "request_type", "Customer Request Type"):
            jid = self.policy.spec.fields.get(name)
            if jid and self.fields.get(jid) is not None:
                return _str_or_none(plain_value(self.fields[jid], self.flavor))
        for raw in self.fields.values():
            if isinstance(raw, Mapping) and isinstance(raw.get("requestType"), Mapping):
                return _str_or_none(raw["requestType"].get("name"))
        return None

    # -- tiers --------------------------------------------------------------------------------------

    def tier_fields(self) -> dict[str, str]:
        """Jira field id for each field that some tier sets (keys as the tiers name them)."""
        out: dict[str, str] = {}
        for tier in self.policy.tiers:
            for name in tier.set:
                out[name] = self.field_id(name) or name
        return out

    def current_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            jid: plain_value(self.fields.get(jid), self.flavor) for jid in self.tier_fields().values()
        }
        state[LABELS] = {str(x) for x in _list(self.fields.get("labels"))}
        return state

    def tier_of(self, state: Mapping[str, Any]) -> str | None:
        """The last tier whose fields and labels the state has; None when no tier matches."""
        ids = self.tier_fields()
        found: str | None = None
        for tier in self.policy.tiers:
            if _tier_matches(tier, state, ids):
                found = tier.name
        return found

    # -- history ------------------------------------------------------------------------------------

    def histories(self) -> list[Mapping[str, Any]]:
        changelog = _map(self.issue.get("changelog"))
        raw = _list(changelog.get("histories")) or _list(changelog.get("values"))
        dated = [(parse_time(h.get("created")), i, h) for i, h in enumerate(raw) if isinstance(h, Mapping)]
        return [h for at, _, h in sorted((d for d in dated if d[0] is not None), key=lambda d: (d[0], d[1]))]

    def item_field_id(self, item: Mapping[str, Any]) -> str | None:
        if item.get("fieldId"):
            return str(item["fieldId"])
        name = str(item.get("field") or "")
        if name.lower() in _SYSTEM_FIELD_IDS:
            return name.lower()
        return self.id_by_name.get(name.lower())

    def changes(self) -> tuple[Change, ...]:
        histories = self.histories()
        out: list[Change] = []
        for history in histories:
            at = parse_time(history.get("created"))
            assert at is not None
            author = self.author(history.get("author"))
            for item in _list(history.get("items")):
                if isinstance(item, Mapping):
                    out.append(self.change(item, at, author))
        # Oldest first; a tier move follows the field change that caused it (the sort is stable).
        return tuple(sorted([*out, *self.tier_changes(histories)], key=lambda c: c.at))

    def change(self, item: Mapping[str, Any], at: datetime, author: str | None) -> Change:
        fid = self.item_field_id(item)
        handler = _CHANGE_HANDLERS.get(fid or "")
        if handler is not None:
            return handler(self, item, at, author)
        name = (
            self.policy_name_by_id.get(fid or "")
            or self.names.get(fid or "")
            or str(item.get("field") or fid or "")
        )
        old = item.get("fromString") if item.get("fromString") is not None else item.get("from")
        new = item.get("toString") if item.get("toString") is not None else item.get("to")
        return Change(at=at, field=name, old=old, new=new, author=author)

    def tier_changes(self, histories: list[Mapping[str, Any]]) -> tuple[Change, ...]:
        """Tier moves, replayed from the changes to the fields and labels that tiers set."""
        ids = set(self.tier_fields().values())
        if not ids and not any(t.labels for t in self.policy.tiers):
            return ()
        relevant = ids | {LABELS}

        def touched(history: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
            out = []
            for item in _list(history.get("items")):
                fid = self.item_field_id(item) if isinstance(item, Mapping) else None
                if fid in relevant:
                    out.append((fid, item))
            return out

        state = self.current_state()
        for history in reversed(histories):
            for fid, item in touched(history):
                state[fid] = _state_value(fid, item.get("fromString"))
        tier = self.tier_of(state)
        out: list[Change] = []
        for history in histories:
            items = touched(history)
            if not items:
                continue
            for fid, item in items:
                state[fid] = _state_value(fid, item.get("toString"))
            new_tier = self.tier_of(state)
            if new_tier != tier:
                at = parse_time(history.get("created"))
                assert at is not None
                out.append(
                    Change(
                        at=at, field=TIER, old=tier, new=new_tier, author=self.author(history.get("author"))
                    )
                )
                tier = new_tier
        return tuple(out)

    def field_id(self, name: str) -> str | None:
        """A Jira field id for a policy name, display name or id."""
        if name in self.policy.spec.fields:
            return self.policy.spec.fields[name]
        if name in self.fields or name.startswith("customfield_"):
            return name
        return self.id_by_name.get(name.lower())

    # -- comments -----------------------------------------------------------------------------------

    def comments(self, reporter: str | None) -> tuple[Comment, ...]:
        block = self.fields.get("comment")
        raw = block.get("comments") if isinstance(block, Mapping) else block
        out = []
        for c in _list(raw):
            if not isinstance(c, Mapping):
                continue
            at = parse_time(c.get("created"))
            if at is None:
                continue
            author = self.author(c.get("author")) or ""
            out.append(
                Comment(
                    at=at,
                    author=author,
                    role="customer" if reporter is not None and author == reporter else "agent",
                    public=comment_is_public(c),
                    body=adf_to_text(c.get("body")),
                    id=_str_or_none(c.get("id")),
                )
            )
        return tuple(sorted(out, key=lambda c: c.at))

    def _user_names_by_key(self) -> dict[str, str]:
        """Data Center changelogs name users by key (JIRAUSER10100); users seen on the issue give their names."""
        found: dict[str, str] = {}

        def note(user: Any) -> None:
            if isinstance(user, Mapping) and user.get("key") and user.get("name"):
                found[str(user["key"])] = str(user["name"])

        for value in self.fields.values():
            for v in value if isinstance(value, list) else [value]:
                note(v)
        for history in _list(_map(self.issue.get("changelog")).get("histories")):
            note(history.get("author") if isinstance(history, Mapping) else None)
        for c in _list(_map(self.fields.get("comment")).get("comments")):
            note(c.get("author") if isinstance(c, Mapping) else None)
        return found

    def user_from_item(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        text = str(value)
        return text if self.flavor == CLOUD else self.user_names.get(text, text)


def _is_account(value: Any, found: str, account: str) -> bool:
    """Whether a user (as Jira gives it) is `account`: by the id read from it, or, for a Data Center
    user record, by any of its name, key or accountId."""
    if found == account:
        return True
    if isinstance(value, Mapping):
        return any(value.get(k) == account for k in ("accountId", "name", "key"))
    return False


def comment_is_public(comment: Mapping[str, Any]) -> bool:
    """Whether the customer sees a comment: JSM's jsdPublic / public flag, else the sd.public.comment
    property, else a visibility restriction (role or group) makes it internal."""
    for flag in ("jsdPublic", "public"):
        if isinstance(comment.get(flag), bool):
            return bool(comment[flag])
    for prop in _list(comment.get("properties")):
        if isinstance(prop, Mapping) and prop.get("key") == SD_PUBLIC_COMMENT:
            value = prop.get("value")
            if isinstance(value, Mapping) and value.get("internal") in (True, "true"):
                return False
    return not comment.get("visibility")


def _status_change(r: _IssueReader, item: Mapping[str, Any], at: datetime, author: str | None) -> Change:
    return Change(at=at, field=STATUS, old=item.get("fromString"), new=item.get("toString"), author=author)


def _priority_change(r: _IssueReader, item: Mapping[str, Any], at: datetime, author: str | None) -> Change:
    return Change(
        at=at,
        field=PRIORITY,
        old=r.policy.priority_from_jira(item.get("fromString")),
        new=r.policy.priority_from_jira(item.get("toString")),
        author=author,
    )


def _labels_change(r: _IssueReader, item: Mapping[str, Any], at: datetime, author: str | None) -> Change:
    return Change(
        at=at,
        field=LABELS,
        old=sorted(_labels(item.get("fromString"))),
        new=sorted(_labels(item.get("toString"))),
        author=author,
    )


def _assignee_change(r: _IssueReader, item: Mapping[str, Any], at: datetime, author: str | None) -> Change:
    return Change(
        at=at,
        field=ASSIGNEE,
        old=r.user_from_item(item.get("from")),
        new=r.user_from_item(item.get("to")),
        author=author,
    )


_ChangeHandler = Callable[[_IssueReader, Mapping[str, Any], datetime, "str | None"], Change]
_CHANGE_HANDLERS: dict[str, _ChangeHandler] = {
    "status": _status_change,
    "priority": _priority_change,
    "labels": _labels_change,
    "assignee": _assignee_change,
}


def _tier_matches(tier: TierDef, state: Mapping[str, Any], ids: Mapping[str, str]) -> bool:
    if not tier.set and not tier.labels:
        return False
    for name, wanted in tier.set.items():
        if not _same(state.get(ids.get(name, name)), wanted):
            return False
    labels = state.get(LABELS) or set()
    return all(label in labels for label in tier.labels)


def _same(have: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return isinstance(have, list) and sorted(map(_fold, have)) == sorted(map(_fold, wanted))
    if isinstance(have, list):
        return _fold(wanted) in map(_fold, have)
    return have is not None and _fold(have) == _fold(wanted)


def _fold(value: Any) -> str:
    return str(value).strip().casefold()


def _state_value(fid: str, text: Any) -> Any:
    if fid == LABELS:
        return _labels(text)
    return text if text not in ("", None) else None


def _labels(text: Any) -> set[str]:
    return set(str(text).split()) if text else set()


def _map(value: Any) -> Mapping[str, Any]:
    """The value when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    """The value when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return _str_or_none(value.get("name"))
    return _str_or_none(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def field_ids_from_metadata(fields: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Display name (lower case) and each JQL clause name -> field id, from /rest/api/2/field."""
    out: dict[str, str] = {}
    for f in fields:
        fid = f.get("id")
        if not fid:
            continue
        for name in [f.get("name"), *(f.get("clauseNames") or [])]:
            if name:
                out.setdefault(str(name).lower(), str(fid))
    return out
