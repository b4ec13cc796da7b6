"""Workflow: transitions offered from each status, performed by id, resolution set and cleared."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox import SandboxServer

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(START)) as server:
        server.state.create_issue({"project": {"key": "CB"}, "summary": "Site down"}, "agent")
        yield server


def transitions(sandbox: SandboxServer, key: str = "CB-1") -> dict[str, dict]:
    body = requests.get(f"{sandbox.url}/rest/api/2/issue/{key}/transitions").json()
    return {t["name"]: t for t in body["transitions"]}


def perform(sandbox: SandboxServer, transition_id: str, **extra: object) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/rest/api/2/issue/CB-1/transitions",
        json={"transition": {"id": transition_id}, **extra},
    )


def issue(sandbox: SandboxServer) -> dict:
    return requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1").json()["fields"]


def test_open_ticket_offers_the_service_desk_transitions(sandbox: SandboxServer) -> None:
    offered = transitions(sandbox)
    for name in (
        "Start progress",
        "Escalate",
        "Resolve",
        "Close",
        "Wait for customer",
        "Awaiting third party",
    ):
        assert name in offered
    assert "Reopen" not in offered
    assert offered["Escalate"]["to"]["name"] == "Escalated"
    assert offered["Resolve"]["to"]["statusCategory"]["key"] == "done"


def test_every_awaiting_status_has_its_own_transition(sandbox: SandboxServer) -> None:
    targets = {t["to"]["name"] for t in transitions(sandbox).values()}
    for status in ("Awaiting delivery", "Awaiting authorization", "Awaiting file restore", "Awaiting parts"):
        assert status in targets
    for status in ("Awaiting quote", "Awaiting rebuild"):
        assert status in targets


def test_transition_moves_the_status_and_records_a_changelog_entry(sandbox: SandboxServer) -> None:
    sandbox.clock.advance(timedelta(minutes=30))
    assert perform(sandbox, transitions(sandbox)["Start progress"]["id"]).status_code == 204
    fields = issue(sandbox)
    assert fields["status"]["name"] == "In Progress"
    assert fields["updated"] == "2026-11-23T09:30:00.000+0000"
    items = sandbox.state.issue("CB-1").changelog[-1].items
    assert [(i.field, i.from_string, i.to_string) for i in items] == [("status", "Open", "In Progress")]


def test_resolve_sets_resolution_and_date_and_reopen_clears_them(sandbox: SandboxServer) -> None:
    sandbox.clock.advance(timedelta(hours=2))
    perform(sandbox, transitions(sandbox)["Resolve"]["id"], fields={"resolution": {"name": "Won't Do"}})
    fields = issue(sandbox)
    assert fields["resolution"]["name"] == "Won't Do"
    assert fields["resolutiondate"] == "2026-11-23T11:00:00.000+0000"
    perform(sandbox, transitions(sandbox)["Reopen"]["id"])
    fields = issue(sandbox)
    assert fields["status"]["name"] == "Open"
    assert fields["resolution"] is None and fields["resolutiondate"] is None


def test_resolution_defaults_to_done(sandbox: SandboxServer) -> None:
    perform(sandbox, transitions(sandbox)["Close"]["id"])
    assert issue(sandbox)["resolution"]["name"] == "Done"


def test_unavailable_transition_answers_400(sandbox: SandboxServer) -> None:
    reopen = "3"
    response = perform(sandbox, reopen)
    assert response.status_code == 400
    assert response.json()["errorMessages"]
    assert issue(sandbox)["status"]["name"] == "Open"


def test_transition_without_an_id_answers_400(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.url}/rest/api/2/issue/CB-1/transitions", json={"transition": {}})
    assert response.status_code == 400


def test_transition_can_add_a_comment(sandbox: SandboxServer) -> None:
    perform(
        sandbox,
        transitions(sandbox)["Wait for customer"]["id"],
        update={"comment": [{"add": {"body": "Which site?"}}]},
    )
    assert [c.body for c in sandbox.state.issue("CB-1").comments] == ["Which site?"]
    assert transitions(sandbox)["Back to support"]["to"]["name"] == "Waiting for support"


def test_transition_fields_expand_shows_resolution_on_done_transitions(sandbox: SandboxServer) -> None:
    body = requests.get(
        f"{sandbox.url}/rest/api/2/issue/CB-1/transitions", params={"expand": "transitions.fields"}
    ).json()
    offered = {t["name"]: t for t in body["transitions"]}
    assert "resolution" in offered["Resolve"]["fields"]
    assert offered["Escalate"]["fields"] == {}


def test_jsm_automation_moves_a_ticket_when_the_customer_replies() -> None:
    with SandboxServer(clock=ManualClock(START), jsm_automation=True) as sandbox:
        state = sandbox.state
        state.create_issue({"project": {"key": "CB"}, "summary": "Site down"}, "customer")
        state.transition("CB-1", "21", None, None, "agent")  # Wait for customer
        requests.post(
            f"{sandbox.url}/rest/api/2/issue/CB-1/comment",
            json={"body": "Here it is"},
            auth=("customer", "t"),
        )
        assert state.issue("CB-1").status == "Waiting for support"
        assert state.issue("CB-1").changelog[-1].author == "automation"
        requests.post(
            f"{sandbox.url}/rest/api/2/issue/CB-1/comment", json={"body": "Thanks"}, auth=("agent", "t")
        )
        assert state.issue("CB-1").status == "Waiting for customer"


def test_without_jsm_automation_comments_leave_the_status_alone(sandbox: SandboxServer) -> None:
    sandbox.state.transition("CB-1", "21", None, None, "agent")
    requests.post(
        f"{sandbox.url}/rest/api/2/issue/CB-1/comment", json={"body": "Here it is"}, auth=("customer", "t")
    )
    assert sandbox.state.issue("CB-1").status == "Waiting for customer"
