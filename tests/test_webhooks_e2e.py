"""End to end over HTTP: the sandbox (a JSM look-alike) sends real, signed webhooks to a running receiver,
registered with `register-webhook`; events land in the inbox, and the workers carry them through the
processor and the gateway back to the sandbox."""

from __future__ import annotations

import io
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from jsm_bridge.actions import Action, SetPriority
from jsm_bridge.cli import build_parser
from jsm_bridge.clock import ManualClock
from jsm_bridge.jira import JiraConfig, gateway_from_config
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.process import TicketProcessor
from jsm_bridge.sandbox import SandboxServer
from jsm_bridge.store import Store
from jsm_bridge.ticket import Ticket
from jsm_bridge.webhook_admin import run as register_run
from tests.serve_process import start_production_server
from tests.webhook_harness import Jira, fixture_bytes, running
from webhooks import ReceiverConfig, create_app, shutdown

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET = "end-to-end secret"


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "support.yaml"
    path.write_text(
        "policy: support\nscope: {jql: 'project = SUP'}\n"
        "priorities: {P1: {jira: Highest}, P3: {jira: Medium}}\n"
    )
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=ManualClock(START))
    store.migrate()
    yield store
    store.close()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def register(sandbox: SandboxServer, receiver: str, policies: Path) -> None:
    env = {
        "JSM_BRIDGE_JIRA_URL": sandbox.url,
        "JSM_BRIDGE_JIRA_USER": "admin@example.com",
        "JSM_BRIDGE_JIRA_TOKEN": "token",
        "JSM_BRIDGE_POLICIES": str(policies),
        "JSM_BRIDGE_WEBHOOK_SECRET": SECRET,
    }
    args = build_parser().parse_args(["register-webhook", "--url", receiver])
    assert register_run(args, env=env, out=io.StringIO()) == 0


def create_issue(sandbox: SandboxServer, summary: str = "Drucker kaputt — imprimante en panne") -> str:
    body = {"fields": {"project": {"key": "SUP"}, "summary": summary}}
    response = requests.post(f"{sandbox.url}/rest/api/2/issue", json=body, timeout=5)
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def comment(sandbox: SandboxServer, key: str, text: str) -> None:
    response = requests.post(f"{sandbox.url}/rest/api/2/issue/{key}/comment", json={"body": text}, timeout=5)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_the_sandbox_webhooks_land_in_the_inbox_signed_and_once(
    flavor: str, store: Store, policy_file: Path
) -> None:
    app = create_app(ReceiverConfig(store=store, webhook_secret=SECRET, clock=store.clock))
    with (
        SandboxServer(flavor=flavor, clock=ManualClock(START)) as sandbox,
        running(app) as receiver,
    ):
        register(sandbox, receiver, policy_file)
        key = create_issue(sandbox)
        comment(sandbox, key, "Any news? 何かありますか?")
        events = wait_for(lambda: (e := store.inbox_list()) and len(e) >= 2 and e)
    shutdown(app)

    by_type = {e.event_type: e for e in events}
    assert set(by_type) == {"jira:issue_created", "comment_created"}
    assert by_type["jira:issue_created"].issue_key == key
    assert all(e.flavor == flavor for e in events)
    if flavor == "cloud":
        assert all(e.delivery_id for e in events)
        assert by_type["comment_created"].issue_key == key
    else:
        # Data Center comment events name the issue by id only; the workers look the key up.
        assert by_type["comment_created"].issue_key.isdigit()  # type: ignore[union-attr]


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    next_due: datetime | None = None


def raise_to_p1(ticket: Ticket, policy: Policy, now: datetime) -> Decision:
    """A stand-in for the engine: every ticket not yet at P1 is raised to P1, once."""
    action = SetPriority(
        key=f"{ticket.key}:classify:P1", ticket=ticket.key, rule="all-users", reason="all users affected",
        at=now, priority="P1",
    )  # fmt: skip
    return Decision(actions=() if action.key in ticket.done else (action,))


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_a_webhook_is_carried_through_the_workers_processor_and_gateway_back_to_jira(
    flavor: str, store: Store, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    with SandboxServer(flavor=flavor, clock=ManualClock(START)) as sandbox:
        gateway = gateway_from_config(JiraConfig(url=sandbox.url, user="bot@example.com", token="t"))
        processor = TicketProcessor(
            gateway=gateway,
            store=store,
            policies=[load_policy(policy_file)],
            clock=store.clock,
            holder="e2e",
            decide=raise_to_p1,
        )
        app = create_app(
            ReceiverConfig(
                store=store, webhook_secret=SECRET, clock=store.clock, processor=processor, worker_threads=2
            )
        )
        with running(app) as receiver:
            register(sandbox, receiver, policy_file)
            key = create_issue(sandbox)

            def raised() -> bool:
                issue = requests.get(f"{sandbox.url}/rest/api/2/issue/{key}", timeout=5).json()
                return issue["fields"]["priority"]["name"] == "Highest"

            wait_for(raised)
            comment(sandbox, key, "Still broken")
            wait_for(lambda: store.inbox_depth()["done"] >= 3)  # created, updated (priority), comment
            metrics = Jira(receiver).get("/metrics").text
        shutdown(app)

    assert [e.key for e in store.ledger_entries(key)] == [f"{key}:classify:P1"]
    assert 'jsm_bridge_actions_total{kind="set_priority",outcome="done"} 1.0' in metrics
    assert store.inbox_depth()["dead"] == 0
    assert "ignored:" not in caplog.text  # every event, the id-only Data Center comment too, was processed


def test_after_a_processed_webhook_the_metrics_count_the_jira_calls_by_method_and_status(
    store: Store, policy_file: Path
) -> None:
    with SandboxServer(flavor="cloud", clock=ManualClock(START)) as sandbox:
        gateway = gateway_from_config(JiraConfig(url=sandbox.url, user="bot@example.com", token="t"))
        processor = TicketProcessor(
            gateway=gateway,
            store=store,
            policies=[load_policy(policy_file)],
            clock=store.clock,
            holder="e2e",
            decide=raise_to_p1,
        )
        app = create_app(
            ReceiverConfig(
                store=store, webhook_secret=SECRET, clock=store.clock, processor=processor, worker_threads=1
            )
        )
        with running(app) as receiver:
            register(sandbox, receiver, policy_file)
            create_issue(sandbox)
            wait_for(lambda: store.inbox_depth()["done"] >= 2)  # created, then updated (the priority)
            metrics = Jira(receiver).get("/metrics").text
        shutdown(app)

    calls = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("jsm_bridge_jira_calls_total{")
    }
    assert calls['jsm_bridge_jira_calls_total{operation="PUT rest/api/2/issue/{key}",outcome="204"}'] >= 1
    assert calls['jsm_bridge_jira_calls_total{operation="GET rest/api/2/issue/{key}",outcome="200"}'] >= 1


def test_the_production_server_configuration_serves_the_receiver(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'prod.db'}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "JSM_BRIDGE_DATABASE_URL": database,
        "JSM_BRIDGE_WEBHOOK_SECRET": SECRET,
        "JSM_BRIDGE_HTTP_WORKERS": "2",
        "JSM_BRIDGE_LOG_LEVEL": "info",
    }
    env.pop("JSM_BRIDGE_JIRA_URL", None)
    log = tmp_path / "server.log"
    server = start_production_server(port, env, log, cwd=tmp_path)
    try:
        jira = Jira(f"http://127.0.0.1:{port}", SECRET)

        def healthy() -> bool:
            try:
                return jira.get("/healthz").status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=20)
        raw = fixture_bytes("cloud/jira_issue_created")
        answers = [jira.send(raw, delivery_id="prod-1").json() for _ in range(3)]
        refused = jira.send(raw, sign_with="wrong").status_code
        # Concurrent deliveries over separate connections, reaching both processes' group commits,
        # each sent twice: every one is stored once.
        with ThreadPoolExecutor(max_workers=16) as pool:
            concurrent = list(
                pool.map(
                    lambda n: (
                        Jira(f"http://127.0.0.1:{port}", SECRET)
                        .send(raw, delivery_id=f"c-{n % 40}")
                        .status_code
                    ),
                    range(80),
                )
            )
        # Whichever process answers a scrape, it reports the sums over both processes.
        scrapes = [requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text for _ in range(8)]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    assert answers == [{"status": "accepted"}, {"status": "duplicate"}, {"status": "duplicate"}]
    assert refused == 401
    assert concurrent == [202] * 80
    # The app's own lines reach the server's log (a refusal with its reason), never the secret.
    text = log.read_text()
    assert "webhook_refused reason=signature_mismatch status=401" in text
    assert SECRET not in text
    for scrape in scrapes:
        values = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in scrape.splitlines()
            if line.startswith("jsm_bridge_webhook_")
        }
        assert values['jsm_bridge_webhook_accepted_total{event="jira:issue_created"}'] == 41
        assert values["jsm_bridge_webhook_duplicates_total"] == 42
        assert values['jsm_bridge_webhook_refused_total{reason="signature_mismatch"}'] == 1
        assert values["jsm_bridge_webhook_received_total"] == 84
    stored = [e.delivery_id for e in Store(database).inbox_list()]
    assert sorted(stored) == sorted(["prod-1", *(f"c-{n}" for n in range(40))])


def test_the_production_app_runs_inbox_workers_with_a_processor_when_jira_is_configured(
    tmp_path: Path, policy_file: Path
) -> None:
    from webhooks.wsgi import build

    with SandboxServer(clock=ManualClock(START)) as sandbox:
        app = build(
            {
                "JSM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
                "JSM_BRIDGE_JIRA_URL": sandbox.url,
                "JSM_BRIDGE_JIRA_USER": "bot@example.com",
                "JSM_BRIDGE_JIRA_TOKEN": "token",
                "JSM_BRIDGE_POLICIES": str(policy_file),
                "JSM_BRIDGE_INBOX_WORKERS": "3",
            }
        )
        try:
            state = app.extensions["jsm_bridge"]
            assert isinstance(state.config.processor, TicketProcessor)
            assert [p.name for p in state.config.processor.policies] == ["support"]
            assert app.test_client().get("/healthz").json["workers"] == {"alive": 3, "expected": 3}  # type: ignore[index]
        finally:
            shutdown(app)


def test_the_production_app_only_stores_events_when_no_jira_is_configured(tmp_path: Path) -> None:
    from webhooks.wsgi import build

    app = build({"JSM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"})

    assert app.extensions["jsm_bridge"].workers is None
    assert app.test_client().get("/healthz").status_code == 200
