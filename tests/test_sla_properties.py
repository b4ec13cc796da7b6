"""Properties of the clocks on random histories: time is either running or paused, and the projected
breach instant is exactly when the goal is reached if nothing else happens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from jsm_bridge.policy import load_policy
from jsm_bridge.sla import clocks
from jsm_bridge.ticket import Ticket

POLICY = load_policy(Path(__file__).parent / "policies" / "full.yaml")
OFFICE = POLICY.calendars["office"]
START = datetime(2026, 12, 21, 7, 30, tzinfo=UTC)  # the week of Christmas: holidays included

steps = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=60 * 48), st.sampled_from(["Awaiting third party", "In Progress"])
    ),
    max_size=8,
)


def history(priority: str, moves: list[tuple[int, str]]) -> tuple[Ticket, datetime]:
    ticket = Ticket(key="P-1", created=START, status="Open", priority=priority)
    at = START
    for minutes, status in moves:
        at += timedelta(minutes=minutes)
        ticket = ticket.with_change(at, "status", status)
    return ticket, at


@settings(max_examples=60, deadline=None)
@given(steps, st.sampled_from(["P1", "P3"]), st.integers(min_value=0, max_value=60 * 24))
def test_running_and_paused_time_add_up_to_the_time_since_the_start(moves, priority, later):
    ticket, last = history(priority, moves)
    now = last + timedelta(minutes=later)
    clock = clocks(ticket, POLICY, now)["resolution"]
    calendar = POLICY.calendar(clock.calendar)
    assert clock.elapsed + clock.paused == calendar.between(START, now)


@settings(max_examples=60, deadline=None)
@given(steps, st.sampled_from(["P1", "P3"]))
def test_the_clock_breaches_exactly_at_its_projected_instant(moves, priority):
    ticket, now = history(priority, moves)
    clock = clocks(ticket, POLICY, now)["resolution"]
    if clock.breach_at is None:
        assert clock.paused_now or clock.breached
        return
    at_breach = clocks(ticket, POLICY, clock.breach_at)["resolution"]
    assert at_breach.breached and at_breach.remaining == timedelta()
    before = clocks(ticket, POLICY, clock.breach_at - timedelta(minutes=1))["resolution"]
    assert not before.breached
