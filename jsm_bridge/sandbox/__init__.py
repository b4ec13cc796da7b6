"""A small Jira Service Management compatible server for the demo and end-to-end tests.

It answers the REST paths the gateway uses with Jira Cloud's (or Data Center's) JSON, sends webhooks,
runs on a controllable clock and injects faults on request. See docs/sandbox.md."""

from jsm_bridge.sandbox.catalog import Catalog, CustomField, Status, Transition, User
from jsm_bridge.sandbox.faults import Faults
from jsm_bridge.sandbox.remote_clock import RemoteClock
from jsm_bridge.sandbox.server import SandboxServer
from jsm_bridge.sandbox.state import JiraError, SandboxState
from jsm_bridge.sandbox.webhooks import signature

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
    "signature",
]
