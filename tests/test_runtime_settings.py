"""The runtime's settings from the environment: the inbox retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from jsm_bridge.runtime import ConfigurationError, Runtime, Settings, inbox_retention
from tests.e2e_bridge import POLICY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, timedelta(days=7)),
        ("", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("2w", timedelta(days=14)),
        (" 1d12h ", timedelta(days=1, hours=12)),
        ("off", None),
        ("Never", None),
        ("0", None),
    ],
)
def test_the_inbox_retention_is_a_duration_or_off(text: str | None, expected: timedelta | None) -> None:
    assert inbox_retention(text) == expected


@pytest.mark.parametrize("text", ["7", "soon", "30m", "2d@office", "-1d"])
def test_a_retention_that_is_not_a_wall_clock_duration_of_an_hour_or_more_is_refused(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"JSM_BRIDGE_INBOX_RETENTION=.*7d or 36h.*off"):
        inbox_retention(text)


def test_the_runtime_hands_the_retention_to_its_scheduler(tmp_path: Path) -> None:
    env = {
        "JSM_BRIDGE_JIRA_URL": "https://jira.example.com",
        "JSM_BRIDGE_JIRA_USER": "bridge@example.com",
        "JSM_BRIDGE_JIRA_TOKEN": "token",
        "JSM_BRIDGE_POLICIES": str(POLICY),
        "JSM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "JSM_BRIDGE_INBOX_RETENTION": "3d",
    }
    assert Settings.from_env(env).inbox_retention == timedelta(days=3)
    assert Runtime.from_env(env).scheduler.inbox_retention == timedelta(days=3)
    assert Runtime.from_env({**env, "JSM_BRIDGE_INBOX_RETENTION": "off"}).scheduler.inbox_retention is None
