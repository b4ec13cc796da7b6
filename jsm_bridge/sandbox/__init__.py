"""A small Jira Service Management compatible server for the demo and end-to-end tests.

It answers the REST paths the gateway uses with Jira Cloud's (or Data Center's) JSON, sends webhooks,
runs on a controllable clock and injects faults on request. See docs/sandbox.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jsm_bridge.sandbox.catalog import Catalog, CustomField, Status, Transition, User
from jsm_bridge.sandbox.faults import Faults
from jsm_bridge.sandbox.remote_clock import RemoteClock
from jsm_bridge.sandbox.server import SandboxServer
from jsm_bridge.sandbox.state import JiraError, SandboxState
from jsm_bridge.sandbox.webhooks import signature

if TYPE_CHECKING:
    from jsm_bridge.jira import JiraConfig


def gateway_config(
    url: str, *, user: str = "bridge", requests_per_second: float = 500, burst: int = 100
) -> JiraConfig:
    """Gateway settings for a sandbox on this machine: its outages and 429s last seconds, not minutes,
    so retries start at 50 ms and a Retry-After is honoured up to 2 s."""
    from jsm_bridge.jira import JiraConfig

    return JiraConfig(
        url=url,
        user=user,
        token="token",
        flavor="cloud",
        requests_per_second=requests_per_second,
        burst=burst,
        max_retry_after=2,
        read_attempts=3,
        backoff_initial=0.05,
        backoff_max=0.2,
        timeout=10,
    )


__all__ = [
    "Catalog",
    "CustomField",
    "Faults",
    "JiraError",
    "RemoteClock",
    "SandboxServer",
    "SandboxState",
    "Status",
    "Transition",
    "User",
    "gateway_config",
    "signature",
]
