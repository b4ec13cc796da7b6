"""Admin commands around the receiver: `register-webhook` against the sandbox's admin webhook API over
HTTP, and `inbox list|show|replay`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from jsm_bridge.cli import build_parser, main
from jsm_bridge.clock import ManualClock
from jsm_bridge.inbox_admin import run as inbox_run
from jsm_bridge.sandbox import SandboxServer
from jsm_bridge.store import InboxEntry, Store, content_hash
from jsm_bridge.webhook_admin import (
    EVENTS,
    MASK,
    Registration,
    RegistrationError,
    WebhookAdmin,
    receiver_url,
    scope_jql,
)
from jsm_bridge.webhook_admin import run as register_run

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET = "hook secret 🔑"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(START)) as server:
        yield server


@pytest.fixture
def policies(tmp_path: Path) -> str:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "policy: alpha\nscope: {jql: 'project = CB'}\npriorities: {P1: {jira: Highest}}\n"
    )
    (folder / "b.yaml").write_text(
        "policy: beta\nscope: {jql: 'project in (SUP, OPS)'}\npriorities: {P1: {jira: Highest}}\n"
    )
    return str(folder)


def environment(sandbox: SandboxServer, policies: str, **extra: str) -> dict[str, str]:
    return {
        "JSM_BRIDGE_JIRA_URL": sandbox.url,
        "JSM_BRIDGE_JIRA_USER": "admin@example.com",
        "JSM_BRIDGE_JIRA_TOKEN": "api-token",
        "JSM_BRIDGE_POLICIES": policies,
        "JSM_BRIDGE_WEBHOOK_SECRET": SECRET,
        **extra,
    }


def register(env: dict[str, str], *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["register-webhook", *argv])
    out = io.StringIO()
    return register_run(args, env=env, out=out), out.getvalue()


def webhooks(sandbox: SandboxServer) -> list[dict]:
    return requests.get(f"{sandbox.url}/rest/webhooks/1.0/webhook", timeout=5).json()


def test_scopes_of_all_policies_are_or_ed_into_one_filter() -> None:
    assert scope_jql(["project = CB"]) == "project = CB"
    assert (
        scope_jql(["project = CB", "project in (SUP)", "project = CB"])
        == "(project = CB) OR (project in (SUP))"
    )


def test_the_receiver_path_is_added_to_a_bare_site_url() -> None:
    assert receiver_url("https://bridge.example.com/") == "https://bridge.example.com/webhooks/jira"
    assert (
        receiver_url("https://bridge.example.com/webhooks/jira") == "https://bridge.example.com/webhooks/jira"
    )
    with pytest.raises(RegistrationError, match="must start with https://"):
        receiver_url("bridge.example.com")


def test_register_webhook_creates_the_webhook_with_events_filter_and_secret(
    sandbox: SandboxServer, policies: str
) -> None:
    code, out = register(environment(sandbox, policies), "--url", "https://bridge.example.com")

    assert code == 0
    assert out.startswith("created webhook")
    [webhook] = webhooks(sandbox)
    assert webhook["url"] == "https://bridge.example.com/webhooks/jira"
    assert webhook["events"] == list(EVENTS)
    assert webhook["filters"] == {"issue-related-events-section": "(project = CB) OR (project in (SUP, OPS))"}
    assert sandbox.state.webhooks[1].secret == SECRET
    assert SECRET not in out


def test_registering_again_updates_the_webhook_for_that_url_instead_of_adding_one(
    sandbox: SandboxServer, policies: str
) -> None:
    env = environment(sandbox, policies, JSM_BRIDGE_WEBHOOK_URL="https://bridge.example.com")
    register(env)
    Path(policies, "b.yaml").unlink()
    code, out = register(env, "--name", "jsm-bridge (production)")

    assert code == 0
    assert out.startswith("updated webhook")
    [webhook] = webhooks(sandbox)
    assert webhook["name"] == "jsm-bridge (production)"
    assert webhook["filters"] == {"issue-related-events-section": "project = CB"}


def test_dry_run_prints_the_request_with_the_secret_masked_and_sends_nothing(
    sandbox: SandboxServer, policies: str
) -> None:
    code, out = register(environment(sandbox, policies), "--url", "https://bridge.example.com", "--dry-run")

    assert code == 0
    first, _, body = out.partition("\n")
    assert first == f"POST {sandbox.url}/rest/webhooks/1.0/webhook"
    sent = json.loads(body)
    assert sent["secret"] == MASK
    assert sent["filters"]["issue-related-events-section"] == "(project = CB) OR (project in (SUP, OPS))"
    assert SECRET not in out
    assert webhooks(sandbox) == []


def test_dry_run_shows_a_put_when_the_webhook_exists(sandbox: SandboxServer, policies: str) -> None:
    env = environment(sandbox, policies)
    register(env, "--url", "https://bridge.example.com")
    _code, out = register(env, "--url", "https://bridge.example.com", "--dry-run")

    assert out.splitlines()[0] == f"PUT {sandbox.url}/rest/webhooks/1.0/webhook/1"


def test_a_missing_receiver_url_is_an_error_that_says_what_to_set(
    sandbox: SandboxServer, policies: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out = register(environment(sandbox, policies))

    assert code == 1
    assert "pass --url or set JSM_BRIDGE_WEBHOOK_URL" in capsys.readouterr().err


def test_jira_refusing_the_registration_is_reported_with_its_messages(policies: str) -> None:
    class Refusing(requests.Session):
        def request(self, method: str, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
            response = requests.Response()
            response.status_code = 400 if method == "POST" else 200
            response._content = (
                b'{"errorMessages": [], "errors": {"url": "not reachable"}}' if method == "POST" else b"[]"
            )
            return response

    admin = WebhookAdmin("https://example.atlassian.net", Refusing())
    with pytest.raises(RegistrationError, match="Jira answered 400 to POST .*url: not reachable"):
        admin.register(Registration(url="https://bridge.example.com/webhooks/jira", jql="project = CB"))


def test_the_script_and_the_cli_share_one_implementation() -> None:
    script = Path(__file__).parent.parent / "scripts" / "register_webhook.py"
    assert "from jsm_bridge.webhook_admin import main" in script.read_text()
    assert "register-webhook" in build_parser().format_help()


# -- inbox --------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=ManualClock(START))
    store.migrate()
    yield store
    store.close()


def inbox(store: Store, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["inbox", *argv])
    out = io.StringIO()
    return inbox_run(args, store=store, out=out), out.getvalue()


def add_dead(store: Store) -> int:
    body = '{"webhookEvent": "comment_created", "comment": {"body": "Grüße"}}'
    store.inbox_add(
        InboxEntry("d-1", content_hash(body), "comment_created", "SUP-7", body, START, "datacenter")
    )
    [event] = store.inbox_claim("worker-1")
    store.inbox_dead(event.id, "TransitionNotAvailable: no transition to Escalated")
    return event.id


def test_inbox_list_shows_state_attempts_issue_and_last_error(store: Store) -> None:
    add_dead(store)
    code, out = inbox(store, "list")

    assert code == 0
    assert "dead" in out and "SUP-7" in out and "TransitionNotAvailable" in out
    assert "dead: 1" in out


def test_inbox_list_as_json_filters_by_state(store: Store) -> None:
    event_id = add_dead(store)
    _code, out = inbox(store, "list", "--state", "dead", "--json")

    assert json.loads(out)["id"] == event_id
    assert inbox(store, "list", "--state", "pending", "--json")[1] == ""


def test_inbox_show_prints_the_error_and_the_payload(store: Store) -> None:
    event_id = add_dead(store)
    code, out = inbox(store, "show", str(event_id))

    assert code == 0
    assert "error:           TransitionNotAvailable: no transition to Escalated" in out
    assert '"body": "Grüße"' in out


def test_inbox_replay_puts_a_dead_event_back_in_the_queue(store: Store) -> None:
    event_id = add_dead(store)
    code, out = inbox(store, "replay", str(event_id))

    assert code == 0
    assert "pending again" in out
    replayed = store.inbox_get(event_id)
    assert replayed is not None
    assert (replayed.state, replayed.attempts) == ("pending", 0)


def test_inbox_commands_on_an_unknown_id_fail_with_a_hint(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert inbox(store, "show", "999")[0] == 1
    assert "inbox list` shows the ids" in capsys.readouterr().err
    assert inbox(store, "replay", "999")[0] == 1


def test_inbox_reads_the_database_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JSM_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert main(["inbox", "list"]) == 0


def test_inbox_purge_deletes_old_done_events_and_keeps_the_others(store: Store) -> None:
    dead_id = add_dead(store)  # received at START, days ago: dead events stay until replayed
    now = datetime.now(UTC)
    for n, received in enumerate([now - timedelta(days=30), now - timedelta(hours=1)]):
        store.inbox_add(
            InboxEntry(f"p-{n}", content_hash(str(n)), "jira:issue_created", "SUP-1", "{}", received)
        )
    for event in store.inbox_claim("worker-1", limit=5):
        store.inbox_done(event.id)

    code, out = inbox(store, "purge", "--older-than", "1d")

    assert code == 0
    assert out.startswith("deleted 1 done events received before ")
    remaining = {e.id: e.state for e in store.inbox_list()}
    assert remaining[dead_id] == "dead" and sorted(remaining.values()) == ["dead", "done"]


@pytest.mark.parametrize("age", ["7", "10m", "1d@office"])
def test_inbox_purge_refuses_an_age_under_an_hour_or_without_a_unit(
    store: Store, age: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        inbox(store, "purge", "--older-than", age)
    assert "give a duration such as 7d or 36h, at least 1h" in capsys.readouterr().err
