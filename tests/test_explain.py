"""`jsm-bridge explain`: a ticket's clocks, JSM's SLAs beside them, what is due now and what comes next."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from jsm_bridge.cli import main
from jsm_bridge.explain import explanation, format_explanation
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.sandbox import SandboxServer
from jsm_bridge.ticket import Change, Ticket
from tests.e2e_bridge import POLICY, Jira, sandbox_at

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def policy() -> Policy:
    return load_policy(POLICY)


def p1_in_first_line() -> Ticket:
    return Ticket(
        key="SUP-1",
        created=T0,
        status="Open",
        priority="P1",
        reporter="customer",
        fields={"summary": "Site down"},
        changes=(Change(T0, "priority", None, "P1", "jsm-bridge"),),
        done=frozenset({"SUP-1:classify"}),
    )


def test_clocks_show_goal_elapsed_remaining_and_breach_time(policy: Policy) -> None:
    ex = explanation(p1_in_first_line(), policy, T0 + timedelta(minutes=30))
    resolution = ex.clocks["resolution"]
    assert str(resolution.goal) == "4h"
    assert resolution.elapsed == timedelta(minutes=30)
    assert resolution.remaining == timedelta(hours=3, minutes=30)
    assert resolution.breach_at == T0 + timedelta(hours=4)
    assert ex.tier == "First line"


def test_new_ticket_shows_its_classification_due_now(policy: Policy) -> None:
    ticket = Ticket(
        key="SUP-2", created=T0, status="Open", reporter="customer", fields={"summary": "Site down"}
    )
    ex = explanation(ticket, policy, T0)
    assert [(a.kind, a.rule) for a in ex.due_now] == [("set_priority", "outage-is-p1")]


def test_upcoming_actions_come_with_their_times_and_reasons_in_order(policy: Policy) -> None:
    ex = explanation(p1_in_first_line(), policy, T0 + timedelta(minutes=30))
    assert ex.due_now == ()
    first = [(u.at, u.action.kind, u.action.params().get("to")) for u in ex.upcoming[:2]]
    assert first == [
        (T0 + timedelta(hours=1), "tier", "Second line"),
        (T0 + timedelta(hours=3), "tier", "Third line"),
    ]
    assert ex.upcoming[0].action.reason.startswith("Escalated to Second line")
    assert [u.at for u in ex.upcoming] == sorted(u.at for u in ex.upcoming)


def test_look_ahead_is_bounded(policy: Policy) -> None:
    ex = explanation(p1_in_first_line(), policy, T0, steps=3)
    assert len({u.at for u in ex.upcoming}) <= 3


def test_text_names_each_clock_and_the_rule_behind_each_action(policy: Policy) -> None:
    text = format_explanation(explanation(p1_in_first_line(), policy, T0 + timedelta(minutes=30)))
    assert "resolution" in text and "breach at 2026-11-24 13:00 UTC" in text
    assert "2026-11-24 10:00 UTC  tier" in text and "rule first-to-second" in text


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[SandboxServer]:  # type: ignore[no-untyped-def]
    with sandbox_at(T0) as server:
        monkeypatch.setenv("JSM_BRIDGE_JIRA_URL", server.url)
        monkeypatch.setenv("JSM_BRIDGE_JIRA_USER", "bridge")
        monkeypatch.setenv("JSM_BRIDGE_JIRA_TOKEN", "token")
        monkeypatch.setenv("JSM_BRIDGE_POLICIES", str(POLICY))
        monkeypatch.setenv("JSM_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'bridge.db'}")
        monkeypatch.setenv("JSM_BRIDGE_CLOCK", "sandbox")
        yield server


def test_explain_reads_the_ticket_from_jira_and_shows_jsm_slas_beside_ours(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key = Jira(sandbox).create("Site down")
    assert main(["explain", key, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ticket"] == key and data["policy"] == "e2e-desk"
    assert [a["rule"] for a in data["due_now"]] == ["outage-is-p1"]
    assert {"first_response", "resolution", "tier"} <= set(data["clocks"])
    assert data["jsm_slas"] and all("breach_time" in s for s in data["jsm_slas"])
    assert data["upcoming"][0]["params"]["to"] == "Second line"


def test_explain_says_when_a_ticket_is_outside_every_policy(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "OTHER-1"]) == 1
    assert "outside the scope of every loaded policy (e2e-desk)" in capsys.readouterr().err
