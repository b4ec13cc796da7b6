"""The site budget: a shared token bucket, and pauses scoped by Jira's RateLimit-Reason."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from jsm_bridge.jira.errors import RateLimited
from jsm_bridge.jira.ratelimit import (
    Request,
    SiteBudget,
    budget_for_site,
    parse_retry_after,
    scope_for_reason,
)
from tests.jira_support import FakeTime

READ_ISSUE = Request("GET", "rest/api/2/issue/{key}", "CB-1")
EDIT_ISSUE = Request("PUT", "rest/api/2/issue/{key}", "CB-1")
EDIT_OTHER = Request("PUT", "rest/api/2/issue/{key}", "CB-2")
SEARCH = Request("GET", "rest/api/2/search/jql")


def budget(rate: float = 2.0, burst: int = 2) -> tuple[SiteBudget, FakeTime]:
    fake = FakeTime()
    return SiteBudget(rate, burst, clock=fake.clock, sleep=fake.sleep), fake


def test_a_burst_goes_at_once_and_then_requests_are_spaced_by_the_rate():
    b, fake = budget(rate=2.0, burst=2)
    assert b.acquire(SEARCH) == 0 and b.acquire(SEARCH) == 0
    assert b.acquire(SEARCH) == pytest.approx(0.5)
    assert fake.slept == [pytest.approx(0.5)]


def test_tokens_come_back_with_time():
    b, fake = budget(rate=2.0, burst=2)
    b.acquire(SEARCH), b.acquire(SEARCH)
    fake.clock.advance(timedelta(seconds=1))
    assert b.acquire(SEARCH) == 0 and b.acquire(SEARCH) == 0


@pytest.mark.parametrize(
    ("reason", "scope"),
    [
        ("jira-burst-based", "endpoint"),
        ("jira-per-issue-on-write", "issue"),
        ("jira-quota-tenant-based", "site"),
        ("jira-quota-global-based", "site"),
        (None, "site"),
    ],
)
def test_the_rate_limit_reason_names_the_scope_to_pause(reason, scope):
    assert scope_for_reason(reason) == scope


def test_a_burst_limit_pauses_only_that_endpoint_and_method():
    b, _ = budget(rate=100, burst=100)
    b.pause(READ_ISSUE, 10, "jira-burst-based")
    assert b.paused_for(Request("GET", "rest/api/2/issue/{key}", "CB-9")) == pytest.approx(10)
    assert b.paused_for(EDIT_ISSUE) == 0
    assert b.paused_for(SEARCH) == 0


def test_a_per_issue_limit_pauses_only_writes_to_that_issue():
    b, _ = budget(rate=100, burst=100)
    b.pause(EDIT_ISSUE, 4, "jira-per-issue-on-write")
    assert b.paused_for(EDIT_ISSUE) == pytest.approx(4)
    assert b.paused_for(Request("POST", "rest/api/2/issue/{key}/comment", "CB-1")) == pytest.approx(4)
    assert b.paused_for(READ_ISSUE) == 0
    assert b.paused_for(EDIT_OTHER) == 0


def test_a_quota_limit_pauses_everything():
    b, _ = budget(rate=100, burst=100)
    b.pause(SEARCH, 60, "jira-quota-tenant-based")
    assert all(b.paused_for(r) == pytest.approx(60) for r in (READ_ISSUE, EDIT_ISSUE, EDIT_OTHER, SEARCH))


def test_acquire_waits_out_a_pause_within_the_bound():
    b, fake = budget(rate=100, burst=100)
    b.pause(SEARCH, 3, "jira-burst-based")
    assert b.acquire(SEARCH, max_wait=5) == pytest.approx(3)
    assert b.paused_for(SEARCH) == 0


def test_acquire_refuses_a_pause_beyond_the_bound_without_sleeping():
    b, fake = budget(rate=100, burst=100)
    b.pause(EDIT_ISSUE, 300, "jira-per-issue-on-write")
    with pytest.raises(RateLimited) as caught:
        b.acquire(EDIT_ISSUE, max_wait=30)
    assert caught.value.scope == "issue" and caught.value.retry_after == pytest.approx(300)
    assert fake.slept == []


def test_a_shorter_pause_does_not_cut_a_longer_one():
    b, _ = budget()
    b.pause(SEARCH, 60, None)
    b.pause(SEARCH, 5, None)
    assert b.paused_for(SEARCH) == pytest.approx(60)


def test_threads_sharing_a_budget_never_take_more_than_it_holds():
    b, fake = budget(rate=50, burst=5)
    start = fake.clock.now()

    def worker() -> None:
        for _ in range(20):
            b.acquire(SEARCH)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 80 requests at 50 per second after a burst of 5 need at least 1.5 seconds.
    assert (fake.clock.now() - start).total_seconds() >= (80 - 5) / 50 - 1e-9


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    fake = FakeTime()
    assert parse_retry_after("12", fake.clock.now()) == 12
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", fake.clock.now()) == 30
    assert parse_retry_after("soon", fake.clock.now()) is None
    assert parse_retry_after(None, fake.clock.now()) is None


def test_gateways_for_one_site_share_one_budget():
    first = budget_for_site("https://shared.example.net/")
    assert budget_for_site("https://SHARED.example.net") is first
    assert budget_for_site("https://other.example.net") is not first
