"""`jsm-bridge sweep --once [--dry-run] [--policy NAME]` against the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jsm_bridge.cli import main
from jsm_bridge.sandbox import SandboxServer
from jsm_bridge.store import Store
from tests.e2e_bridge import POLICY, Jira, sandbox_at

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SandboxServer]:
    with sandbox_at(T0) as server:
        monkeypatch.setenv("JSM_BRIDGE_JIRA_URL", server.url)
        monkeypatch.setenv("JSM_BRIDGE_JIRA_USER", "bridge")
        monkeypatch.setenv("JSM_BRIDGE_JIRA_TOKEN", "token")
        monkeypatch.setenv("JSM_BRIDGE_POLICIES", str(POLICY))
        monkeypatch.setenv("JSM_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'bridge.db'}")
        monkeypatch.setenv("JSM_BRIDGE_CLOCK", "sandbox")
        monkeypatch.delenv("JSM_BRIDGE_DRY_RUN", raising=False)
        yield server


def writes(jira: Jira) -> list[str]:
    return [
        f"{r['method']} {r['path']}" for r in jira.requests_log() if r["method"] in ("POST", "PUT", "DELETE")
    ]


def test_dry_run_prints_what_it_would_do_and_writes_nothing(
    sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jira = Jira(sandbox)
    key = jira.create("Site down")
    before = writes(jira)
    assert main(["sweep", "--once", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "e2e-desk: 1 tickets read, 1 with actions due, 1 actions planned" in out
    assert f"{key:<12} would    set_priority rule outage-is-p1: Priority set to P1" in out
    assert writes(jira) == before
    assert Store(f"sqlite:///{tmp_path / 'bridge.db'}").ledger_entries() == []


def test_sweep_once_acts_and_reports_each_action(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    jira = Jira(sandbox)
    key = jira.create("Site down")
    assert main(["sweep", "--once"]) == 0
    assert f"{key:<12} done     set_priority rule outage-is-p1" in capsys.readouterr().out
    assert jira.priority(key) == "Highest"
    assert main(["sweep", "--once"]) == 0  # nothing twice
    assert "0 with actions due" in capsys.readouterr().out


def test_sweep_of_an_unknown_policy_names_the_loaded_ones(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--once", "--policy", "nope"]) == 2
    assert "no policy named 'nope'; loaded: e2e-desk" in capsys.readouterr().err


def test_sweep_without_once_points_to_serve(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep"]) == 2
    assert "jsm-bridge serve" in capsys.readouterr().err
