"""End to end over real HTTP: tickets created in the sandbox are classified, escalated on time, updated,
reminded and closed by a running bridge (receiver, inbox workers, sweeper) on the sandbox's clock."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.e2e_bridge import Bridge, Jira, eventually

pytestmark = pytest.mark.slow

WAIT_FOR_CUSTOMER = "21"


def test_outage_is_classified_p1_and_climbs_the_tiers_on_time(jira: Jira, bridge: Bridge) -> None:
    key = jira.create("Site down", "Nothing loads since 08:55")
    eventually(lambda: jira.priority(key) == "Highest", what="classified P1 from the webhook")
    assert jira.tier(key) is None

    jira.advance(timedelta(minutes=59))
    time.sleep(1.5)
    assert jira.tier(key) is None  # not a minute early

    jira.advance(timedelta(minutes=1))  # one hour in First line
    started = time.monotonic()
    eventually(lambda: jira.tier(key) == "Second line", timeout=5, what="escalated to Second line")
    assert time.monotonic() - started < 5

    jira.advance(timedelta(hours=2))  # two hours in Second line
    eventually(lambda: jira.tier(key) == "Third line", timeout=5, what="escalated to Third line")
    eventually(lambda: any(not public for public, _ in jira.comments(key)), what="internal escalation note")
    assert jira.changes(key, "customfield_10050") == ["Second line", "Third line"]


def test_public_update_is_posted_when_none_was_given_for_four_hours(jira: Jira, bridge: Bridge) -> None:
    key = jira.create("Printer jammed on floor 3")
    eventually(lambda: bridge.store.cache_get(key, "e2e-desk") is not None, what="processed once")
    jira.advance(timedelta(hours=4))
    updates = eventually(lambda: [b for public, b in jira.comments(key) if public], what="public update")
    assert len(updates) == 1


def test_waiting_ticket_is_reminded_after_a_day_and_closed_after_two(jira: Jira, bridge: Bridge) -> None:
    key = jira.create("Cannot log in")
    jira.transition(key, WAIT_FOR_CUSTOMER)
    eventually(lambda: bridge.store.cache_get(key, "e2e-desk") is not None, what="processed once")
    jira.advance(timedelta(days=1))
    eventually(lambda: len(jira.comments(key)) >= 1, what="reminder")
    assert jira.status(key) == "Waiting for customer"
    jira.advance(timedelta(days=1))
    eventually(lambda: jira.status(key) == "Resolved", what="closed as stale")
    bodies = [body for _, body in jira.comments(key)]
    assert sum("still waiting for your reply" in b for b in bodies) == 1, bodies
    assert sum("We have closed" in b for b in bodies) == 1, bodies
