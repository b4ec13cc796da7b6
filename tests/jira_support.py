"""Shared pieces for the gateway tests: fixtures by name, fake time, gateways for Cloud and Data Center."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from jsm_bridge.clock import ManualClock
from jsm_bridge.jira.client import JiraGateway
from jsm_bridge.jira.config import CLOUD, DATA_CENTER, Flavor, JiraConfig

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
CLOUD_URL = "https://capitalbytes.atlassian.net"
DC_URL = "https://jira.capitalbytes.example"
TOKEN = "ATATT3xFfGF0-secret-token-value"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class FakeTime:
    """A manual clock and a sleep that moves it: waits take no real time and are recorded."""

    def __init__(self) -> None:
        self.clock = ManualClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


def url(flavor: Flavor, path: str) -> str:
    return f"{CLOUD_URL if flavor == CLOUD else DC_URL}/{path.lstrip('/')}"


def make_gateway(flavor: Flavor | None = CLOUD, **overrides: Any) -> tuple[JiraGateway, FakeTime]:
    fake = FakeTime()
    site = DC_URL if flavor == DATA_CENTER else CLOUD_URL
    settings: dict[str, Any] = {
        "url": site,
        "user": "bot@capitalbytes.example" if flavor != DATA_CENTER else None,
        "token": TOKEN,
        "flavor": flavor,
        "requests_per_second": 1000.0,
        "burst": 1000,
        "max_retry_after": 30.0,
        "read_attempts": 3,
    }
    settings.update(overrides)
    gateway = JiraGateway(
        JiraConfig(**settings), session=requests.Session(), clock=fake.clock, sleep=fake.sleep
    )
    return gateway, fake
