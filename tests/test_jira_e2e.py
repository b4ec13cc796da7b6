"""The same gateway calls over real HTTP against the sandbox, for Cloud and Data Center (select with -m e2e)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests

from jsm_bridge.actions import AddComment, MoveToTier
from jsm_bridge.jira.client import JiraGateway
from jsm_bridge.jira.config import CLOUD, DATA_CENTER, JiraConfig
from jsm_bridge.jira.dryrun import DryRunGateway
from jsm_bridge.jira.errors import AuthenticationFailed, RateLimited, TransitionNotAvailable
from jsm_bridge.jira.executor import execute
from jsm_bridge.policy import load_policy
from jsm_bridge.sandbox.faults import Faults
from jsm_bridge.sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

POLICY = load_policy(Path(__file__).parent / "policies" / "full.yaml")
PAT = "sandbox-personal-access-token"
SANDBOX_FLAVOR = {CLOUD: "cloud", DATA_CENTER: "datacenter"}


@pytest.fixture(scope="module", params=[CLOUD, DATA_CENTER])
def server(request):
    with SandboxServer(flavor=SANDBOX_FLAVOR[request.param], token=PAT) as sandbox:
        yield request.param, sandbox


_projects = iter(f"E{n}" for n in range(1, 10_000))


@pytest.fixture
def site(server):
    """The module's sandbox, with a fresh project for this test and no faults."""
    flavor, sandbox = server
    sandbox.project = next(_projects)
    yield flavor, sandbox
    sandbox.faults = Faults()


def gateway_for(sandbox: SandboxServer, flavor=None, **overrides) -> JiraGateway:
    """A gateway whose waits move the sandbox's clock instead of sleeping."""
    settings = {
        "url": sandbox.url,
        "token": PAT,
        "flavor": flavor,
        "max_retry_after": 30.0,
        "read_attempts": 3,
    }
    if flavor == CLOUD:
        settings["user"] = "agent"
    settings.update(overrides)
    return JiraGateway(
        JiraConfig(**settings),
        session=requests.Session(),
        clock=sandbox.clock,
        sleep=lambda seconds: sandbox.clock.advance(timedelta(seconds=seconds)),
    )


def new_issue(sandbox: SandboxServer, **fields) -> str:
    base = {"project": sandbox.project, "summary": "Checkout is down", "priority": "Medium"}
    return sandbox.state.create_issue({**base, **fields}, actor="customer", notify=False).key


def test_the_flavour_is_detected_from_the_server(site):
    flavor, sandbox = site
    assert gateway_for(sandbox, None).flavor == flavor


def test_search_pages_through_every_match(site):
    flavor, sandbox = site
    keys = [new_issue(sandbox, summary=f"issue {i}") for i in range(5)]
    gateway = gateway_for(sandbox, flavor)
    assert sorted(gateway.search_keys(f"project = {sandbox.project}", page_size=2)) == sorted(keys)
    assert {
        i["key"] for i in gateway.search(f"project = {sandbox.project}", fields=["status"], page_size=2)
    } == set(keys)


def test_writes_show_up_in_the_ticket_read_back(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    gateway = gateway_for(sandbox, flavor)
    gateway.set_priority(key, "Highest")
    gateway.edit_fields(key, {"Tier": "Systems Engineering"})
    gateway.add_labels(key, ["security", "checkout"])
    gateway.remove_labels(key, ["checkout"])
    assert gateway.transition(key, "start progress") is True
    assert gateway.transition(key, "In Progress") is False
    gateway.record_done(key, f"{key}:acknowledge")

    ticket = gateway.fetch_ticket(key, POLICY)
    assert (ticket.priority, ticket.status, ticket.tier) == ("P1", "In Progress", "Systems Engineering")
    assert ticket.labels == frozenset({"security"})
    assert ticket.done == frozenset({f"{key}:acknowledge"})
    assert [c.new for c in ticket.history("priority")] == ["P1"]
    assert [c.new for c in ticket.history("tier")] == ["Systems Engineering"]
    assert [c.new for c in ticket.history("status")] == ["In Progress"]


def test_comments_keep_their_visibility(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    gateway = gateway_for(sandbox, flavor)
    gateway.add_comment(key, "Looking into it", public=True)
    gateway.add_comment(key, "Internal: TLS errors", public=False)
    comments = gateway.fetch_ticket(key, POLICY).comments
    assert [(c.body, c.public) for c in comments] == [
        ("Looking into it", True),
        ("Internal: TLS errors", False),
    ]


def test_assign_and_resolve_with_a_resolution(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    gateway = gateway_for(sandbox, flavor)
    user = sandbox.state.catalog.users[0]
    gateway.assign(key, user.account_id if flavor == CLOUD else user.name)
    gateway.transition(key, "Resolved", resolution="Done")
    issue = gateway.fetch_issue(key)
    assert issue["fields"]["resolution"]["name"] == "Done"
    assert gateway.fetch_ticket(key, POLICY).assignee == (user.account_id if flavor == CLOUD else user.name)


def test_a_missing_transition_lists_the_available_ones(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    with pytest.raises(TransitionNotAvailable, match="Start progress"):
        gateway_for(sandbox, flavor).transition(key, "Teleport")


def test_request_sla_reads_jsm_cycles(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    metrics = gateway_for(sandbox, flavor).request_sla(key)
    assert all(m.name for m in metrics)


def test_a_wrong_token_is_authentication_failed(site):
    flavor, sandbox = site
    gateway = gateway_for(sandbox, flavor, token="wrong-token")
    with pytest.raises(AuthenticationFailed) as caught:
        gateway.server_info()
    assert "wrong-token" not in str(caught.value)


def test_an_outage_with_retry_after_is_waited_out_by_reads(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    sandbox.faults = Faults(outage_until=sandbox.clock.now() + timedelta(seconds=2))
    assert gateway_for(sandbox, flavor).fetch_issue(key)["key"] == key


def test_a_long_rate_limit_is_raised_not_slept(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    sandbox.faults = Faults(rate_limit=1.0, retry_after=600, rate_limit_reason="jira-quota-tenant-based")
    gateway = gateway_for(sandbox, flavor)
    start = sandbox.clock.now()
    with pytest.raises(RateLimited) as caught:
        gateway.set_priority(key, "High")
    assert caught.value.scope == "site" and caught.value.retry_after == 600
    assert sandbox.clock.now() == start


def test_the_executor_moves_a_ticket_up_a_tier_and_records_the_key(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    gateway = gateway_for(sandbox, flavor)
    at = sandbox.clock.now()
    action = MoveToTier(
        key=f"{key}:tier:Development",
        ticket=key,
        rule="se-to-dev",
        reason="2 days in SE",
        at=at,
        to="Development",
    )
    execute(action, gateway, POLICY)
    ticket = gateway.fetch_ticket(key, POLICY)
    assert (ticket.tier, ticket.status) == ("Development", "Escalated")
    assert f"{key}:tier:Development" in ticket.done


def test_a_dry_run_reads_but_sends_no_write(site):
    flavor, sandbox = site
    key = new_issue(sandbox)
    dry = DryRunGateway(gateway_for(sandbox, flavor))
    writes_before = sandbox.state.count_requests() - sandbox.state.count_requests("GET")
    comment = AddComment(
        key=f"{key}:ack",
        ticket=key,
        rule="acknowledge",
        reason="new ticket",
        at=sandbox.clock.now(),
        body="Hi",
        public=True,
    )
    execute(comment, dry, POLICY)
    assert dry.fetch_ticket(key, POLICY).done == frozenset({f"{key}:ack"})
    assert sandbox.state.count_requests() - sandbox.state.count_requests("GET") == writes_before
    assert [w.method for w in dry.writes] == ["add_comment", "record_done"]
