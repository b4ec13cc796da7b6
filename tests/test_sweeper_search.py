"""Tickets from JQL search results (jsm_bridge/jira/sweep_search.py), against the sandbox over HTTP."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from jsm_bridge.actions import BOT_AUTHOR
from jsm_bridge.clock import ManualClock
from jsm_bridge.jira import JiraConfig, JiraGateway
from jsm_bridge.jira.sweep_search import fields_for, search_tickets
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.sandbox import SandboxServer
from jsm_bridge.sweeper import progress_printer, sweep_jql
from tests.e2e_bridge import POLICY, Jira

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def policy() -> Policy:
    return load_policy(POLICY)


@pytest.fixture(params=["cloud", "datacenter"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    with SandboxServer(flavor=request.param, clock=ManualClock(T0)) as server:
        yield server


def gateway(sandbox: SandboxServer) -> JiraGateway:
    flavor = "cloud" if sandbox.flavor == "cloud" else "datacenter"
    return JiraGateway(JiraConfig(url=sandbox.url, user="bridge", token="t", flavor=flavor))


def search_requests(sandbox: SandboxServer) -> list[str]:
    log = requests.get(f"{sandbox.url}/_sandbox/requests", auth=("admin", "t"), timeout=10).json()
    return [r["path"] for r in log if r["path"].startswith("/rest/")]


def test_fields_asked_for_are_those_the_policy_reads(policy: Policy) -> None:
    fields = fields_for(policy)
    assert {"status", "priority", "created", "updated", "summary", "description", "comment"} <= set(fields)
    assert "customfield_10050" in fields  # the tiers' field, through the policy's field map
    assert "*all" not in fields and "*navigable" not in fields


def test_a_sweep_reads_only_search_pages_the_field_list_and_its_own_account(
    sandbox: SandboxServer, policy: Policy
) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/bulk", json={"project": "SUP", "count": 230}, auth=("admin", "t"), timeout=30
    )
    requests.delete(f"{sandbox.url}/_sandbox/requests", auth=("admin", "t"), timeout=10)
    found = list(search_tickets(gateway(sandbox), sweep_jql(policy), policy, page_size=100))
    assert len(found) == 230
    assert all(f.complete for f in found)
    paths = search_requests(sandbox)
    assert len(paths) == math.ceil(230 / 100) + 2
    # The field list, and the bridge's own account (its comments and changes are told from people's).
    assert paths[:2] == ["/rest/api/2/field", "/rest/api/2/myself"]


def test_tickets_from_search_results_carry_history_and_comments(
    sandbox: SandboxServer, policy: Policy
) -> None:
    jira = Jira(sandbox)
    key = jira.create("Site down")
    sandbox.clock.advance(timedelta(minutes=10))
    jira.comment(key, "Any news?")
    jira.transition(key, "21")  # Wait for customer
    (found,) = search_tickets(gateway(sandbox), sweep_jql(policy), policy)
    ticket = found.ticket
    assert ticket.key == key and ticket.status == "Waiting for customer"
    assert [c.body for c in ticket.comments] == ["Any news?"]
    assert [(c.field, c.new) for c in ticket.history("status")] == [("status", "Waiting for customer")]


def test_the_bridges_own_comments_in_search_results_are_the_bridges(
    sandbox: SandboxServer, policy: Policy
) -> None:
    jira = Jira(sandbox)
    key = jira.create("Site down")
    bridge = gateway(sandbox)
    bridge.add_comment(key, "Thank you, we have your request.", public=True)
    jira.comment(key, "Any news?")
    (found,) = search_tickets(bridge, sweep_jql(policy), policy)
    assert [(c.author, c.role) for c in found.ticket.comments][0] == (BOT_AUTHOR, "agent")
    assert found.ticket.comments[1].author != BOT_AUTHOR


def test_fingerprint_changes_when_the_issue_does(sandbox: SandboxServer, policy: Policy) -> None:
    jira = Jira(sandbox)
    key = jira.create("Printer jammed")
    (before,) = search_tickets(gateway(sandbox), sweep_jql(policy), policy)
    (same,) = search_tickets(gateway(sandbox), sweep_jql(policy), policy)
    jira.comment(key, "Still jammed")  # at the same instant of the sandbox's clock
    (after,) = search_tickets(gateway(sandbox), sweep_jql(policy), policy)
    assert before.fingerprint == same.fingerprint
    assert after.fingerprint != before.fingerprint


def test_progress_is_shown_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_printer(io.StringIO()) is None
    out = Terminal()
    show = progress_printer(out, every=100)
    assert show is not None
    for n in range(1, 251):
        show(n)
    assert out.getvalue() == "\r  100 tickets read\r  200 tickets read"
