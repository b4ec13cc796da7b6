"""SLA clocks: what counts as working time, pauses, goals with several parts, priority changes, cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jsm_bridge.actions import BOT_AUTHOR
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.sla import build_timeline, clocks
from jsm_bridge.ticket import Comment, Ticket

BASE = """
policy: clocks-test
scope: {jql: 'project = T'}
calendars:
  office: {timezone: Europe/London, week: {mon-fri: "08:00-17:00"}}
  always: 24x7
priorities: {P1: {jira: Highest}, P2: {jira: High}, P3: {jira: Medium}}
tiers: [{name: First}, {name: Second}]
escalate: [{id: first-limit, from: First, after: [1d@office, 12h], to: Second}]
"""
TARGETS = """
targets:
  first_response: {default: 4h@office}
  resolution: {P1: 24h@always, P2: 72h@always, P3: 5d@office}
  pause: {status: [Awaiting third party]}
"""
MON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday; London is on UTC in November


def policy(tmp_path: Path, extra: str = TARGETS) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE + extra, encoding="utf-8")
    return load_policy(path)


def ticket(priority: str = "P3", **kwargs: object) -> Ticket:
    return Ticket(key="T-1", created=MON, status="Open", priority=priority, reporter="cust", **kwargs)  # type: ignore[arg-type]


def agent_comment(at: datetime, public: bool = True, author: str = "agent-1") -> Comment:
    return Comment(at=at, author=author, role="agent", public=public, body="hello")


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_resolution_clock_counts_office_hours_only(tmp_path):
    clock = clocks(ticket("P3"), policy(tmp_path), MON + timedelta(days=1))  # Tuesday 09:00
    assert clock["resolution"].elapsed == hours(9)  # Mon 09-17 and Tue 08-09
    assert clock["resolution"].remaining == hours(36)
    assert not clock["resolution"].breached


def test_breach_at_projects_the_remaining_working_time_from_now(tmp_path):
    clock = clocks(ticket("P3"), policy(tmp_path), MON)["resolution"]
    # 45 office hours from Monday 09:00: Friday 17:00 is 44h, so Monday next week 09:00.
    assert clock.breach_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_time_awaiting_a_third_party_is_paused_and_moves_the_breach(tmp_path):
    t = ticket("P1").with_change(MON + hours(2), "status", "Awaiting third party")
    t = t.with_change(MON + hours(5), "status", "In Progress")
    clock = clocks(t, policy(tmp_path), MON + hours(6))["resolution"]
    assert clock.elapsed == hours(3)
    assert clock.paused == hours(3)
    assert clock.breach_at == MON + hours(27)


def test_a_paused_clock_has_no_breach_instant(tmp_path):
    t = ticket("P1").with_change(MON + hours(2), "status", "Awaiting third party")
    clock = clocks(t, policy(tmp_path), MON + hours(4))["resolution"]
    assert clock.paused_now and clock.breach_at is None
    assert clock.paused == hours(2)


def test_a_limit_with_two_parts_breaches_at_the_earlier_part(tmp_path):
    # First tier limit is 1 working day (9 office hours) or 12 hours: from Friday 15:00 the
    # 12 hours come first (Saturday 03:00), long before Monday 15:00.
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    t = Ticket(key="T-2", created=friday, status="Open", priority="P3")
    clock = clocks(t, policy(tmp_path), friday)["tier"]
    assert clock.breach_at == friday + hours(12)
    assert clock.calendar is None  # measured on the wall clock: the part that decides


def test_a_resolved_ticket_stops_the_clock_and_says_by_how_much_it_breached(tmp_path):
    t = ticket("P1").with_change(MON + hours(30), "status", "Resolved")
    clock = clocks(t, policy(tmp_path), MON + hours(40))["resolution"]
    assert clock.stopped == MON + hours(30)
    assert clock.breached and clock.breached_by == hours(6)
    assert clock.breached_at == MON + hours(24)
    assert clock.breach_at is None


def test_answering_exactly_on_the_limit_is_not_a_breach(tmp_path):
    t = ticket().with_comment(agent_comment(MON + hours(4)))
    clock = clocks(t, policy(tmp_path), MON + hours(5))["first_response"]
    assert clock.stopped == MON + hours(4) and not clock.breached


def test_first_response_is_met_by_a_public_comment_from_a_person(tmp_path):
    t = ticket().with_comment(agent_comment(MON + hours(1)))
    assert clocks(t, policy(tmp_path), MON + hours(2))["first_response"].stopped == MON + hours(1)


@pytest.mark.parametrize(
    "comment",
    [
        agent_comment(MON + hours(1), author=BOT_AUTHOR),
        agent_comment(MON + hours(1), public=False),
        Comment(at=MON + hours(1), author="cust", role="customer", public=True, body="hi"),
    ],
    ids=["bridge-acknowledgement", "internal-note", "customer-comment"],
)
def test_first_response_is_not_met_by_the_bridge_an_internal_note_or_the_customer(tmp_path, comment):
    t = ticket().with_comment(comment)
    assert clocks(t, policy(tmp_path), MON + hours(2))["first_response"].stopped is None


def test_first_response_can_be_met_by_entering_a_status(tmp_path):
    extra = TARGETS + "  first_response_met_by: {status: [In Progress]}\n"
    t = ticket().with_change(MON + hours(1), "status", "In Progress")
    assert clocks(t, policy(tmp_path, extra), MON + hours(2))["first_response"].stopped == MON + hours(1)


def test_a_raised_priority_recomputes_the_goal_from_the_start(tmp_path):
    t = ticket("P3").with_change(MON + hours(6), "priority", "P1")
    clock = clocks(t, policy(tmp_path), MON + hours(7))["resolution"]
    assert str(clock.goal) == "24h@always"
    assert clock.started == MON
    assert clock.breach_at == MON + hours(24)


def test_with_restart_a_raised_priority_counts_its_goal_from_the_change(tmp_path):
    extra = TARGETS + "  on_priority_change: restart\n"
    t = ticket("P3").with_change(MON + hours(6), "priority", "P1")
    clock = clocks(t, policy(tmp_path, extra), MON + hours(7))["resolution"]
    assert clock.started == MON + hours(6)
    assert clock.breach_at == MON + hours(30)


def test_a_reopen_starts_a_new_resolution_cycle(tmp_path):
    t = ticket("P1").with_change(MON + hours(2), "status", "Resolved")
    t = t.with_change(MON + hours(10), "status", "Open")
    clock = clocks(t, policy(tmp_path), MON + hours(11))["resolution"]
    assert clock.cycle == 2
    assert clock.started == MON + hours(10)
    assert clock.elapsed == hours(1)


def test_a_pause_condition_is_evaluated_on_the_ticket_as_it_was_at_each_change(tmp_path):
    extra = TARGETS.replace("pause: {status: [Awaiting third party]}", "pause: {when: {label: vendor}}")
    t = ticket("P1").with_change(MON + hours(1), "labels", ["vendor"])
    t = t.with_change(MON + hours(4), "labels", [])
    clock = clocks(t, policy(tmp_path, extra), MON + hours(5))["resolution"]
    assert clock.paused == hours(3) and clock.elapsed == hours(2)


def test_time_in_tier_counts_from_entering_the_tier(tmp_path):
    t = ticket().with_change(MON + hours(3), "tier", "Second")
    timeline = build_timeline(t, policy(tmp_path), MON + hours(5))
    assert timeline.tier_since == MON + hours(3)
    assert timeline.clocks()["tier"].elapsed == hours(2)


def test_waiting_for_the_customer_counts_from_their_last_reply(tmp_path):
    extra = TARGETS + "stale: {status: Waiting for customer, close_after: 5d, transition: Resolved}\n"
    t = ticket().with_change(MON + hours(1), "status", "Waiting for customer")
    t = t.with_comment(Comment(at=MON + hours(30), author="cust", role="customer", public=True, body="soon"))
    clock = clocks(t, policy(tmp_path, extra), MON + hours(31))["waiting"]
    assert clock.started == MON + hours(30)
    assert clock.breach_at == MON + hours(30) + timedelta(days=5)


def test_every_clock_is_present_even_when_it_does_not_apply(tmp_path):
    result = clocks(ticket(), policy(tmp_path, ""), MON)
    assert set(result) == {"first_response", "resolution", "tier", "update", "waiting"}
    assert result["resolution"].goal is None and result["waiting"].started is None


def test_a_history_out_of_order_is_read_in_time_order(tmp_path):
    t = ticket("P1").with_change(MON + hours(5), "status", "In Progress")
    t = t.with_change(MON + hours(2), "status", "Awaiting third party")
    t = t.with_comment(agent_comment(MON + hours(3))).with_comment(agent_comment(MON + hours(1)))
    result = clocks(t, policy(tmp_path), MON + hours(6))
    assert result["resolution"].paused == hours(3)
    assert result["first_response"].stopped == MON + hours(1)


def test_a_resolution_the_bridge_undid_is_not_a_reopen(tmp_path):
    t = ticket("P1").with_change(MON + hours(2), "status", "Resolved")
    t = t.with_change(MON + hours(2), "status", "In Progress", author=BOT_AUTHOR)
    clock = clocks(t, policy(tmp_path), MON + hours(3))["resolution"]
    assert clock.cycle == 1 and clock.started == MON and clock.elapsed == hours(3)
