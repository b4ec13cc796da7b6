"""Fixtures of the end-to-end tests: the sandbox Jira at the tests' start time, a client of it, and a
bridge (webhook receiver, inbox workers and sweeper) on a SQLite file, all over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jsm_bridge.sandbox import SandboxServer
from tests.e2e_bridge import Bridge, Jira, sandbox_at, start_bridge

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with sandbox_at(T0) as server:
        yield server


@pytest.fixture
def jira(sandbox: SandboxServer) -> Jira:
    return Jira(sandbox)


@pytest.fixture
def bridge(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Bridge]:
    running = start_bridge(sandbox, f"sqlite:///{tmp_path / 'bridge.db'}", "bridge-a")
    yield running
    running.stop()
