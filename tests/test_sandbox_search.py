"""Search: Cloud's /search/jql paged by nextPageToken, Data Center's /search by startAt, and the JQL subset."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox import Faults, SandboxServer

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(START)) as server:
        yield server


def search(sandbox: SandboxServer, jql: str, **params: object) -> requests.Response:
    return requests.get(f"{sandbox.url}/rest/api/3/search/jql", params={"jql": jql, **params})


def keys(sandbox: SandboxServer, jql: str) -> list[str]:
    response = search(sandbox, jql, fields="key", maxResults=100)
    assert response.status_code == 200, response.text
    return [issue["key"] for issue in response.json()["issues"]]


@pytest.fixture
def tickets(sandbox: SandboxServer) -> SandboxServer:
    """CB-1 Open High [web]; CB-2 In Progress Low; CB-3 Resolved Highest [web, vip]; OPS-1 Awaiting parts."""
    state = sandbox.state
    state.create_issue(
        {"project": {"key": "CB"}, "summary": "Site down", "priority": {"name": "High"}, "labels": ["web"]},
        "agent",
    )
    sandbox.clock.advance(timedelta(hours=1))
    state.create_issue(
        {"project": {"key": "CB"}, "summary": "Printer jam", "priority": {"name": "Low"}}, "agent"
    )
    state.transition("CB-2", "11", None, None, "agent")
    sandbox.clock.advance(timedelta(hours=1))
    state.create_issue(
        {
            "project": {"key": "CB"},
            "summary": "VPN slow",
            "priority": {"name": "Highest"},
            "labels": ["web", "vip"],
        },
        "agent",
    )
    state.transition("CB-3", "5", None, None, "agent")
    sandbox.clock.advance(timedelta(hours=1))
    state.create_issue(
        {"project": {"key": "OPS"}, "summary": "Disk failing", "customfield_10050": "Support"}, "agent"
    )
    state.transition("OPS-1", "101", None, None, "agent")  # Awaiting parts
    sandbox.clock.advance(timedelta(hours=1))
    return sandbox


def test_search_jql_without_fields_returns_only_ids(tickets: SandboxServer) -> None:
    body = search(tickets, "project = CB").json()
    assert body["issues"] == [{"id": str(tickets.state.issue(k).id)} for k in ("CB-1", "CB-2", "CB-3")]
    assert "total" not in body and body["isLast"] is True and "nextPageToken" not in body


def test_search_jql_pages_with_next_page_token() -> None:
    with SandboxServer() as sandbox:
        sandbox.state.bulk_create("CB", 7)
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            params = {"jql": "project = CB ORDER BY key", "fields": "summary", "maxResults": 3}
            if token:
                params["nextPageToken"] = token
            body = requests.post(f"{sandbox.url}/rest/api/3/search/jql", json=params).json()
            seen += [issue["key"] for issue in body["issues"]]
            pages += 1
            token = body.get("nextPageToken")
            if body["isLast"]:
                break
    assert pages == 3 and seen == [f"CB-{n}" for n in range(1, 8)]


def test_a_bad_next_page_token_answers_400(tickets: SandboxServer) -> None:
    assert search(tickets, "project = CB", nextPageToken="garbage").status_code == 400


def test_old_search_path_answers_410_on_cloud(tickets: SandboxServer) -> None:
    for version in (2, 3):
        assert (
            requests.get(
                f"{tickets.url}/rest/api/{version}/search", params={"jql": "project = CB"}
            ).status_code
            == 410
        )


def test_data_center_search_pages_with_start_at_and_total() -> None:
    with SandboxServer(flavor="datacenter") as sandbox:
        sandbox.state.bulk_create("CB", 5)
        url = f"{sandbox.url}/rest/api/2/search"
        first = requests.get(url, params={"jql": "project = CB ORDER BY key", "maxResults": 2}).json()
        last = requests.post(
            url, json={"jql": "project = CB ORDER BY key", "startAt": 4, "maxResults": 2}
        ).json()
        assert (
            requests.get(f"{sandbox.url}/rest/api/2/search/jql", params={"jql": "project = CB"}).status_code
            == 404
        )
    assert (first["total"], first["startAt"], [i["key"] for i in first["issues"]]) == (5, 0, ["CB-1", "CB-2"])
    assert [i["key"] for i in last["issues"]] == ["CB-5"]
    assert "summary" in first["issues"][0]["fields"]


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ("project = CB", ["CB-1", "CB-2", "CB-3"]),
        ("project in (CB, OPS)", ["CB-1", "CB-2", "CB-3", "OPS-1"]),
        ('status = "In Progress"', ["CB-2"]),
        ("status in (Open, 'Awaiting parts')", ["CB-1", "OPS-1"]),
        ("status not in (Resolved, Closed) AND project = CB", ["CB-1", "CB-2"]),
        ("statusCategory != Done", ["CB-1", "CB-2", "OPS-1"]),
        ("resolution = Unresolved AND project = CB", ["CB-1", "CB-2"]),
        ("resolution is EMPTY", ["CB-1", "CB-2", "OPS-1"]),
        ("resolution is not EMPTY", ["CB-3"]),
        ("priority in (Highest, High)", ["CB-1", "CB-3"]),
        ("labels = web", ["CB-1", "CB-3"]),
        ("labels = vip OR project = OPS", ["CB-3", "OPS-1"]),
        ("key in (CB-2, OPS-1)", ["CB-2", "OPS-1"]),
        ("NOT project = CB", ["OPS-1"]),
        ("project = CB AND (priority = Low OR labels = vip)", ["CB-2", "CB-3"]),
        ('created >= "2026-11-23 10:30"', ["CB-3", "OPS-1"]),
        ("created <= -3h", ["CB-1", "CB-2"]),
        ('"Tier" = Support', ["OPS-1"]),
        ("cf[10050] is EMPTY AND project = CB", ["CB-1", "CB-2", "CB-3"]),
        ("summary ~ vpn", ["CB-3"]),
        ("project = CB ORDER BY created DESC", ["CB-3", "CB-2", "CB-1"]),
        ("project = CB ORDER BY priority DESC", ["CB-3", "CB-1", "CB-2"]),
        ("ORDER BY key DESC", ["OPS-1", "CB-3", "CB-2", "CB-1"]),
    ],
)
def test_jql_subset(tickets: SandboxServer, jql: str, expected: list[str]) -> None:
    assert keys(tickets, jql) == expected


def test_updated_relative_to_the_sandbox_clock(tickets: SandboxServer) -> None:
    tickets.state.update_issue("CB-1", {"summary": "Site down (again)"}, None, "agent")
    assert keys(tickets, "updated >= -5m") == ["CB-1"]
    tickets.clock.advance(timedelta(minutes=10))
    assert keys(tickets, "updated >= -5m") == []


@pytest.mark.parametrize(
    "jql",
    [
        "project = CB AND",
        "sprint = 5",
        "status = Nonexistent",
        "project = CB ORDER BY summary",
        "status was Open",
        'created >= "next tuesday"',
    ],
)
def test_unsupported_or_invalid_jql_answers_400_with_error_messages(tickets: SandboxServer, jql: str) -> None:
    response = search(tickets, jql)
    assert response.status_code == 400
    assert response.json()["errorMessages"]


def test_search_with_fields_returns_jira_issue_objects(tickets: SandboxServer) -> None:
    issue = search(tickets, "key = CB-1", fields="summary,priority,labels").json()["issues"][0]
    assert issue["key"] == "CB-1" and issue["self"].endswith(f"/issue/{issue['id']}")
    assert issue["fields"] == {
        "summary": "Site down",
        "priority": issue["fields"]["priority"],
        "labels": ["web"],
    }
    assert issue["fields"]["priority"]["name"] == "High"


def test_ten_thousand_open_tickets_can_be_paged_through() -> None:
    with SandboxServer() as sandbox:
        sandbox.state.bulk_create("BIG", 10_000, {"priority": {"name": "High"}})
        total = 0
        token = None
        while True:
            params: dict[str, object] = {
                "jql": "project = BIG AND statusCategory != Done AND priority in (High, Highest) ORDER BY key",
                "fields": "summary,status,priority,updated",
                "maxResults": 100,
            }
            if token:
                params["nextPageToken"] = token
            body = requests.post(f"{sandbox.url}/rest/api/3/search/jql", json=params).json()
            total += len(body["issues"])
            token = body.get("nextPageToken")
            if body["isLast"]:
                break
        ids = requests.get(
            f"{sandbox.url}/rest/api/3/search/jql", params={"jql": "project = BIG", "maxResults": 5000}
        ).json()
    assert total == 10_000
    assert len(ids["issues"]) == 5000 and ids["isLast"] is False


@pytest.mark.parametrize(
    ("jql", "projects"),
    [
        ("project = CB", {"CB"}),
        ("project in (CB, OPS) AND status = Open", {"CB", "OPS"}),
        ("project = CB AND project in (CB, OPS)", {"CB"}),
        ("project = CB OR project = OPS", {"CB", "OPS"}),
        ("project = CB OR status = Open", None),
        ("NOT project = CB", None),
        ("status = Open", None),
    ],
)
def test_queries_limited_to_projects_look_only_at_those_projects(jql: str, projects: set[str] | None) -> None:
    from jsm_bridge.sandbox.catalog import Catalog
    from jsm_bridge.sandbox.jql import compile_jql

    assert compile_jql(jql, Catalog()).projects == (frozenset(projects) if projects else None)


def test_search_lag_shows_the_state_before_recent_changes(tickets: SandboxServer) -> None:
    tickets.faults = Faults(search_lag_seconds=60)
    tickets.state.transition("CB-1", "51", None, None, "agent")  # Escalate
    tickets.state.create_issue({"project": {"key": "CB"}, "summary": "Brand new"}, "agent")
    assert keys(tickets, "project = CB AND status = Open") == ["CB-1"]
    assert keys(tickets, "project = CB") == ["CB-1", "CB-2", "CB-3"]
    current = requests.get(f"{tickets.url}/rest/api/2/issue/CB-1").json()["fields"]["status"]["name"]
    assert current == "Escalated"
    tickets.clock.advance(timedelta(seconds=61))
    assert keys(tickets, "project = CB AND status = Escalated") == ["CB-1"]
    assert keys(tickets, "project = CB") == ["CB-1", "CB-2", "CB-3", "CB-4"]


def test_searched_issues_render_their_lagging_state(tickets: SandboxServer) -> None:
    requests.post(f"{tickets.url}/_sandbox/faults", json={"search_lag_seconds": 30})
    tickets.state.update_issue("CB-1", {"summary": "Renamed"}, None, "agent")
    issue = search(tickets, "key = CB-1", fields="summary").json()["issues"][0]
    assert issue["fields"]["summary"] == "Site down"


def test_search_returns_asked_issue_properties(tickets: SandboxServer) -> None:
    tickets.state.set_property("CB-1", "jsm-bridge", {"done": ["CB-1:tier:Development"]})
    issues = search(tickets, "project = CB ORDER BY key", fields="summary", properties="jsm-bridge").json()[
        "issues"
    ]
    assert issues[0]["properties"] == {"jsm-bridge": {"done": ["CB-1:tier:Development"]}}
    assert issues[1]["properties"] == {}


def test_get_issue_returns_asked_issue_properties(tickets: SandboxServer) -> None:
    tickets.state.set_property("CB-1", "jsm-bridge", {"done": []})
    issue = requests.get(f"{tickets.url}/rest/api/2/issue/CB-1", params={"properties": "*all"}).json()
    assert issue["properties"] == {"jsm-bridge": {"done": []}}


def test_users_are_found_by_name_or_account_id(tickets: SandboxServer) -> None:
    tickets.state.assign("CB-2", {"accountId": "5b10ac8d82e05b22cc7d4ef5"}, "agent")
    agent = requests.get(f"{tickets.url}/rest/api/2/myself", auth=("agent", "t")).json()["accountId"]
    assert keys(tickets, "assignee = 5b10ac8d82e05b22cc7d4ef5") == ["CB-2"]
    assert keys(tickets, f"reporter = {agent} AND project = CB") == ["CB-1", "CB-2", "CB-3"]
    assert keys(tickets, "reporter = agent AND assignee is EMPTY AND project = CB") == ["CB-1", "CB-3"]
    assert keys(tickets, "assignee in (5b10ac8d82e05b22cc7d4ef5, nobody)") == ["CB-2"]
