"""Exactly once over real HTTP against the sandbox: a crash after Jira accepted a write, before the done
key or the ledger's outcome was recorded, is settled from what Jira shows, and nothing is done twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from jsm_bridge.actions import Action, AddComment, SetPriority, Transition
from jsm_bridge.jira.client import JiraGateway
from jsm_bridge.jira.config import CLOUD, DATA_CENTER, JiraConfig
from jsm_bridge.jira.executor import perform
from jsm_bridge.jira.paths import ACTION_COMMENT_PROPERTY
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.process import TicketProcessor
from jsm_bridge.sandbox.server import SandboxServer
from jsm_bridge.store import Store

pytestmark = pytest.mark.e2e

PAT = "sandbox-personal-access-token"
SANDBOX_FLAVOR = {CLOUD: "cloud", DATA_CENTER: "datacenter"}
_projects = iter(f"R{n}" for n in range(1, 10_000))


@pytest.fixture(scope="module", params=[CLOUD, DATA_CENTER])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, SandboxServer]]:
    with SandboxServer(flavor=SANDBOX_FLAVOR[request.param], token=PAT) as sandbox:
        yield request.param, sandbox


@dataclass
class Bridge:
    sandbox: SandboxServer
    gateway: JiraGateway
    store: Store
    policy: Policy
    key: str

    def processor(self, decide: object = None) -> TicketProcessor:
        return TicketProcessor(
            gateway=self.gateway,
            store=self.store,
            policies=[self.policy],
            clock=self.sandbox.clock,
            holder="host-restarted",
            decide=decide,  # type: ignore[arg-type]
        )

    def comments(self) -> list[str]:
        return [c.body for c in self.sandbox.state.issue(self.key).comments]

    def crash_after_jira_accepted(self, action: Action) -> None:
        """Claim, carry the action out on Jira, then die: no done key on the issue, no ledger outcome."""
        assert self.store.ledger_claim(action, "host-gone")
        perform(action, self.gateway, self.policy)


@pytest.fixture
def bridge(server: tuple[str, SandboxServer], tmp_path: Path) -> Iterator[Bridge]:
    flavor, sandbox = server
    project = next(_projects)
    path = tmp_path / "desk.yaml"
    path.write_text(
        f"policy: desk\nscope: {{jql: 'project = {project}'}}\n"
        "priorities:\n  P1: {jira: Highest}\n  P3: {jira: Medium}\n"
    )
    settings: dict[str, object] = {"url": sandbox.url, "token": PAT, "flavor": flavor}
    if flavor == CLOUD:
        settings["user"] = "agent"
    gateway = JiraGateway(
        JiraConfig(**settings),  # type: ignore[arg-type]
        session=requests.Session(),
        clock=sandbox.clock,
        sleep=lambda seconds: sandbox.clock.advance(timedelta(seconds=seconds)),  # waits move the clock
    )
    store = Store(f"sqlite:///{tmp_path / 'bridge.db'}", clock=sandbox.clock)
    store.migrate()
    issue = sandbox.state.create_issue(
        {"project": project, "summary": "Checkout is down", "priority": "Medium"},
        actor="customer",
        notify=False,
    )
    yield Bridge(sandbox, gateway, store, load_policy(path), issue.key)
    store.close()
    gateway.close()


def _common(bridge: Bridge, name: str) -> dict[str, object]:
    return {
        "key": f"{bridge.key}:{name}",
        "ticket": bridge.key,
        "rule": name,
        "reason": f"{name} is due",
        "at": bridge.sandbox.clock.now(),
    }


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    next_due: datetime | None = None


def test_a_comment_posted_before_a_crash_is_marked_done_and_not_posted_again(bridge: Bridge) -> None:
    comment = AddComment(**_common(bridge, "acknowledge"), body="We are looking into it.", public=True)
    bridge.crash_after_jira_accepted(comment)
    assert bridge.gateway.done_keys(bridge.key) == frozenset()

    bridge.sandbox.clock.advance(timedelta(minutes=15))
    processor = bridge.processor(lambda t, p, now: Decision((comment,) if comment.key not in t.done else ()))
    result = processor.reconcile(timedelta(minutes=10))
    assert result.done == (comment.key,)
    entry = bridge.store.ledger_get(comment.key)
    assert entry is not None and entry.state == "done"

    processor.process(bridge.key, bridge.policy)
    assert bridge.comments() == ["We are looking into it."]


def test_an_internal_comment_carries_its_action_key_and_stays_internal(bridge: Bridge) -> None:
    note = AddComment(**_common(bridge, "note"), body="Paging the on-call engineer.", public=False)
    perform(note, bridge.gateway, bridge.policy)
    stored = bridge.sandbox.state.issue(bridge.key).comments[-1]
    assert stored.public is False
    assert stored.properties == {ACTION_COMMENT_PROPERTY: {"key": note.key}}
    assert bridge.gateway.comment_action_keys(bridge.key) == frozenset({note.key})


def test_a_comment_that_never_reached_jira_is_released_and_then_posted_once(bridge: Bridge) -> None:
    comment = AddComment(**_common(bridge, "acknowledge"), body="We are looking into it.", public=True)
    assert bridge.store.ledger_claim(comment, "host-gone")  # died before the POST

    bridge.sandbox.clock.advance(timedelta(minutes=15))
    processor = bridge.processor(lambda t, p, now: Decision((comment,) if comment.key not in t.done else ()))
    assert processor.reconcile(timedelta(minutes=10)).released == (comment.key,)
    processor.process(bridge.key, bridge.policy)
    assert bridge.comments() == ["We are looking into it."]


def test_a_transition_jira_already_shows_is_marked_done(bridge: Bridge) -> None:
    escalate = Transition(**_common(bridge, "escalate"), status="Escalated")
    bridge.crash_after_jira_accepted(escalate)
    bridge.sandbox.clock.advance(timedelta(minutes=15))
    result = bridge.processor().reconcile(timedelta(minutes=10))
    assert result.done == (escalate.key,)


def test_a_priority_jira_already_shows_is_marked_done(bridge: Bridge) -> None:
    urgent = SetPriority(**_common(bridge, "urgent"), priority="P1")
    bridge.crash_after_jira_accepted(urgent)
    bridge.sandbox.clock.advance(timedelta(minutes=15))
    result = bridge.processor().reconcile(timedelta(minutes=10))
    assert result.done == (urgent.key,)


def test_a_priority_change_jira_does_not_show_is_released(bridge: Bridge) -> None:
    urgent = SetPriority(**_common(bridge, "urgent"), priority="P1")
    assert bridge.store.ledger_claim(urgent, "host-gone")
    bridge.sandbox.clock.advance(timedelta(minutes=15))
    assert bridge.processor().reconcile(timedelta(minutes=10)).released == (urgent.key,)


def test_a_comment_whose_post_failed_after_jira_accepted_it_is_not_posted_again(bridge: Bridge) -> None:
    comment = AddComment(**_common(bridge, "acknowledge"), body="We are looking into it.", public=True)
    assert bridge.store.ledger_claim(comment, "host-1")
    perform(comment, bridge.gateway, bridge.policy)
    # The answer was lost (a timeout): the ledger records a failure, to be retried.
    bridge.store.ledger_failed(
        comment.key, "JiraUnavailable: no answer within 30s", bridge.sandbox.clock.now()
    )

    processor = bridge.processor(lambda t, p, now: Decision((comment,) if comment.key not in t.done else ()))
    result = processor.process(bridge.key, bridge.policy)
    assert [o.status for o in result.outcomes] == ["done"]
    assert bridge.comments() == ["We are looking into it."]
