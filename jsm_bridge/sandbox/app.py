"""The sandbox's HTTP face: Jira Cloud's (or Data Center's) REST paths and JSON, plus /_sandbox/ controls.

A plain WSGI application on werkzeug's router; one small handler per Jira operation."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from jsm_bridge.sandbox.catalog import ISSUE_TYPES, RESOLUTIONS, STATUS_CATEGORIES
from jsm_bridge.sandbox.faults import FaultInjector, Faults
from jsm_bridge.sandbox.jql import JqlError, Query, compile_jql
from jsm_bridge.sandbox.model import Issue, RequestRecord, Webhook
from jsm_bridge.sandbox.render import CLOUD, Renderer, jira_time, parse_field_list
from jsm_bridge.sandbox.state import JiraError, SandboxState, is_internal
from jsm_bridge.sandbox.webhooks import EVENTS, ISSUE_FILTER, WebhookSender

log = logging.getLogger("jsm_bridge.sandbox")

API = "/rest/api/<any('2','3','latest'):version>"
ROUTES: list[tuple[str, str, Iterable[str]]] = [
    (f"{API}/serverInfo", "server_info", ["GET"]),
    (f"{API}/myself", "myself", ["GET"]),
    (f"{API}/user", "user", ["GET"]),
    (f"{API}/search/jql", "search_jql", ["GET", "POST"]),
    (f"{API}/search", "search", ["GET", "POST"]),
    (f"{API}/issue", "create_issue", ["POST"]),
    (f"{API}/issue/createmeta", "createmeta", ["GET"]),
    (f"{API}/issue/<key>", "issue", ["GET", "PUT", "DELETE"]),
    (f"{API}/issue/<key>/changelog", "changelog", ["GET"]),
    (f"{API}/issue/<key>/assignee", "assignee", ["PUT"]),
    (f"{API}/issue/<key>/transitions", "transitions", ["GET", "POST"]),
    (f"{API}/issue/<key>/comment", "comments", ["GET", "POST"]),
    (f"{API}/issue/<key>/comment/<comment_id>", "comment", ["GET", "PUT", "DELETE"]),
    (f"{API}/issue/<key>/properties", "properties", ["GET"]),
    (f"{API}/issue/<key>/properties/<name>", "issue_property", ["GET", "PUT", "DELETE"]),
    (f"{API}/priority", "priorities", ["GET"]),
    (f"{API}/field", "fields", ["GET"]),
    (f"{API}/status", "statuses", ["GET"]),
    (f"{API}/statuscategory", "status_categories", ["GET"]),
    (f"{API}/resolution", "resolutions", ["GET"]),
    (f"{API}/project", "projects", ["GET"]),
    (f"{API}/project/<key>", "project", ["GET"]),
    ("/rest/servicedeskapi/request/<key>", "sd_request", ["GET"]),
    ("/rest/servicedeskapi/request/<key>/comment", "sd_comments", ["GET", "POST"]),
    ("/rest/servicedeskapi/request/<key>/comment/<comment_id>", "sd_comment", ["GET"]),
    ("/rest/servicedeskapi/request/<key>/sla", "sd_sla", ["GET"]),
    ("/rest/webhooks/1.0/webhook", "webhooks", ["GET", "POST"]),
    ("/rest/webhooks/1.0/webhook/<webhook_id>", "webhook", ["GET", "PUT", "DELETE"]),
    ("/_sandbox/clock", "sandbox_clock", ["GET", "POST"]),
    ("/_sandbox/faults", "sandbox_faults", ["GET", "POST"]),
    ("/_sandbox/bulk", "sandbox_bulk", ["POST"]),
    ("/_sandbox/requests", "sandbox_requests", ["GET", "DELETE"]),
    ("/_sandbox/deliveries", "sandbox_deliveries", ["GET"]),
    ("/_sandbox/webhooks/flush", "sandbox_flush", ["POST"]),
]

URL_MAP = Map([Rule(path, endpoint=endpoint, methods=list(methods)) for path, endpoint, methods in ROUTES])

Handler = Callable[..., Response]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json;charset=UTF-8")


def no_content(status: int = 204) -> Response:
    return Response(status=status)


class SandboxApp:
    """The WSGI application. `token`, when set, is the only API token or personal access token accepted."""

    def __init__(
        self,
        state: SandboxState,
        renderer: Renderer,
        injector: FaultInjector,
        sender: WebhookSender,
        token: str | None = None,
        log_requests: bool = False,
    ) -> None:
        self.state = state
        self.renderer = renderer
        self.injector = injector
        self.sender = sender
        self.token = token
        self.log_requests = log_requests

    @property
    def cloud(self) -> bool:
        return self.renderer.flavor == CLOUD

    # --- WSGI --------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        user: str | None = None
        try:
            user = self.authenticate(request)
            response = self.faulted(request) or self.dispatch(request, user)
        except JiraError as error:
            response = json_response(error.body(), error.status)
        except NotFound:
            response = json_response({"errorMessages": [f"null for uri: {request.url}"], "errors": {}}, 404)
        except MethodNotAllowed:
            response = json_response({"errorMessages": ["Method Not Allowed"], "errors": {}}, 405)
        except HTTPException as error:
            response = json_response(
                {"errorMessages": [error.description or ""], "errors": {}}, error.code or 500
            )
        except Exception:  # a sandbox bug must answer like a server error, not kill the thread
            log.exception("sandbox_error method=%s path=%s", request.method, request.path)
            response = json_response({"errorMessages": ["Internal server error"], "errors": {}}, 500)
        duration = (time.perf_counter() - started) * 1000
        record = RequestRecord(
            request.method,
            request.path,
            request.query_string.decode(),
            response.status_code,
            self.state.now(),
            duration,
            user,
        )
        self.state.log_request(record)
        if self.log_requests:
            log.info(
                "request method=%s path=%s status=%s ms=%.1f",
                record.method,
                record.path,
                record.status,
                duration,
            )
        return response(environ, start_response)

    def authenticate(self, request: Request) -> str:
        """The acting user: Basic's user name, or the default user for a Bearer token or no credentials."""
        header = request.headers.get("Authorization", "")
        default = self.state.catalog.default_user
        if request.path.startswith("/_sandbox/"):
            return default
        scheme, _, credentials = header.partition(" ")
        user, secret = default, None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise JiraError(401, ["Client must be authenticated to access this resource."]) from None
            name, _, secret = decoded.partition(":")
            user = self.state.user(name) or default
        elif scheme.lower() == "bearer":
            secret = credentials
        if self.token is not None and secret != self.token:
            raise JiraError(401, ["Client must be authenticated to access this resource."])
        return user

    def faulted(self, request: Request) -> Response | None:
        if not request.path.startswith("/rest/"):
            return None
        verdict = self.injector.request(request.path, self.state.now())
        if verdict.delay_ms:
            time.sleep(verdict.delay_ms / 1000)
        if verdict.status is None:
            return None
        messages = {
            429: "Rate limit exceeded.",
            500: "Internal server error",
            503: "Service Unavailable",
        }
        response = json_response(
            {"errorMessages": [messages.get(verdict.status, "")], "errors": {}}, verdict.status
        )
        for name, value in verdict.headers:
            response.headers[name] = value
        return response

    def dispatch(self, request: Request, user: str) -> Response:
        adapter = URL_MAP.bind_to_environ(request.environ)
        endpoint, matched = adapter.match()
        values = dict(matched)
        if "version" in values:
            values["version"] = 3 if values["version"] == "3" else 2
        handler: Handler = getattr(self, f"on_{endpoint}")
        if endpoint == "sandbox_flush":  # waits for deliveries: must not hold up other requests
            return handler(request, user, **values)
        # One request at a time sees and changes the records: responses are consistent snapshots.
        with self.state.lock:
            return handler(request, user, **values)

    # --- request parsing -----------------------------------------------------------------------------
    @staticmethod
    def body(request: Request) -> dict[str, Any]:
        if not request.data:
            return {}
        try:
            data = json.loads(request.data)
        except ValueError as exc:
            raise JiraError(400, [f"Unexpected character in the request body: {exc}"]) from None
        if not isinstance(data, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        return data

    def issue_json(
        self,
        issue: Issue,
        version: int,
        wanted: set[str] | None,
        expand: set[str],
        default: str,
        properties: set[str] | None = None,
    ) -> dict[str, Any]:
        """The issue's JSON; `properties` (names or `*all`) adds those issue properties, as Jira does."""
        project_id, project_name = self.state.project_info(issue.project)
        body = self.renderer.issue(issue, project_name, project_id, version, wanted, expand, default)
        if properties:
            body["properties"] = {
                name: value
                for name, value in issue.properties.items()
                if "*all" in properties or name in properties
            }
        return body

    @staticmethod
    def int_arg(value: Any, name: str, default: int) -> int:
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise JiraError(400, [f"The value '{value}' is not valid for '{name}'."]) from None

    @staticmethod
    def expand_arg(value: Any) -> set[str]:
        if not value:
            return set()
        items = value if isinstance(value, list) else str(value).split(",")
        return {str(item).strip() for item in items}

    # --- site --------------------------------------------------------------------------------
    def on_server_info(self, request: Request, user: str, version: int) -> Response:
        cloud = self.cloud
        return json_response(
            {
                "baseUrl": self.renderer.base_url,
                "displayUrl": self.renderer.base_url,
                "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.15",
                "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 15],
                "deploymentType": "Cloud" if cloud else "Server",
                "buildNumber": 100280 if cloud else 9120015,
                "buildDate": "2026-11-01T00:00:00.000+0000",
                "serverTime": jira_time(self.state.now()),
                "scmInfo": "sandbox",
                "serverTitle": "jsm-bridge sandbox",
            }
        )

    def on_myself(self, request: Request, user: str, version: int) -> Response:
        body = self.renderer.user(user) or {}
        body.update(
            {
                "locale": "en_GB",
                "groups": {"size": 1, "items": []},
                "applicationRoles": {"size": 1, "items": []},
            }
        )
        return json_response(body)

    def on_user(self, request: Request, user: str, version: int) -> Response:
        reference = request.args.get("accountId") or request.args.get("username") or request.args.get("key")
        if not reference:
            raise JiraError(400, ["The query parameter 'accountId' or 'username' is required."])
        for candidate in self.state.users.values():
            if reference in (candidate.name, candidate.account_id, candidate.key):
                return json_response(self.renderer.user(candidate.name))
        raise JiraError(404, [f"The user with the identifier '{reference}' does not exist."])

    def on_priorities(self, request: Request, user: str, version: int) -> Response:
        return json_response(
            [self.renderer.priority_list_entry(name) for name in self.state.catalog.priorities]
        )

    def on_statuses(self, request: Request, user: str, version: int) -> Response:
        return json_response([self.renderer.status(s.name) for s in self.state.catalog.statuses])

    def on_status_categories(self, request: Request, user: str, version: int) -> Response:
        return json_response(list(STATUS_CATEGORIES.values()))

    def on_resolutions(self, request: Request, user: str, version: int) -> Response:
        return json_response([self.renderer.resolution(name) for _, name in RESOLUTIONS])

    def on_projects(self, request: Request, user: str, version: int) -> Response:
        return json_response(
            [
                self.renderer.project(key, name, pid)
                for key, (pid, name) in sorted(self.state.projects.items())
            ]
        )

    def on_project(self, request: Request, user: str, version: int, key: str) -> Response:
        found = self.state.projects.get(key.upper())
        if found is None:
            raise JiraError(404, [f"No project could be found with key '{key}'."])
        return json_response(self.renderer.project(key.upper(), found[1], found[0]))

    def on_fields(self, request: Request, user: str, version: int) -> Response:
        system = [
            ("summary", "Summary", "string"),
            ("description", "Description", "string"),
            ("issuetype", "Issue Type", "issuetype"),
            ("project", "Project", "project"),
            ("status", "Status", "status"),
            ("priority", "Priority", "priority"),
            ("labels", "Labels", "array"),
            ("reporter", "Reporter", "user"),
            ("assignee", "Assignee", "user"),
            ("created", "Created", "datetime"),
            ("updated", "Updated", "datetime"),
            ("resolution", "Resolution", "resolution"),
            ("resolutiondate", "Resolved", "datetime"),
            ("comment", "Comment", "comments-page"),
        ]
        fields: list[dict[str, Any]] = [
            {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "orderable": True,
                "navigable": fid != "comment",
                "searchable": True,
                "clauseNames": [fid],
                "schema": {"type": kind, "system": fid}
                if kind != "array"
                else {"type": "array", "items": "string", "system": fid},
            }
            for fid, name, kind in system
        ]
        plugin = "com.atlassian.jira.plugin.system.customfieldtypes"
        types = {
            "text": ("string", f"{plugin}:textfield"),
            "textarea": ("string", f"{plugin}:textarea"),
            "select": ("option", f"{plugin}:select"),
            "multiselect": ("array", f"{plugin}:multiselect"),
            "number": ("number", f"{plugin}:float"),
            "date": ("date", f"{plugin}:datepicker"),
            "requesttype": ("sd-customerrequesttype", "com.atlassian.servicedesk:vp-origin"),
        }
        for custom in self.state.catalog.custom_fields:
            kind, plugin_key = types.get(custom.kind, types["text"])
            number = int(custom.id.rsplit("_", 1)[1])
            schema: dict[str, Any] = {"type": kind, "custom": plugin_key, "customId": number}
            if kind == "array":
                schema["items"] = "option"
            fields.append(
                {
                    "id": custom.id,
                    "key": custom.id,
                    "name": custom.name,
                    "untranslatedName": custom.name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{number}]", custom.name],
                    "schema": schema,
                }
            )
        return json_response(fields)

    def on_createmeta(self, request: Request, user: str, version: int) -> Response:
        fields_response = self.on_fields(request, user, version)
        all_fields = {f["id"]: f for f in json.loads(fields_response.get_data())}

        def meta(field: dict[str, Any]) -> dict[str, Any]:
            return {
                "required": field["id"] == "summary",
                "name": field["name"],
                "key": field["id"],
                "schema": field["schema"],
            }

        settable = [
            f
            for fid, f in all_fields.items()
            if fid not in ("status", "created", "updated", "resolutiondate", "comment")
        ]
        projects = [
            {
                "id": str(pid),
                "key": key,
                "name": name,
                "issuetypes": [
                    {"id": tid, "name": tname, "fields": {f["id"]: meta(f) for f in settable}}
                    for tid, tname in ISSUE_TYPES
                ],
            }
            for key, (pid, name) in sorted(self.state.projects.items())
        ]
        return json_response({"expand": "projects", "projects": projects})

    # --- search ------------------------------------------------------------------------------
    def _search_args(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            return self.body(request)
        args: dict[str, Any] = dict(request.args)
        if "fields" in request.args:
            args["fields"] = ",".join(request.args.getlist("fields"))
        return args

    def _query(self, jql: str | None) -> Query:
        try:
            return compile_jql(jql or "", self.state.catalog)
        except JqlError as error:
            raise JiraError(400, [str(error)]) from None

    def on_search_jql(self, request: Request, user: str, version: int) -> Response:
        if not self.cloud:
            raise NotFound()
        args = self._search_args(request)
        query = self._query(args.get("jql"))
        wanted = parse_field_list(args.get("fields"))
        limit_cap = 5000 if not wanted else 100
        limit = min(max(self.int_arg(args.get("maxResults"), "maxResults", 50), 0), limit_cap)
        offset = self._decode_token(args.get("nextPageToken"))
        matches = self.state.search(query)
        page = matches[offset : offset + limit]
        expand = self.expand_arg(args.get("expand"))
        properties = parse_field_list(args.get("properties"))
        issues = [
            self.issue_json(issue, version, wanted or set(), expand, "*navigable", properties)
            if wanted or properties
            else {"id": str(issue.id)}
            for issue in page
        ]
        body: dict[str, Any] = {"issues": issues}
        if offset + limit < len(matches):
            body["nextPageToken"] = self._encode_token(offset + limit)
            body["isLast"] = False
        else:
            body["isLast"] = True
        return json_response(body)

    @staticmethod
    def _encode_token(offset: int) -> str:
        return base64.urlsafe_b64encode(f"sandbox:{offset}".encode()).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: Any) -> int:
        if not token:
            return 0
        try:
            text = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)).decode()
            prefix, _, offset = text.partition(":")
            if prefix != "sandbox":
                raise ValueError(text)
            return int(offset)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise JiraError(400, ["The provided next page token is invalid or expired."]) from None

    def on_search(self, request: Request, user: str, version: int) -> Response:
        if self.cloud:
            raise JiraError(
                410,
                [
                    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
                ],
            )
        args = self._search_args(request)
        query = self._query(args.get("jql"))
        wanted = parse_field_list(args.get("fields"))
        start = max(self.int_arg(args.get("startAt"), "startAt", 0), 0)
        limit = min(max(self.int_arg(args.get("maxResults"), "maxResults", 50), 0), 1000)
        matches = self.state.search(query)
        expand = self.expand_arg(args.get("expand"))
        properties = parse_field_list(args.get("properties"))
        page = matches[start : start + limit]
        return json_response(
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(matches),
                "issues": [
                    self.issue_json(issue, version, wanted, expand, "*navigable", properties)
                    for issue in page
                ],
            }
        )

    # --- issues ------------------------------------------------------------------------------
    def on_create_issue(self, request: Request, user: str, version: int) -> Response:
        data = self.body(request)
        fields = data.get("fields")
        if not isinstance(fields, dict):
            raise JiraError(400, ["Issue must contain a 'fields' object."])
        issue = self.state.create_issue(fields, user)
        if data.get("update"):
            self.state.update_issue(issue.key, None, data["update"], user)
        return json_response(
            {"id": str(issue.id), "key": issue.key, "self": self.renderer.api(f"issue/{issue.id}", version)},
            201,
        )

    def on_issue(self, request: Request, user: str, version: int, key: str) -> Response:
        if request.method == "GET":
            issue = self.state.issue(key)
            wanted = (
                parse_field_list(",".join(request.args.getlist("fields")))
                if "fields" in request.args
                else None
            )
            expand = self.expand_arg(request.args.get("expand"))
            with self.state.lock:
                properties = parse_field_list(request.args.get("properties"))
                return json_response(self.issue_json(issue, version, wanted, expand, "*all", properties))
        if request.method == "PUT":
            data = self.body(request)
            self.state.update_issue(key, data.get("fields"), data.get("update"), user)
            return no_content()
        self.state.delete_issue(key, user)
        return no_content()

    def on_changelog(self, request: Request, user: str, version: int, key: str) -> Response:
        if not self.cloud:
            raise NotFound()
        issue = self.state.issue(key)
        start = max(self.int_arg(request.args.get("startAt"), "startAt", 0), 0)
        limit = min(max(self.int_arg(request.args.get("maxResults"), "maxResults", 100), 1), 100)
        with self.state.lock:
            histories = list(issue.changelog)
        page = histories[start : start + limit]
        base = self.renderer.api(f"issue/{issue.key}/changelog", version)
        body: dict[str, Any] = {
            "self": f"{base}?maxResults={limit}&startAt={start}",
            "maxResults": limit,
            "startAt": start,
            "total": len(histories),
            "isLast": start + limit >= len(histories),
            "values": [self.renderer.history(h) for h in page],
        }
        if not body["isLast"]:
            body["nextPage"] = f"{base}?maxResults={limit}&startAt={start + limit}"
        return json_response(body)

    def on_assignee(self, request: Request, user: str, version: int, key: str) -> Response:
        data = self.body(request)
        reference = None if data.get("accountId") is None and data.get("name") is None else data
        self.state.assign(key, reference, user)
        return no_content()

    def on_transitions(self, request: Request, user: str, version: int, key: str) -> Response:
        if request.method == "POST":
            data = self.body(request)
            transition = data.get("transition") or {}
            transition_id = transition.get("id") if isinstance(transition, dict) else None
            if transition_id is None:
                raise JiraError(400, ["Missing 'transition' identifier"])
            self.state.transition(key, str(transition_id), data.get("fields"), data.get("update"), user)
            return no_content()
        expand = self.expand_arg(request.args.get("expand"))
        wanted_id = request.args.get("transitionId")
        transitions = []
        for t in self.state.transitions(key):
            if wanted_id and t.id != wanted_id:
                continue
            target = self.state.catalog.status(t.to)
            entry: dict[str, Any] = {
                "id": t.id,
                "name": t.name,
                "to": self.renderer.status(t.to),
                "hasScreen": False,
                "isGlobal": False,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            if "transitions.fields" in expand:
                entry["fields"] = (
                    {
                        "resolution": {
                            "required": False,
                            "name": "Resolution",
                            "key": "resolution",
                            "schema": {"type": "resolution", "system": "resolution"},
                            "operations": ["set"],
                        }
                    }
                    if target and target.category == "done"
                    else {}
                )
            transitions.append(entry)
        return json_response({"expand": "transitions", "transitions": transitions})

    # --- comments ----------------------------------------------------------------------------
    def on_comments(self, request: Request, user: str, version: int, key: str) -> Response:
        if request.method == "POST":
            data = self.body(request)
            public = not is_internal(data.get("properties"))
            issue, comment = self.state.add_comment(
                key, data.get("body"), public, user, properties=data.get("properties")
            )
            return json_response(self.renderer.comment(issue, comment, version, properties=True), 201)
        issue = self.state.issue(key)
        start = max(self.int_arg(request.args.get("startAt"), "startAt", 0), 0)
        limit = max(self.int_arg(request.args.get("maxResults"), "maxResults", 5000), 0)
        comments = list(issue.comments)
        if request.args.get("orderBy", "").startswith("-"):
            comments.reverse()
        properties = "properties" in self.expand_arg(request.args.get("expand"))
        return json_response(self.renderer.comment_page(issue, comments, start, limit, version, properties))

    def on_comment(self, request: Request, user: str, version: int, key: str, comment_id: str) -> Response:
        if request.method == "GET":
            issue, comment = self.state.comment(key, comment_id)
            properties = "properties" in self.expand_arg(request.args.get("expand"))
            return json_response(self.renderer.comment(issue, comment, version, properties))
        if request.method == "PUT":
            data = self.body(request)
            public = None if "properties" not in data else not is_internal(data.get("properties"))
            issue, comment = self.state.edit_comment(key, comment_id, data.get("body"), public, user)
            return json_response(self.renderer.comment(issue, comment, version))
        self.state.delete_comment(key, comment_id, user)
        return no_content()

    def on_sd_request(self, request: Request, user: str, key: str) -> Response:
        issue = self.state.issue(key)
        return json_response(
            {
                "issueId": str(issue.id),
                "issueKey": issue.key,
                "requestTypeId": "1",
                "serviceDeskId": "1",
                "createdDate": self.renderer.sd_date(issue.created),
                "reporter": self.renderer.user(issue.fields.get("reporter")),
                "currentStatus": {
                    "status": issue.status,
                    "statusCategory": (
                        self.state.catalog.status(issue.status) or self.state.catalog.statuses[0]
                    ).category.upper(),
                    "statusDate": self.renderer.sd_date(issue.updated),
                },
                "_links": {"self": f"{self.renderer.base_url}/rest/servicedeskapi/request/{issue.id}"},
            }
        )

    def on_sd_comments(self, request: Request, user: str, key: str) -> Response:
        if request.method == "POST":
            data = self.body(request)
            public = data.get("public", True)
            if not isinstance(public, bool):
                raise JiraError(400, ["'public' must be true or false."])
            issue, comment = self.state.add_comment(key, data.get("body"), public, user)
            return json_response(self.renderer.sd_comment(issue, comment), 201)
        issue = self.state.issue(key)
        show_public = request.args.get("public", "true").lower() != "false"
        show_internal = request.args.get("internal", "true").lower() != "false"
        start = max(self.int_arg(request.args.get("start"), "start", 0), 0)
        limit = max(self.int_arg(request.args.get("limit"), "limit", 50), 1)
        comments = [
            c for c in issue.comments if (c.public and show_public) or (not c.public and show_internal)
        ]
        page = comments[start : start + limit]
        base = f"{self.renderer.base_url}/rest/servicedeskapi/request/{issue.id}/comment"
        links: dict[str, str] = {"base": self.renderer.base_url, "context": "", "self": base}
        if start + limit < len(comments):
            links["next"] = f"{base}?start={start + limit}&limit={limit}"
        return json_response(
            {
                "_expands": [],
                "size": len(page),
                "start": start,
                "limit": limit,
                "isLastPage": start + limit >= len(comments),
                "_links": links,
                "values": [self.renderer.sd_comment(issue, c) for c in page],
            }
        )

    def on_sd_comment(self, request: Request, user: str, key: str, comment_id: str) -> Response:
        issue, comment = self.state.comment(key, comment_id)
        return json_response(self.renderer.sd_comment(issue, comment))

    def on_sd_sla(self, request: Request, user: str, key: str) -> Response:
        """Two simple SLAs measured on the sandbox clock: first response 4h, resolution 24h (calendar time)."""
        issue = self.state.issue(key)
        now = self.state.now()
        first_agent_comment = next(
            (c.created for c in issue.comments if c.public and c.author != issue.fields.get("reporter")), None
        )
        resolved = issue.fields.get("resolutiondate")
        values = [
            self._sla(issue, "1", "Time to first response", timedelta(hours=4), first_agent_comment, now),
            self._sla(issue, "2", "Time to resolution", timedelta(hours=24), resolved, now),
        ]
        return json_response(
            {
                "_expands": [],
                "size": len(values),
                "start": 0,
                "limit": 50,
                "isLastPage": True,
                "_links": {},
                "values": values,
            }
        )

    def _sla(
        self, issue: Issue, sla_id: str, name: str, goal: timedelta, stopped: datetime | None, now: datetime
    ) -> dict[str, Any]:
        r = self.renderer
        breach = issue.created + goal

        def span(delta: timedelta) -> dict[str, Any]:
            millis = int(delta.total_seconds() * 1000)
            minutes = abs(millis) // 60000
            return {
                "millis": millis,
                "friendly": f"{'-' if millis < 0 else ''}{minutes // 60}h {minutes % 60}m",
            }

        cycle: dict[str, Any] = {
            "startTime": r.sd_date(issue.created),
            "breachTime": r.sd_date(breach),
            "goalDuration": span(goal),
        }
        sla: dict[str, Any] = {
            "id": sla_id,
            "name": name,
            "_links": {"self": f"{r.base_url}/rest/servicedeskapi/request/{issue.id}/sla/{sla_id}"},
            "completedCycles": [],
        }
        if stopped is not None:
            cycle.update(
                {
                    "stopTime": r.sd_date(stopped),
                    "breached": stopped > breach,
                    "elapsedTime": span(stopped - issue.created),
                    "remainingTime": span(breach - stopped),
                }
            )
            sla["completedCycles"] = [cycle]
        else:
            cycle.update(
                {
                    "breached": now > breach,
                    "paused": False,
                    "withinCalendarHours": True,
                    "elapsedTime": span(now - issue.created),
                    "remainingTime": span(breach - now),
                }
            )
            sla["ongoingCycle"] = cycle
        return sla

    # --- properties --------------------------------------------------------------------------
    def on_properties(self, request: Request, user: str, version: int, key: str) -> Response:
        issue = self.state.issue(key)
        keys = [
            {"self": self.renderer.api(f"issue/{issue.id}/properties/{name}", version), "key": name}
            for name in sorted(issue.properties)
        ]
        return json_response({"keys": keys})

    def on_issue_property(self, request: Request, user: str, version: int, key: str, name: str) -> Response:
        if request.method == "GET":
            issue = self.state.issue(key)
            if name not in issue.properties:
                raise JiraError(404, [f"The property with key '{name}' does not exist."])
            return json_response({"key": name, "value": issue.properties[name]})
        if request.method == "PUT":
            try:
                value = json.loads(request.data or b"null")
            except ValueError:
                raise JiraError(400, ["The property value must be valid JSON."]) from None
            created = self.state.set_property(key, name, value)
            return no_content(201 if created else 200)
        self.state.delete_property(key, name)
        return no_content()

    # --- webhooks admin ----------------------------------------------------------------------
    def webhook_json(self, webhook: Webhook) -> dict[str, Any]:
        owner = self.state.users.get(webhook.last_updated_user)
        return {
            "self": f"{self.renderer.base_url}/rest/webhooks/1.0/webhook/{webhook.id}",
            "name": webhook.name,
            "url": webhook.url,
            "events": list(webhook.events),
            "filters": {ISSUE_FILTER: webhook.jql},
            "excludeBody": webhook.exclude_body,
            "enabled": webhook.enabled,
            "lastUpdatedUser": owner.account_id if owner and self.cloud else webhook.last_updated_user,
            "lastUpdatedDisplayName": owner.display_name if owner else webhook.last_updated_user,
            "lastUpdated": int(webhook.last_updated.timestamp() * 1000) if webhook.last_updated else None,
        }

    def parse_webhook(self, data: dict[str, Any], user: str) -> Webhook:
        errors: dict[str, str] = {}
        if not data.get("name"):
            errors["name"] = "A webhook needs a name."
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            errors["url"] = "A webhook needs an http(s) URL."
        events = data.get("events") or []
        unknown = [e for e in events if e not in EVENTS]
        if not isinstance(events, list) or not events:
            errors["events"] = "A webhook needs at least one event."
        elif unknown:
            errors["events"] = (
                f"Unsupported event(s): {', '.join(unknown)}; the sandbox sends {', '.join(EVENTS)}."
            )
        filters = data.get("filters") or {}
        jql = str(filters.get(ISSUE_FILTER) or data.get("jqlFilter") or "")
        if jql:
            try:
                compile_jql(jql, self.state.catalog)
            except JqlError as error:
                errors["filters"] = f"Invalid JQL filter: {error}"
        if errors:
            raise JiraError(400, [], errors)
        return Webhook(
            0,
            str(data["name"]),
            str(url),
            list(events),
            jql,
            data.get("secret") or None,
            bool(data.get("enabled", True)),
            bool(data.get("excludeBody", data.get("excludeIssueDetails", False))),
            None,
            user,
        )

    def on_webhooks(self, request: Request, user: str) -> Response:
        if request.method == "POST":
            webhook = self.state.register_webhook(self.parse_webhook(self.body(request), user))
            return json_response(self.webhook_json(webhook), 201)
        return json_response(
            [self.webhook_json(w) for w in sorted(self.state.webhooks.values(), key=lambda w: w.id)]
        )

    def on_webhook(self, request: Request, user: str, webhook_id: str) -> Response:
        if request.method == "GET":
            return json_response(self.webhook_json(self.state.webhook(webhook_id)))
        if request.method == "PUT":
            webhook = self.state.replace_webhook(webhook_id, self.parse_webhook(self.body(request), user))
            return json_response(self.webhook_json(webhook))
        self.state.delete_webhook(webhook_id)
        return no_content()

    # --- sandbox controls --------------------------------------------------------------------
    def on_sandbox_clock(self, request: Request, user: str) -> Response:
        clock = self.state.clock
        if request.method == "POST":
            data = self.body(request)
            try:
                if "set" in data:
                    clock.set(datetime.fromisoformat(str(data["set"])))
                if "advance_seconds" in data:
                    clock.advance(timedelta(seconds=float(data["advance_seconds"])))
            except ValueError as error:
                raise JiraError(
                    400, [f'{error}; send {{"set": ISO-8601 with offset}} or {{"advance_seconds": n}}']
                ) from None
            self.state.save_clock()
        return json_response({"now": clock.now().isoformat()})

    def on_sandbox_faults(self, request: Request, user: str) -> Response:
        if request.method == "POST":
            data = self.body(request)
            reset = bool(data.pop("reset", False))
            outage_seconds = data.pop("outage_seconds", None)
            try:
                faults = Faults.from_json(data, None if reset else self.injector.faults)
            except (ValueError, TypeError) as error:
                raise JiraError(400, [str(error)]) from None
            if outage_seconds is not None:
                faults.outage_until = self.state.now() + timedelta(seconds=float(outage_seconds))
            self.injector.configure(faults)
        return json_response(self.injector.faults.to_json())

    def on_sandbox_bulk(self, request: Request, user: str) -> Response:
        data = self.body(request)
        project = str(data.get("project") or "SUP").upper()
        count = self.int_arg(data.get("count"), "count", 1)
        if not 0 < count <= 100_000:
            raise JiraError(400, ["count must be between 1 and 100000"])
        created = self.state.bulk_create(project, count, data.get("fields") or {}, user)
        return json_response({"created": len(created), "first": created[0].key, "last": created[-1].key}, 201)

    def on_sandbox_requests(self, request: Request, user: str) -> Response:
        if request.method == "DELETE":
            self.state.requests.clear()
            return no_content()
        records = list(self.state.requests)
        return json_response(
            [
                {
                    "method": r.method,
                    "path": r.path,
                    "query": r.query,
                    "status": r.status,
                    "at": r.at.isoformat(),
                    "ms": round(r.duration_ms, 2),
                }
                for r in records
            ]
        )

    def on_sandbox_deliveries(self, request: Request, user: str) -> Response:
        return json_response(
            [
                {
                    "webhook": d.webhook_id,
                    "event": d.event,
                    "identifier": d.identifier,
                    "attempt": d.attempt,
                    "status": d.status,
                    "outcome": d.outcome,
                    "error": d.error,
                }
                for d in list(self.state.deliveries)
            ]
        )

    def on_sandbox_flush(self, request: Request, user: str) -> Response:
        timeout = float(self.body(request).get("timeout", 10))
        return json_response({"idle": self.sender.wait_idle(timeout)})
