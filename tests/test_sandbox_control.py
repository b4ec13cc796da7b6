"""The sandbox's own controls: clock, faults, bulk creation, request log, SQLite storage, the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from jsm_bridge.cli import build_parser
from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox import Faults, RemoteClock, SandboxServer

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(START)) as server:
        yield server


def create(sandbox: SandboxServer) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/rest/api/2/issue", json={"fields": {"project": {"key": "CB"}, "summary": "Site down"}}
    )


def test_clock_endpoint_reads_sets_and_advances(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/_sandbox/clock"
    assert requests.get(url).json() == {"now": "2026-11-23T09:00:00+00:00"}
    assert requests.post(url, json={"advance_seconds": 3600}).json() == {"now": "2026-11-23T10:00:00+00:00"}
    requests.post(url, json={"set": "2026-12-01T08:30:00+00:00"})
    assert sandbox.clock.now() == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def test_clock_refuses_a_naive_instant(sandbox: SandboxServer) -> None:
    assert (
        requests.post(f"{sandbox.url}/_sandbox/clock", json={"set": "2026-12-01T08:30:00"}).status_code == 400
    )


def test_timestamps_come_from_the_sandbox_clock(sandbox: SandboxServer) -> None:
    requests.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": 86400})
    create(sandbox)
    created = requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1").json()["fields"]["created"]
    assert created == "2026-11-24T09:00:00.000+0000"


def test_remote_clock_follows_the_sandbox_clock(sandbox: SandboxServer) -> None:
    clock = RemoteClock(sandbox.url, cache_seconds=0)
    assert clock.now() == START
    sandbox.clock.advance(timedelta(minutes=5))
    assert clock.now() == START + timedelta(minutes=5)


def test_remote_clock_caches_its_reading(sandbox: SandboxServer) -> None:
    clock = RemoteClock(sandbox.url, cache_seconds=60)
    clock.now()
    sandbox.clock.advance(timedelta(hours=1))
    assert clock.now() == START
    clock.invalidate()
    assert clock.now() == START + timedelta(hours=1)


def test_rate_limit_fault_answers_429_with_retry_after_and_reason(sandbox: SandboxServer) -> None:
    sandbox.faults = Faults(rate_limit=1.0, retry_after=7, rate_limit_reason="jira-per-issue-on-write")
    response = create(sandbox)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
    assert sandbox.state.issues == {}


def test_faults_are_set_over_http_and_repeat_with_the_same_seed(sandbox: SandboxServer) -> None:
    def statuses() -> list[int]:
        requests.post(f"{sandbox.url}/_sandbox/faults", json={"reset": True, "server_error": 0.5, "seed": 42})
        return [requests.get(f"{sandbox.url}/rest/api/2/myself").status_code for _ in range(20)]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


def test_unavailable_fault_answers_503(sandbox: SandboxServer) -> None:
    sandbox.faults = Faults(unavailable=1.0)
    assert requests.get(f"{sandbox.url}/rest/api/2/myself").status_code == 503


def test_slow_fault_delays_answers(sandbox: SandboxServer) -> None:
    sandbox.faults = Faults(delay_ms=150)
    started = time.perf_counter()
    assert requests.get(f"{sandbox.url}/rest/api/2/myself").status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_outage_lasts_until_the_sandbox_clock_passes_it(sandbox: SandboxServer) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"outage_seconds": 600})
    down = requests.get(f"{sandbox.url}/rest/api/2/myself")
    assert down.status_code == 503 and down.headers["Retry-After"] == "600"
    requests.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": 601})
    assert requests.get(f"{sandbox.url}/rest/api/2/myself").status_code == 200


def test_faults_can_target_some_paths_only(sandbox: SandboxServer) -> None:
    sandbox.faults = Faults(server_error=1.0, path="/transitions$")
    assert create(sandbox).status_code == 201
    assert requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1/transitions").status_code == 500


def test_unknown_fault_setting_answers_400(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json={"rate_limt": 1})
    assert response.status_code == 400 and "rate_limt" in response.json()["errorMessages"][0]


def test_bulk_endpoint_creates_many_issues(sandbox: SandboxServer) -> None:
    response = requests.post(
        f"{sandbox.url}/_sandbox/bulk",
        json={"project": "BULK", "count": 250, "fields": {"priority": {"name": "Low"}}},
    )
    assert response.json() == {"created": 250, "first": "BULK-1", "last": "BULK-250"}
    assert sandbox.state.issue("BULK-250").fields["priority"] == "Low"


def test_request_log_counts_jira_requests(sandbox: SandboxServer) -> None:
    create(sandbox)
    requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1")
    requests.get(f"{sandbox.url}/_sandbox/clock")
    assert sandbox.state.count_requests() == 2
    assert sandbox.state.count_requests("POST") == 1
    log = requests.get(f"{sandbox.url}/_sandbox/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in log[:2]] == [
        ("POST", "/rest/api/2/issue", 201),
        ("GET", "/rest/api/2/issue/CB-1", 200),
    ]


def test_sqlite_database_keeps_issues_webhooks_and_clock_across_restarts(tmp_path) -> None:
    database = str(tmp_path / "sandbox.db")
    with SandboxServer(clock=ManualClock(START), database=database) as sandbox:
        create(sandbox)
        requests.post(f"{sandbox.url}/rest/api/2/issue/CB-1/comment", json={"body": "hello"})
        requests.post(
            f"{sandbox.url}/rest/webhooks/1.0/webhook",
            json={"name": "w", "url": "http://127.0.0.1:9/", "events": ["comment_created"]},
        )
        sandbox.clock.advance(timedelta(hours=1))
        sandbox.state.save_clock()
    with SandboxServer(database=database) as sandbox:
        assert sandbox.clock.now() == START + timedelta(hours=1)
        issue = requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1").json()
        assert issue["fields"]["comment"]["comments"][0]["body"] == "hello"
        assert create(sandbox).json()["key"] == "CB-2"
        assert len(requests.get(f"{sandbox.url}/rest/webhooks/1.0/webhook").json()) == 1


def test_cli_offers_the_sandbox_subcommand() -> None:
    args = build_parser().parse_args(
        ["sandbox", "--port", "0", "--flavor", "datacenter", "--database", "x.db"]
    )
    assert (args.command, args.port, args.flavor, args.database) == ("sandbox", 0, "datacenter", "x.db")


def test_a_given_clock_wins_over_the_stored_one(tmp_path) -> None:
    database = str(tmp_path / "sandbox.db")
    with SandboxServer(clock=ManualClock(START), database=database) as sandbox:
        create(sandbox)
    later = START + timedelta(days=3)
    with SandboxServer(clock=ManualClock(later), database=database) as sandbox:
        assert sandbox.clock.now() == later
