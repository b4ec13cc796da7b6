"""End-to-end test rig: the sandbox and one or more bridge instances on local ports, over real HTTP.

Each bridge instance is a Runtime (store, gateway, processor, sweeper, scheduler) plus the receiver app
served by werkzeug on its own port, its webhook registered in the sandbox; all share the sandbox's clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from jsm_bridge.clock import ManualClock
from jsm_bridge.jira import JiraGateway
from jsm_bridge.jira.adapter import comment_is_public
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.runtime import Runtime
from jsm_bridge.sandbox import Faults, SandboxServer, User, gateway_config
from jsm_bridge.store import Store
from webhooks.app import create_app, shutdown

POLICY = Path(__file__).parent / "policies" / "e2e-desk.yaml"
TIER_FIELD = "customfield_10050"
WEBHOOK_EVENTS = ["jira:issue_created", "jira:issue_updated", "comment_created", "comment_updated"]


def eventually(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.1, what: str = "") -> Any:
    """The first truthy result of `check`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s: {what or check}; last result {last!r}")


class Jira:
    """The sandbox as a person at a Jira site sees it: create, comment, transition, look."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.url = sandbox.url
        self.clock = sandbox.clock
        self.session = requests.Session()

    def _call(self, method: str, path: str, user: str = "agent", **kw: Any) -> Any:
        for _ in range(50):  # the test's own look at Jira waits out the faults it injects
            response = self.session.request(
                method, f"{self.url}/{path}", auth=(user, "token"), timeout=10, **kw
            )
            if response.status_code not in (429, 500, 503):
                break
            time.sleep(0.1)
        response.raise_for_status()
        return response.json() if response.content else None

    def create(self, summary: str, description: str = "", reporter: str = "customer") -> str:
        fields = {"project": {"key": "SUP"}, "summary": summary, "description": description}
        return str(self._call("POST", "rest/api/2/issue", reporter, json={"fields": fields})["key"])

    def comment(self, key: str, body: str, user: str = "customer") -> None:
        self._call("POST", f"rest/api/2/issue/{key}/comment", user, json={"body": body})

    def transition(self, key: str, transition_id: str) -> None:
        self._call("POST", f"rest/api/2/issue/{key}/transitions", json={"transition": {"id": transition_id}})

    def issue(self, key: str) -> dict[str, Any]:
        return dict(self._call("GET", f"rest/api/2/issue/{key}", params={"expand": "changelog"}))

    def status(self, key: str) -> str:
        return str(self.issue(key)["fields"]["status"]["name"])

    def priority(self, key: str) -> str | None:
        priority = self.issue(key)["fields"].get("priority")
        return priority.get("name") if priority else None

    def tier(self, key: str) -> str | None:
        value = self.issue(key)["fields"].get(TIER_FIELD)
        return value.get("value") if isinstance(value, dict) else value

    def changes(self, key: str, field_id: str) -> list[str]:
        """The new values of every change of one field, oldest first."""
        histories = self.issue(key).get("changelog", {}).get("histories", [])
        return [
            str(item.get("toString"))
            for h in histories
            for item in h.get("items", [])
            if item.get("fieldId") == field_id or item.get("field") == field_id
        ]

    def comments(self, key: str, by: str | None = "bridge") -> list[tuple[bool, str]]:
        """(public, body) of each comment, by one author (account id or name) unless `by` is None."""
        data = self._call("GET", f"rest/api/2/issue/{key}/comment", params={"expand": "properties"})
        out = []
        wanted = {by, User(by, by).account_id} if by else set()
        for c in data.get("comments", []):
            author = c.get("author") or {}
            if by is None or wanted & {author.get("accountId"), author.get("name")}:
                out.append((comment_is_public(c), str(c.get("body"))))
        return out

    def done_keys(self, key: str) -> list[str]:
        try:
            data = self._call("GET", f"rest/api/2/issue/{key}/properties/jsm-bridge.actions")
        except requests.HTTPError:
            return []
        return list(data.get("value") or [])

    def advance(self, by: timedelta) -> datetime:
        return datetime.fromisoformat(
            self._call("POST", "_sandbox/clock", "admin", json={"advance_seconds": by.total_seconds()})["now"]
        )

    def faults(self, **settings: Any) -> None:
        self._call("POST", "_sandbox/faults", "admin", json=settings)

    def requests_log(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "_sandbox/requests", "admin"))

    def register_webhook(self, url: str, name: str) -> None:
        body = {"name": name, "url": url, "events": WEBHOOK_EVENTS}
        self._call("POST", "rest/webhooks/1.0/webhook", "admin", json=body)

    def flush_webhooks(self, timeout: float = 10.0) -> None:
        self._call("POST", "_sandbox/webhooks/flush", "admin", json={"timeout": timeout})


@dataclass
class Bridge:
    """One running bridge instance."""

    runtime: Runtime
    app: Any
    url: str
    server: Any
    thread: threading.Thread

    @property
    def store(self) -> Store:
        return self.runtime.store  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.runtime.stop()
        shutdown(self.app, timeout=10)
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


def gateway_for(sandbox: SandboxServer) -> JiraGateway:
    return JiraGateway(gateway_config(sandbox.url))


def start_bridge(
    sandbox: SandboxServer, database_url: str, name: str, policy: Policy | None = None
) -> Bridge:
    clock = sandbox.clock
    store = Store(database_url, clock=clock)
    runtime = Runtime(
        policies=[policy or load_policy(POLICY)],
        store=store,
        gateway=gateway_for(sandbox),
        clock=clock,
        holder=name,
        lease_ttl=timedelta(seconds=20),
    )
    runtime.prepare()
    app = create_app(
        {
            **runtime.receiver_settings(),
            "worker_threads": 2,
            "worker_poll_interval": 0.1,
            "worker_backoff": timedelta(seconds=5),
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"bridge-{name}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    Jira(sandbox).register_webhook(f"{url}/webhooks/jira", name)
    runtime.start(sweep_now=True)
    return Bridge(runtime, app, url, server, thread)


@contextmanager
def sandbox_at(start: datetime, faults: Faults | None = None) -> Iterator[SandboxServer]:
    server = SandboxServer(
        flavor="cloud", clock=ManualClock(start), faults=faults, webhook_retry_delays=(0.2, 0.5)
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
