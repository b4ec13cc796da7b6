"""End to end across a crash: `jsm-bridge serve` killed with SIGKILL in the middle of a sweep, then
started again, loses no due action and repeats none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e_bridge import POLICY, TIER_FIELD, Jira, eventually, sandbox_at
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TICKETS = 20


def test_bridge_killed_mid_sweep_loses_and_repeats_nothing(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'bridge.db'}"
    log = tmp_path / "serve.log"
    with sandbox_at(T0) as sandbox:
        jira = Jira(sandbox)
        keys = [jira.create(f"Site down {i}") for i in range(TICKETS)]  # no webhook: the sweep finds them
        jira.faults(delay_ms=40, path=r"^/rest/")  # a slow Jira keeps the sweep busy long enough to kill it
        first = ServeProcess(sandbox.url, database, POLICY, log)
        try:
            first.wait_healthy()
            eventually(
                lambda: (
                    sum(1 for r in jira.requests_log() if r["method"] == "PUT" and "properties" in r["path"])
                    >= 3
                ),
                timeout=20,
                what="a few actions done",
            )
            first.kill()
        finally:
            first.close()
        done_before = sum(jira.priority(k) == "Highest" for k in keys)
        assert 0 < done_before < TICKETS, "the kill should land in the middle of the sweep"

        jira.faults(reset=True)
        jira.advance(timedelta(minutes=15))  # restarted later: the dead leader's lease and claims have lapsed
        second = ServeProcess(sandbox.url, database, POLICY, log)
        try:
            second.wait_healthy()
            eventually(
                lambda: all(jira.priority(k) == "Highest" for k in keys), timeout=20, what="all classified"
            )
            jira.advance(timedelta(minutes=45))
            # Escalated, and the escalation's key recorded on the issue (the last write of an action):
            # the process is killed below, so it must not be caught between the two.
            eventually(
                lambda: all(jira.tier(k) == "Second line" and len(jira.done_keys(k)) >= 2 for k in keys),
                timeout=20,
                what="all escalated",
            )
        finally:
            second.close()
        for key in keys:
            assert jira.changes(key, "priority") == ["Highest"], key
            assert jira.changes(key, TIER_FIELD) == ["Second line"], key
            done = jira.done_keys(key)
            assert len(done) == len(set(done)) == 2, (key, done)
