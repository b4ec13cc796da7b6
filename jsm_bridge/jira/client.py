"""JiraGateway: the one place that speaks to Jira, Cloud or Data Center, on atlassian-python-api.

One method per operation. Reads retry on connection errors and 5xx; writes are never retried here
(the ledger retries them). Every failure leaves as a `jsm_bridge.jira.errors` exception."""

from __future__ import annotations

import difflib
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
from atlassian import Jira, ServiceDesk
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from jsm_bridge.clock import Clock, SystemClock
from jsm_bridge.jira import paths
from jsm_bridge.jira.adapter import field_ids_from_metadata, ticket_from_issue, user_id
from jsm_bridge.jira.config import CLOUD, Flavor, JiraConfig
from jsm_bridge.jira.errors import (
    AuthenticationFailed,
    BadRequest,
    FieldNotFound,
    JiraError,
    JiraRefused,
    JiraUnavailable,
    NotFound,
    RateLimited,
    TransitionNotAvailable,
)
from jsm_bridge.jira.logline import current_rule, log_event
from jsm_bridge.jira.models import ServerInfo, SlaMetric
from jsm_bridge.jira.ratelimit import Request, SiteBudget, parse_retry_after
from jsm_bridge.policy.model import Policy
from jsm_bridge.ticket import Ticket

log = logging.getLogger(__name__)


DONE_KEYS_KEPT = 500  # newest action keys kept in the jsm-bridge.actions issue property
RECORD_DONE_ATTEMPTS = 3  # writes of one done key when concurrent writers keep replacing the list
PAGE_SIZE = 100

# Field schema types whose values Jira takes as {"value": ...} or {"name": ...}.
_OPTION_TYPES = {"option", "option-with-child"}
_NAMED_TYPES = {"priority", "resolution", "version", "component", "issuetype", "group", "securitylevel"}
_MENTION = re.compile(r"\[~(?!accountid:)([^\]\s]+)\]")
_CLOUD_MENTION = re.compile(r"\[~accountid:([^\]\s]+)\]")


RequestObserver = Callable[[str, str, "int | None", float], None]
"""Called after every HTTP call to Jira: (method, path template such as rest/api/2/issue/{key}, status
or None when no answer came, seconds)."""

RetryObserver = Callable[[str, str], None]
"""Called before a read is retried: (reason: rate_limited or unavailable, path template)."""


class JiraGateway:
    """Jira operations for jsm-bridge. `session` is the transport seam: tests pass their own.

    `on_request` and `on_retry` are lists of observers (see `observe`): the receiver's metrics count
    calls and retries through them, without jsm_bridge importing anything of the receiver.

    The library is configured never to sleep or retry by itself; pacing, retries and error mapping
    happen here, in `_call`."""

    def __init__(
        self,
        config: JiraConfig,
        *,
        session: requests.Session | None = None,
        budget: SiteBudget | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep
        self._session = session or requests.Session()
        self._budget = budget or SiteBudget(
            config.requests_per_second, config.burst, clock=self._clock, sleep=sleep
        )
        self._flavor: Flavor | None = config.flavor
        self._lock = threading.Lock()
        # record_done reads, appends and writes an issue property: two threads recording on one issue
        # at once (an inbox worker and the due-check) would lose a key. A lock per issue, striped.
        self._done_locks = tuple(threading.Lock() for _ in range(64))
        self._fields: list[dict[str, Any]] | None = None
        self._bot_account: str | None = None
        self._transitions: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self._service_desk_projects: dict[str, bool] = {}
        self.on_request: list[RequestObserver] = []
        self.on_retry: list[RetryObserver] = []
        cloud = config.flavor == CLOUD
        self._jira = Jira(cloud=cloud, **self._library_options())
        self._service_desk = ServiceDesk(cloud=cloud, **self._library_options())

    @classmethod
    def from_env(cls, **kwargs: Any) -> JiraGateway:
        return cls(JiraConfig.from_env(), **kwargs)

    def _library_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "url": self.config.url,
            "session": self._session,
            "timeout": max(1, math.ceil(self.config.timeout)),
            # Never let the library sleep or retry: it would wait up to 30 minutes on a 429 and
            # could post a comment twice. Pacing and read retries are ours.
            "backoff_and_retry": False,
            "retry_with_header": False,
            "max_backoff_retries": 0,
            "max_backoff_seconds": max(1, math.ceil(self.config.max_retry_after)),
        }
        if self.config.user:
            options.update(username=self.config.user, password=self.config.token)
        elif self.config.token:
            options.update(token=self.config.token)
        return options

    def observe(
        self, on_request: RequestObserver | None = None, on_retry: RetryObserver | None = None
    ) -> None:
        """Add observers of every HTTP call and of every retry (metrics). An observer that raises is
        logged and otherwise ignored: counting must never break a call."""
        if on_request is not None:
            self.on_request.append(on_request)
        if on_retry is not None:
            self.on_retry.append(on_retry)

    def _notify_request(self, method: str, template: str, status: int | None, seconds: float) -> None:
        for observer in list(self.on_request):
            try:
                observer(method, template, status, seconds)
            except Exception:
                log.exception("jira.observer_failed observer=on_request")

    def close(self) -> None:
        """Release the HTTP session's connections."""
        self._session.close()

    def __repr__(self) -> str:
        return f"JiraGateway(url={self.config.url!r}, user={self.config.user!r}, flavor={self._flavor!r})"

    # -- site ---------------------------------------------------------------------------------------

    def server_info(self) -> ServerInfo:
        """GET /rest/api/2/serverInfo."""
        return ServerInfo.from_json(_object(self._get(paths.SERVER_INFO)))

    @property
    def flavor(self) -> Flavor:
        """The flavour, cloud or datacenter: from the configuration, else asked of serverInfo once."""
        if self._flavor is None:
            info = self.server_info()
            self._flavor = info.flavor
            self._jira.cloud = self._service_desk.cloud = info.flavor == CLOUD
            log_event(
                log, "jira.flavor_detected", url=self.config.url, flavor=info.flavor, version=info.version
            )
        return self._flavor

    @property
    def is_cloud(self) -> bool:
        return self.flavor == CLOUD

    @property
    def bot_account(self) -> str | None:
        """The account the bridge acts as (accountId on Cloud, user name on Data Center), from
        GET /rest/api/2/myself, asked once. Tickets built by the gateway give its comments and changes
        the author `actions.BOT_AUTHOR`."""
        if self._bot_account is None:
            found = user_id(_object(self._get(paths.MYSELF)), self.flavor)
            if found:
                self._bot_account = found
                log_event(log, "jira.bot_account", url=self.config.url, account=found)
        return self._bot_account

    def fields(self) -> list[dict[str, Any]]:
        """The site's field list (GET /rest/api/2/field), fetched once and cached."""
        with self._lock:
            cached = self._fields
        if cached is None:
            data = _array(self._get(paths.FIELDS))
            cached = [f for f in data if isinstance(f, dict)]
            with self._lock:
                self._fields = cached
        return cached

    def field_ids(self) -> dict[str, str]:
        """Field display names and JQL clause names (lower case) -> field ids."""
        return field_ids_from_metadata(self.fields())

    def field(self, name_or_id: str, ticket: str | None = None) -> dict[str, Any]:
        """A field's metadata by id, or by name (case-insensitive). Raises FieldNotFound."""
        fields = self.fields()
        for f in fields:
            if f.get("id") == name_or_id or f.get("key") == name_or_id:
                return f
        lowered = name_or_id.strip().lower()
        for f in fields:
            names = [f.get("name"), *(f.get("clauseNames") or [])]
            if any(isinstance(n, str) and n.lower() == lowered for n in names):
                return f
        known = [str(f.get("name")) for f in fields if f.get("name")]
        raise FieldNotFound(
            name_or_id, ticket=ticket, suggestions=difflib.get_close_matches(name_or_id, known, n=3)
        )

    # -- search -------------------------------------------------------------------------------------

    def search(
        self,
        jql: str,
        fields: Sequence[str] | None = None,
        page_size: int = PAGE_SIZE,
        *,
        expand: Sequence[str] = (),
        properties: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Every issue matching `jql`, page by page. Cloud: /rest/api/2/search/jql with nextPageToken
        (no total; fields must be asked for); Data Center: /rest/api/2/search with startAt.
        `expand` (e.g. changelog, names) and issue `properties` are asked for when given."""
        params: dict[str, Any] = {
            "jql": jql,
            "fields": ",".join(fields) if fields else "*navigable",
            "maxResults": page_size,
        }
        if expand:
            params["expand"] = ",".join(expand)
        if properties:
            params["properties"] = ",".join(properties)
        if self.is_cloud:
            yield from self._search_cloud(params)
        else:
            yield from self._search_data_center(params)

    def search_keys(self, jql: str, page_size: int = PAGE_SIZE) -> Iterator[str]:
        """The keys of every issue matching `jql`."""
        for issue in self.search(jql, fields=["key"], page_size=page_size):
            if issue.get("key"):
                yield str(issue["key"])

    def _search_cloud(self, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            page_params = {**params, "nextPageToken": token} if token else params
            page = _object(self._get(paths.SEARCH_CLOUD, params=page_params))
            yield from _issues(page)
            token = page.get("nextPageToken")
            if page.get("isLast") or not token or token in seen:
                return
            seen.add(token)

    def _search_data_center(self, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            page = _object(self._get(paths.SEARCH_DATA_CENTER, params={**params, "startAt": start}))
            issues = _issues(page)
            yield from issues
            start += len(issues)
            total = page.get("total")
            if not issues or (isinstance(total, int) and start >= total):
                return

    # -- reading an issue ---------------------------------------------------------------------------

    def fetch_issue(self, key: str) -> dict[str, Any]:
        """The issue (v2 JSON, with `names`) with its whole changelog in `changelog.histories` and every
        comment, with its JSM visibility properties, in `fields.comment.comments`."""
        if self.is_cloud:
            issue = _object(self._get(paths.ISSUE, key=key, params={"fields": "*all", "expand": "names"}))
            histories = list(self._pages(paths.ISSUE_CHANGELOG, "values", key=key))
        else:
            params = {"fields": "*all", "expand": "names,changelog"}
            issue = _object(self._get(paths.ISSUE, key=key, params=params))
            changelog = _object(issue.get("changelog"))
            histories = _array(changelog.get("histories"))
            total = changelog.get("total")
            if isinstance(total, int) and total > len(histories):
                log_event(
                    log,
                    "jira.changelog_truncated",
                    logging.WARNING,
                    ticket=key,
                    have=len(histories),
                    total=total,
                )
        comments = list(
            self._pages(paths.ISSUE_COMMENTS, "comments", key=key, params={"expand": "properties"})
        )
        issue = dict(issue)
        issue["changelog"] = {"startAt": 0, "total": len(histories), "histories": histories}
        issue["fields"] = {
            **_object(issue.get("fields")),
            "comment": {"comments": comments, "total": len(comments)},
        }
        return issue

    def fetch_ticket(self, key: str, policy: Policy) -> Ticket:
        """The issue as a Ticket for the decision core, with the action keys already done on it."""
        issue = self.fetch_issue(key)
        return ticket_from_issue(
            issue,
            policy,
            self.flavor,
            self.done_keys(key),
            field_ids=self.field_ids(),
            bot_account=self.bot_account,
        )

    def _pages(
        self, template: str, items: str, *, key: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items of a startAt-paged list (changelog values, comments) until isLast or total is reached."""
        start = 0
        while True:
            page = self._get(
                template, key=key, params={**(params or {}), "startAt": start, "maxResults": PAGE_SIZE}
            )
            page = _object(page)
            values = _array(page.get(items))
            yield from values
            start += len(values)
            total = page.get("total")
            if not values or page.get("isLast") is True or (isinstance(total, int) and start >= total):
                return

    # -- writes -------------------------------------------------------------------------------------

    def set_priority(self, key: str, jira_priority_name: str) -> None:
        """PUT /rest/api/2/issue/{key} with fields.priority.name."""
        self._write("PUT", paths.ISSUE, key=key, body={"fields": {"priority": {"name": jira_priority_name}}})

    def transition(
        self,
        key: str,
        to: str,
        resolution: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move the issue by the transition named `to`, or the one leading to status `to` (any case).

        Re-reads the issue first: when it is already in that status nothing is sent and False is returned.
        Raises TransitionNotAvailable, listing the transitions there are, when none matches."""
        issue = _object(self._get(paths.ISSUE, key=key, params={"fields": "status,project,issuetype"}))
        f = _object(issue.get("fields"))
        current = str(_object(f.get("status")).get("name") or "")
        if current.casefold() == to.casefold():
            log_event(log, "jira.not_acting", ticket=key, reason="already in status", status=current)
            return False
        workflow = (
            str(_object(f.get("project")).get("key") or key.rsplit("-", 1)[0]),
            str(_object(f.get("issuetype")).get("id") or _object(f.get("issuetype")).get("name") or ""),
        )
        if self._known_transition_into(workflow, to, current):
            log_event(log, "jira.not_acting", ticket=key, reason="transition already made", transition=to)
            return False
        cache_key = (*workflow, current.casefold())
        transitions = self._transitions_for(key, cache_key)
        chosen = _match_transition(transitions, to)
        if chosen is None:
            available = [f"{t.get('name')} (to {_object(t.get('to')).get('name')})" for t in transitions]
            raise TransitionNotAvailable(key, to, current, available)
        body: dict[str, Any] = {"transition": {"id": str(chosen.get("id"))}}
        values: dict[str, Any] = {}
        if resolution:
            screen = chosen.get("fields")
            # Jira sets the resolution only through the transition's screen; without it the call fails.
            if isinstance(screen, Mapping) and "resolution" not in screen:
                log_event(
                    log,
                    "jira.not_acting",
                    ticket=key,
                    reason="resolution is not on the transition screen",
                    transition=chosen.get("name"),
                    resolution=resolution,
                )
            else:
                values["resolution"] = {"name": resolution}
        if fields:
            values.update(self._field_values(fields, key))
        if values:
            body["fields"] = values
        try:
            self._write("POST", paths.ISSUE_TRANSITIONS, key=key, body=body)
        except JiraRefused:
            with self._lock:
                self._transitions.pop(cache_key, None)
            raise
        return True

    def _transitions_for(self, key: str, cache_key: tuple[str, str, str]) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._transitions.get(cache_key)
        if cached is not None:
            return cached
        data = _object(self._get(paths.ISSUE_TRANSITIONS, key=key, params={"expand": "transitions.fields"}))
        found = [t for t in _array(data.get("transitions")) if isinstance(t, dict)]
        with self._lock:
            self._transitions[cache_key] = found
        return found

    def _known_transition_into(self, workflow: tuple[str, str], to: str, current: str) -> bool:
        """True when `to` names a transition (seen before in this workflow) whose target is the current status."""
        with self._lock:
            lists = [v for k, v in self._transitions.items() if k[:2] == workflow]
        for transitions in lists:
            for t in transitions:
                target = str(_object(t.get("to")).get("name") or "")
                if (
                    str(t.get("name") or "").casefold() == to.casefold()
                    and target.casefold() == current.casefold()
                ):
                    return True
        return False

    def edit_fields(self, key: str, values: Mapping[str, Any]) -> None:
        """PUT /rest/api/2/issue/{key}: fields by name (any case) or id, values shaped by each field's schema."""
        if not values:
            log_event(log, "jira.not_acting", ticket=key, reason="no fields to set")
            return
        self._write("PUT", paths.ISSUE, key=key, body={"fields": self._field_values(values, key)})

    def _field_values(self, values: Mapping[str, Any], key: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in values.items():
            meta = self.field(name, ticket=key)
            out[str(meta["id"])] = self._shape(meta, value)
        return out

    def _shape(self, meta: Mapping[str, Any], value: Any) -> Any:
        schema = meta.get("schema") or {}
        kind = schema.get("type")
        if value is None:
            return None
        if kind == "array":
            items = value if isinstance(value, list | tuple | set | frozenset) else [value]
            return [self._shape_one(schema.get("items"), v) for v in items]
        return self._shape_one(kind, value)

    def _shape_one(self, kind: Any, value: Any) -> Any:
        if isinstance(value, Mapping):
            return dict(value)
        if kind in _OPTION_TYPES:
            return {"value": str(value)}
        if kind in _NAMED_TYPES:
            return {"name": str(value)}
        if kind == "user":
            return {"accountId": str(value)} if self.is_cloud else {"name": str(value)}
        if kind == "number" and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        """Add labels with the `update` verb: other labels stay."""
        self._label_update(key, "add", labels)

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        """Remove labels with the `update` verb: other labels stay."""
        self._label_update(key, "remove", labels)

    def _label_update(self, key: str, verb: str, labels: Iterable[str]) -> None:
        wanted = [str(label) for label in labels]
        if not wanted:
            log_event(log, "jira.not_acting", ticket=key, reason=f"no labels to {verb}")
            return
        body = {"update": {"labels": [{verb: label} for label in wanted]}}
        self._write("PUT", paths.ISSUE, key=key, body=body)

    def assign(self, key: str, user: str | None) -> None:
        """PUT /rest/api/2/issue/{key}/assignee: accountId on Cloud, name on Data Center; None unassigns."""
        body = {"accountId": user} if self.is_cloud else {"name": user}
        self._write("PUT", paths.ISSUE_ASSIGNEE, key=key, body=body)

    def add_comment(
        self,
        key: str,
        body: str,
        public: bool,
        mentions: Sequence[str] = (),
        *,
        action_key: str | None = None,
    ) -> str | None:
        """Post a comment; returns its id.

        With `action_key` (every comment the executor posts) the comment goes through the platform API,
        POST /rest/api/2/issue/{key}/comment, carrying two comment properties in the same request:
        sd.public.comment ({"internal": not public}) and jsm-bridge.action ({"key": action_key}), so
        Jira itself can later say which action posted it (`comment_action_keys`). Without one, a JSM
        request gets POST /rest/servicedeskapi/request/{key}/comment with `public`, another issue the
        platform API, internal ones with sd.public.comment {"internal": true}."""
        text = self.render_mentions(body, mentions)
        if action_key is not None:
            payload: dict[str, Any] = {
                "body": text,
                "properties": [
                    {"key": paths.SD_PUBLIC_COMMENT, "value": {"internal": not public}},
                    {"key": paths.ACTION_COMMENT_PROPERTY, "value": {"key": action_key}},
                ],
            }
            return _str_id(self._write("POST", paths.ISSUE_COMMENTS, key=key, body=payload))
        if self._is_service_desk(key):
            try:
                data = self._write(
                    "POST",
                    paths.REQUEST_COMMENT,
                    key=key,
                    body={"body": text, "public": public},
                    service_desk=True,
                )
                return _str_id(data)
            except NotFound:
                # Nothing was written: the issue is not a customer request. Use the platform API.
                log_event(log, "jira.comment_fallback", ticket=key, reason="not a service desk request")
        payload = {"body": text}
        if not public:
            payload["properties"] = [{"key": paths.SD_PUBLIC_COMMENT, "value": {"internal": True}}]
        return _str_id(self._write("POST", paths.ISSUE_COMMENTS, key=key, body=payload))

    def comment_action_keys(self, key: str) -> frozenset[str]:
        """The action keys the issue's comments carry (comment property jsm-bridge.action): which
        actions' comments Jira holds, whether or not their done keys were recorded."""
        comments = self._pages(paths.ISSUE_COMMENTS, "comments", key=key, params={"expand": "properties"})
        return frozenset(_comment_action_keys(comments))

    def render_mentions(self, body: str, mentions: Sequence[str] = ()) -> str:
        """Mentions as this flavour writes them: [~accountid:ID] on Cloud, [~name] on Data Center.

        Templates write [~ID]; mentions not already in the body are put on a first line."""
        if self.is_cloud:
            text = _MENTION.sub(lambda m: f"[~accountid:{m.group(1)}]", body)
            markup = [f"[~accountid:{m}]" for m in mentions]
        else:
            text = _CLOUD_MENTION.sub(lambda m: f"[~{m.group(1)}]", body)
            markup = [f"[~{m}]" for m in mentions]
        missing = [m for m in markup if m not in text]
        return " ".join(missing) + "\n" + text if missing else text

    def _is_service_desk(self, key: str) -> bool:
        project = key.rsplit("-", 1)[0]
        with self._lock:
            known = self._service_desk_projects.get(project)
        if known is not None:
            return known
        try:
            self._get(paths.REQUEST, key=key, service_desk=True)
            found = True
        except JiraRefused as error:
            if error.status not in (403, 404):
                raise
            # Not a customer request, or no service desk access: the platform API still works.
            found = False
        with self._lock:
            self._service_desk_projects[project] = found
        return found

    # -- issue properties and done keys -------------------------------------------------------------

    def get_property(self, key: str, name: str) -> Any:
        """The value of an issue property, or None when the issue has none by that name."""
        try:
            data = self._get(paths.ISSUE_PROPERTY, key=key, name=name)
        except NotFound:
            return None
        return data.get("value") if isinstance(data, Mapping) else None

    def set_property(self, key: str, name: str, value: Any) -> None:
        """PUT /rest/api/2/issue/{key}/properties/{name} with the JSON value."""
        self._write("PUT", paths.ISSUE_PROPERTY, key=key, name=name, body=value)

    def done_keys(self, key: str) -> frozenset[str]:
        """Action keys recorded on the issue (property jsm-bridge.actions)."""
        value = self.get_property(key, paths.DONE_PROPERTY)
        if not isinstance(value, list):
            return frozenset()
        return frozenset(str(v) for v in value)

    def record_done(self, key: str, action_key: str) -> None:
        """Append an action key to jsm-bridge.actions, keeping the newest 500.

        Jira has no compare-and-set for issue properties, so two instances writing at once could each
        replace the other's list. After writing, the property is read back; when the key is missing (a
        concurrent writer replaced the list) the write is repeated on the list as it now stands, merged,
        up to RECORD_DONE_ATTEMPTS times. This narrows the race without closing it (a slower writer can
        still replace a list that was confirmed), which is acceptable because the ledger is the
        authority and a comment carries its own key; a key still missing is logged, not raised. Within
        one process, threads recording on one issue (an inbox worker and the due-check) take turns."""
        with self._done_locks[hash(key.upper()) % len(self._done_locks)]:
            self._record_done(key, action_key)

    def _record_done(self, key: str, action_key: str) -> None:
        for attempt in range(1, RECORD_DONE_ATTEMPTS + 1):
            keys = self._done_list(key)
            if action_key in keys:
                if attempt == 1:
                    log_event(
                        log,
                        "jira.not_acting",
                        ticket=key,
                        reason="action key already recorded",
                        action=action_key,
                    )
                return
            self.set_property(key, paths.DONE_PROPERTY, [*keys, action_key][-DONE_KEYS_KEPT:])
            if action_key in self._done_list(key):
                return
            log_event(
                log, "jira.record_done_race", logging.WARNING, ticket=key, action=action_key, attempt=attempt
            )
        log_event(
            log,
            "jira.record_done_lost",
            logging.WARNING,
            ticket=key,
            action=action_key,
            reason=f"replaced by concurrent writers {RECORD_DONE_ATTEMPTS} times; the ledger still has it",
        )

    def _done_list(self, key: str) -> list[str]:
        value = self.get_property(key, paths.DONE_PROPERTY)
        return [str(v) for v in value] if isinstance(value, list) else []

    # -- JSM SLAs -----------------------------------------------------------------------------------

    def request_sla(self, key: str) -> list[SlaMetric]:
        """JSM's own SLA cycles for a request (GET /rest/servicedeskapi/request/{key}/sla, all pages)."""
        out: list[SlaMetric] = []
        start = 0
        while True:
            page = self._get(
                paths.REQUEST_SLA, key=key, service_desk=True, params={"start": start, "limit": 50}
            )
            page = _object(page)
            values = [v for v in _array(page.get("values")) if isinstance(v, Mapping)]
            out.extend(SlaMetric.from_json(v) for v in values)
            start += len(values)
            if not values or page.get("isLastPage", True):
                return out

    # -- the one place HTTP happens -----------------------------------------------------------------

    def _get(
        self,
        template: str,
        *,
        params: Mapping[str, Any] | None = None,
        service_desk: bool = False,
        **path_args: str,
    ) -> Any:
        """A read: paced, retried on connection errors, 5xx and 429 within the Retry-After bound."""
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.config.read_attempts)),
            retry=retry_if_exception(self._worth_retrying),
            wait=self._retry_wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        return retrying(self._call, "GET", template, path_args, params=params, service_desk=service_desk)

    def _write(
        self,
        method: str,
        template: str,
        *,
        body: Any,
        service_desk: bool = False,
        **path_args: str,
    ) -> Any:
        """A write: paced, sent once. A failure is raised for the ledger to retry."""
        data = self._call(method, template, path_args, body=body, service_desk=service_desk)
        log_event(
            log,
            "jira.write",
            method=method,
            endpoint=template,
            ticket=path_args.get("key"),
            rule=current_rule.get(),
        )
        return data

    def _worth_retrying(self, error: BaseException) -> bool:
        if not isinstance(error, JiraUnavailable | RateLimited):
            return False
        return error.retry_after is None or error.retry_after <= self.config.max_retry_after

    def _retry_wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, JiraError) and error.retry_after is not None:
            return 0.0  # the site budget holds the next attempt until Retry-After has passed
        # Exponential backoff with jitter, so that workers retrying together spread out.
        initial = self.config.backoff_initial
        backoff: float = min(self.config.backoff_max, initial * 2.0 ** (state.attempt_number - 1))
        return backoff + random.uniform(0, initial)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        reason = "rate_limited" if isinstance(error, RateLimited) else "unavailable"
        template = str(state.args[1]) if len(state.args) > 1 else ""
        for observer in list(self.on_retry):
            try:
                observer(reason, template)
            except Exception:
                log.exception("jira.observer_failed observer=on_retry")
        log_event(
            log,
            "jira.retry",
            logging.WARNING,
            attempt=state.attempt_number,
            error=type(error).__name__,
            detail=str(error),
        )

    def _call(
        self,
        method: str,
        template: str,
        path_args: Mapping[str, str],
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        service_desk: bool = False,
    ) -> Any:
        path = template.format(**{k: quote(str(v), safe="") for k, v in path_args.items()})
        ticket = path_args.get("key")
        request = Request(method=method, endpoint=template, issue=ticket)
        self._budget.acquire(request, max_wait=self.config.max_retry_after)
        client = self._service_desk if service_desk else self._jira
        headers = dict(client.default_headers)
        if service_desk:
            headers["X-ExperimentalApi"] = "opt-in"
        started = time.monotonic()
        try:
            response = client.request(
                method,
                path,
                data=body,
                params=dict(params) if params else None,
                headers=headers,
                advanced_mode=True,  # the raw response: the library's raise_for_status is not used
            )
        except requests.Timeout:
            self._notify_request(method, template, None, time.monotonic() - started)
            raise JiraUnavailable(
                f"{method} {self.config.url}/{path}: no answer within {self.config.timeout:.0f}s",
                ticket=ticket,
            ) from None
        except requests.RequestException as error:
            self._notify_request(method, template, None, time.monotonic() - started)
            raise JiraUnavailable(
                f"{method} {self.config.url}/{path}: cannot reach Jira ({type(error).__name__})",
                ticket=ticket,
            ) from None
        except Exception as error:  # the library's own bugs must not leak either
            self._notify_request(method, template, None, time.monotonic() - started)
            raise JiraError(
                f"{method} {self.config.url}/{path}: the Jira client failed ({type(error).__name__}: {error})",
                ticket=ticket,
            ) from None
        seconds = time.monotonic() - started
        self._notify_request(method, template, response.status_code, seconds)
        log_event(
            log,
            "jira.request",
            logging.DEBUG,
            method=method,
            path=path,
            status=response.status_code,
            ms=round(seconds * 1000),
        )
        if response.status_code >= 400:
            raise self._error(response, method, path, request)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def _error(self, response: requests.Response, method: str, path: str, request: Request) -> JiraError:
        status = response.status_code
        ticket = request.issue
        where = f"{method} {self.config.url}/{path}"
        messages, errors = _error_details(response)
        detail = "; ".join([*messages, *(f"{k}: {v}" for k, v in errors.items())])
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
        if status == 429:
            reason = response.headers.get("RateLimit-Reason")
            scope = self._budget.pause(request, retry_after, reason) if retry_after is not None else "site"
            log_event(
                log,
                "jira.rate_limited",
                logging.WARNING,
                ticket=ticket,
                reason=reason,
                scope=scope,
                retry_after=retry_after,
                endpoint=request.endpoint,
                method=method,
            )
            return RateLimited(
                f"{where}: Jira rate limit ({reason or 'no reason given'}); retry after "
                f"{'an unknown time' if retry_after is None else f'{retry_after:.0f}s'}",
                retry_after=retry_after,
                reason=reason,
                scope=scope,
                ticket=ticket,
            )
        if status >= 500:
            if retry_after is not None:
                self._budget.pause(request, retry_after, None)
            return JiraUnavailable(
                f"{where}: Jira answered {status}{': ' + detail if detail else ''}",
                status=status,
                ticket=ticket,
                retry_after=retry_after,
            )
        if status in (401, 403):
            who = f"user {self.config.user!r}" if self.config.user else "the personal access token"
            action = "refused the credentials of" if status == 401 else "does not allow this for"
            return AuthenticationFailed(
                f"{where}: Jira {action} {who} ({status}). Check JSM_BRIDGE_JIRA_USER and "
                "JSM_BRIDGE_JIRA_TOKEN, and the user's permissions in the project.",
                status=status,
                ticket=ticket,
                error_messages=messages,
                errors=errors,
            )
        kinds: dict[int, type[JiraRefused]] = {400: BadRequest, 404: NotFound}
        kind = kinds.get(status, JiraRefused)
        return kind(
            f"{where}: Jira answered {status}{': ' + detail if detail else ''}",
            status=status,
            ticket=ticket,
            error_messages=messages,
            errors=errors,
        )


def _match_transition(transitions: Sequence[Mapping[str, Any]], to: str) -> Mapping[str, Any] | None:
    """The transition named `to`, else the first leading to status `to` (case-insensitive)."""
    wanted = to.strip().casefold()
    for t in transitions:
        if str(t.get("name") or "").casefold() == wanted:
            return t
    for t in transitions:
        if str(_object(t.get("to")).get("name") or "").casefold() == wanted:
            return t
    return None


def _error_details(response: requests.Response) -> tuple[list[str], dict[str, str]]:
    """Jira's errorMessages and errors (platform API) or errorMessage (JSM API), whatever the body is."""
    try:
        data = response.json()
    except ValueError:
        return [], {}
    if not isinstance(data, Mapping):
        return [], {}
    messages = [str(m) for m in data.get("errorMessages") or [] if m]
    if data.get("errorMessage"):
        messages.append(str(data["errorMessage"]))
    raw = data.get("errors")
    errors = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    return messages, errors


def _object(data: Any) -> dict[str, Any]:
    """A JSON object from Jira's answer; anything else (an odd body, null) reads as an empty object."""
    return dict(data) if isinstance(data, Mapping) else {}


def _array(data: Any) -> list[Any]:
    """A JSON array from Jira's answer; anything else reads as an empty array."""
    return list(data) if isinstance(data, list) else []


def _issues(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [i for i in _array(page.get("issues")) if isinstance(i, dict)]


def _comment_action_keys(comments: Iterable[Any]) -> Iterator[str]:
    """Action keys from comments read with expand=properties."""
    for comment in comments:
        for prop in _array(_object(comment).get("properties")):
            prop = _object(prop)
            if prop.get("key") == paths.ACTION_COMMENT_PROPERTY:
                value = _object(prop.get("value")).get("key")
                if isinstance(value, str) and value:
                    yield value


def _str_id(data: Any) -> str | None:
    if isinstance(data, Mapping) and data.get("id") is not None:
        return str(data["id"])
    return None
