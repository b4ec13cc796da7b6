"""The webhook receiver over real HTTP: verification, refusals, duplicates, durability, health and metrics."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from jsm_bridge.clock import ManualClock
from jsm_bridge.store import InboxEntry, Store, StoreUnavailable, content_hash
from tests.webhook_harness import Jira, fixture, fixture_bytes, running
from webhooks import ReceiverConfig, create_app, shutdown
from webhooks.committer import GroupCommitter

SECRET = "It's a Secret to Everybody"
RETRIED_BY_JIRA = {408, 409, 425, 429}


class SwitchableStore:
    """A real store that can be made unreachable, as a database restart or a network cut would."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.fail_with: Exception | None = None

    def inbox_add_many(self, entries: Any) -> list[bool]:
        if self.fail_with is not None:
            raise self.fail_with
        if self.down:
            raise StoreUnavailable("database is unavailable: connection refused")
        return self.store.inbox_add_many(entries)

    def ping(self) -> None:
        if self.down:
            raise StoreUnavailable("database is unavailable: connection refused")
        self.store.ping()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def switchable(store: Store) -> SwitchableStore:
    return SwitchableStore(store)


def _serve(config: ReceiverConfig) -> Iterator[tuple[Jira, Any]]:
    app = create_app(config)
    try:
        with running(app) as url:
            yield Jira(url, config.webhook_secret), app
    finally:
        shutdown(app)


@pytest.fixture
def served(switchable: SwitchableStore, clock: ManualClock) -> Iterator[tuple[Jira, Any]]:
    yield from _serve(
        ReceiverConfig(store=switchable, webhook_secret=SECRET, clock=clock, max_body_bytes=64 * 1024)
    )


@pytest.fixture
def jira(served: tuple[Jira, Any]) -> Jira:
    return served[0]


def _refusal(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) >= {"error", "path"}
    return body


# -- acceptance ---------------------------------------------------------------------------------


def test_a_signed_delivery_is_committed_to_the_inbox_before_the_202(jira: Jira, store: Store) -> None:
    response = jira.send(fixture_bytes("cloud/jira_issue_created"), delivery_id="d-1")

    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    [event] = store.inbox_list()
    assert (event.event_type, event.issue_key, event.state) == ("jira:issue_created", "CB-12", "pending")


def test_the_inbox_keeps_the_raw_payload_its_hash_delivery_id_flavor_and_arrival_time(
    jira: Jira, store: Store, clock: ManualClock
) -> None:
    raw = fixture_bytes("datacenter/jira_issue_updated")
    jira.send(raw)

    [event] = store.inbox_list()
    assert event.payload == raw.decode("utf-8")
    assert event.content_hash == content_hash(raw)
    assert event.delivery_id is None
    assert event.flavor == "datacenter"
    assert event.received_at == clock.now()


def test_a_delivery_with_an_identifier_is_kept_without_a_content_hash(jira: Jira, store: Store) -> None:
    # It is compared by its identifier only; the same body without one is a delivery of its own.
    raw = fixture_bytes("cloud/jira_issue_updated")
    jira.send(raw, delivery_id="d-7")
    jira.send(raw)

    events = {event.delivery_id: event for event in store.inbox_list()}
    assert events["d-7"].content_hash == ""
    assert events[None].content_hash == content_hash(raw)


def test_unsigned_deliveries_are_accepted_when_no_secret_is_configured(
    switchable: SwitchableStore, clock: ManualClock, store: Store
) -> None:
    for jira, _app in _serve(ReceiverConfig(store=switchable, clock=clock)):
        assert jira.send(fixture_bytes("cloud/comment_created")).status_code == 202
    assert len(store.inbox_list()) == 1


def test_a_mapping_configures_the_app_as_well_as_a_receiver_config(store: Store) -> None:
    app = create_app({"store": store, "webhook_secret": SECRET, "max_body_bytes": 1000})
    assert app.extensions["jsm_bridge"].config.max_body_bytes == 1000
    with pytest.raises(ValueError, match="unknown receiver settings: colour"):
        create_app({"store": store, "colour": "blue"})


# -- signatures ---------------------------------------------------------------------------------


def test_a_missing_signature_is_refused_with_401(jira: Jira, store: Store) -> None:
    jira.secret = None
    response = jira.send(fixture_bytes("cloud/jira_issue_created"))

    assert response.status_code == 401
    assert "X-Hub-Signature is required" in _refusal(response)["error"]
    assert store.inbox_list() == []


def test_a_signature_made_with_another_secret_is_refused_with_401(jira: Jira, store: Store) -> None:
    response = jira.send(fixture_bytes("cloud/jira_issue_created"), sign_with="not the secret")

    assert response.status_code == 401
    assert _refusal(response)["reason"] == "signature_mismatch"
    assert store.inbox_list() == []


def test_a_signature_over_other_bytes_is_refused_even_when_the_json_is_equal(jira: Jira) -> None:
    raw = fixture_bytes("cloud/jira_issue_created")
    signed_for = json.dumps(json.loads(raw)).encode()  # same JSON, different bytes
    from webhooks.signature import sign

    response = jira.send(raw, headers={"X-Hub-Signature": sign(SECRET.encode(), signed_for)})
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["sha1", "md5", "sha512"])
def test_a_signature_method_other_than_sha256_is_refused_with_400_naming_it(jira: Jira, method: str) -> None:
    response = jira.send(
        fixture_bytes("cloud/jira_issue_created"), headers={"X-Hub-Signature": f"{method}=00ff"}
    )

    assert response.status_code == 400
    body = _refusal(response)
    assert body["reason"] == "signature_method"
    assert f"'{method}' is not supported: only sha256 is accepted" in body["error"]


def test_a_signature_header_without_a_method_is_refused_with_400(jira: Jira) -> None:
    response = jira.send(fixture_bytes("cloud/jira_issue_created"), headers={"X-Hub-Signature": "deadbeef"})

    assert response.status_code == 400
    assert _refusal(response)["reason"] == "signature_malformed"


def test_the_signature_method_is_read_case_insensitively(jira: Jira) -> None:
    from webhooks.signature import sign

    raw = fixture_bytes("cloud/jira_issue_created")
    header = sign(SECRET.encode(), raw).replace("sha256=", "SHA256=")
    assert jira.send(raw, headers={"X-Hub-Signature": header}).status_code == 202


def test_no_log_line_ever_holds_the_secret_or_a_signature(
    jira: Jira, caplog: pytest.LogCaptureFixture
) -> None:
    from webhooks.signature import sign

    raw = fixture_bytes("cloud/jira_issue_created")
    good = sign(SECRET.encode(), raw)
    caplog.set_level(logging.DEBUG)
    jira.send(raw, delivery_id="d-log")
    jira.send(raw, delivery_id="d-log")
    jira.send(raw, sign_with="wrong secret")
    jira.send(raw, headers={"X-Hub-Signature": "sha1=" + good[7:]})

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook_refused" in text
    assert SECRET not in text
    assert good[7:] not in text


# -- refusals of bad input ----------------------------------------------------------------------

BAD_INPUTS: dict[str, tuple[dict[str, Any], int, str, str | None]] = {
    # name: (send() arguments, status, reason, path)
    "invalid JSON": ({"body": b'{"webhookEvent": "jira:issue_created",'}, 400, "invalid_json", None),
    "a JSON array": ({"body": b'[{"webhookEvent": "jira:issue_created"}]'}, 400, "not_object", "$"),
    "a JSON string": ({"body": b'"jira:issue_created"'}, 400, "not_object", "$"),
    "a JSON null": ({"body": b"null"}, 400, "not_object", "$"),
    "JSON nested twenty thousand deep": ({"body": b"[" * 20_000 + b"]" * 20_000}, 400, "invalid_json", None),
    "NaN, which JSON does not have": ({"body": b'{"webhookEvent": NaN}'}, 400, "invalid_json", None),
    "a UTF-8 byte order mark": ({"body": b'\xef\xbb\xbf{"webhookEvent": "x"}'}, 400, "invalid_json", None),
    "Latin-1 bytes": ({"body": '{"webhookEvent": "café"}'.encode("latin-1")}, 400, "not_utf8", None),
    "text/plain": (
        {"body": b'{"webhookEvent": "x"}', "content_type": "text/plain"},
        400,
        "content_type",
        None,
    ),
    "form encoded": (
        {"body": b"webhookEvent=x", "content_type": "application/x-www-form-urlencoded"},
        400,
        "content_type",
        None,
    ),
    "no webhookEvent": (
        {"body": {"timestamp": 1, "issue": {"key": "CB-1"}}},
        400,
        "invalid_payload",
        "webhookEvent",
    ),
    "a numeric webhookEvent": ({"body": {"webhookEvent": 7}}, 400, "invalid_payload", "webhookEvent"),
    "an issue event without issue": (
        {"body": {"webhookEvent": "jira:issue_created"}},
        400,
        "invalid_payload",
        "issue",
    ),
    "an issue that is a list": (
        {"body": {"webhookEvent": "jira:issue_updated", "issue": ["CB-1"]}},
        400,
        "invalid_payload",
        "issue",
    ),
    "an issue without key or id": (
        {"body": {"webhookEvent": "jira:issue_deleted", "issue": {"fields": {}}}},
        400,
        "invalid_payload",
        "issue.key",
    ),
    "an issue key that is an object": (
        {"body": {"webhookEvent": "jira:issue_created", "issue": {"key": {"k": 1}}}},
        400,
        "invalid_payload",
        "issue.key",
    ),
    "an issue key of 300 characters": (
        {"body": {"webhookEvent": "jira:issue_created", "issue": {"key": "CB-" + "1" * 297}}},
        400,
        "invalid_payload",
        "issue.key",
    ),
    "changelog items that are not a list": (
        {
            "body": {
                "webhookEvent": "jira:issue_updated",
                "issue": {"key": "CB-1"},
                "changelog": {"items": "status"},
            }
        },
        400,
        "invalid_payload",
        "changelog.items",
    ),
    "a changelog item that is not an object": (
        {
            "body": {
                "webhookEvent": "jira:issue_updated",
                "issue": {"key": "CB-1"},
                "changelog": {"items": [3]},
            }
        },
        400,
        "invalid_payload",
        "changelog.items[0]",
    ),
    "a comment event with neither issue nor comment": (
        {"body": {"webhookEvent": "comment_created"}},
        400,
        "invalid_payload",
        "comment",
    ),
    "a Data Center comment without self": (
        {"body": {"webhookEvent": "comment_deleted", "comment": {"id": "1"}}},
        400,
        "invalid_payload",
        "comment.self",
    ),
    "a comment self URL that names no issue": (
        {
            "body": {
                "webhookEvent": "comment_updated",
                "comment": {"self": "https://jira.example.com/rest/api/2/user"},
            }
        },
        400,
        "invalid_payload",
        "comment.self",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_refused_with_400_naming_the_reason_and_path(
    jira: Jira, store: Store, name: str
) -> None:
    arguments, status, reason, path = BAD_INPUTS[name]
    response = jira.send(**arguments)

    assert response.status_code == status
    body = _refusal(response)
    assert (body["reason"], body["path"]) == (reason, path)
    assert body["error"]
    assert store.inbox_list() == []


def test_bad_input_never_reaches_the_500_handler_nor_a_status_jira_would_retry(
    jira: Jira, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    statuses = {jira.send(**arguments).status_code for arguments, *_ in BAD_INPUTS.values()}
    statuses.add(jira.send(b"x" * (65 * 1024)).status_code)

    assert all(400 <= s < 500 for s in statuses)
    assert not statuses & RETRIED_BY_JIRA
    assert "webhook_unexpected_error" not in caplog.text


def test_integers_beyond_64_bits_are_still_valid_json(jira: Jira, store: Store) -> None:
    payload = fixture("cloud/jira_issue_created")
    payload["issue"]["fields"]["customfield_10099"] = 2**70
    assert jira.send(payload).json() == {"status": "accepted"}


def test_a_body_over_the_limit_is_refused_with_413(jira: Jira, store: Store) -> None:
    payload = fixture("cloud/jira_issue_created")
    payload["issue"]["fields"]["description"] = "é" * (40 * 1024)
    response = jira.send(payload)

    assert response.status_code == 413
    assert _refusal(response)["reason"] == "too_large"
    assert store.inbox_list() == []


def test_a_chunked_body_over_the_limit_is_refused_with_413(served: tuple[Jira, Any]) -> None:
    jira, _app = served

    def chunks() -> Iterator[bytes]:
        yield b'{"webhookEvent": "jira:issue_created", "x": "'
        for _ in range(80):
            yield b"a" * 1024
        yield b'"}'

    response = requests.post(
        f"{jira.url}/webhooks/jira", data=chunks(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413


def test_other_methods_on_the_webhook_path_are_still_answered_by_flask(jira: Jira) -> None:
    # Only POST is answered before Flask (webhooks/fastpath.py); the rest keeps Flask's routing.
    response = jira.session.get(f"{jira.url}/webhooks/jira", timeout=10)

    assert response.status_code == 405
    assert response.json()["reason"] == "http"


def test_an_unexpected_error_is_a_logged_500_that_never_shows_the_body(
    jira: Jira, switchable: SwitchableStore, caplog: pytest.LogCaptureFixture
) -> None:
    switchable.fail_with = RuntimeError("a bug")
    response = jira.send(fixture_bytes("cloud/jira_issue_created"))

    assert response.status_code == 500
    assert response.json()["error"] == "internal error"
    assert "webhook_unexpected_error error=RuntimeError" in caplog.text
    assert "Site down" not in caplog.text


# -- events not handled -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "worklog_created",
        "project_created",
        "user_created",
        "sprint_started",
        "board_created",
        "jira_version_released",
    ],
)
def test_valid_events_that_are_not_handled_are_acknowledged_logged_and_not_stored(
    jira: Jira, store: Store, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.INFO)
    response = jira.send(fixture_bytes(f"ignored/{name}"))

    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "reason": "event not handled"}
    assert store.inbox_list() == []
    assert "ignored: event not handled" in caplog.text


# -- duplicates ---------------------------------------------------------------------------------


def test_a_retry_with_the_same_delivery_identifier_is_acknowledged_as_duplicate(
    jira: Jira, store: Store
) -> None:
    raw = fixture_bytes("cloud/jira_issue_updated")
    first = jira.send(raw, delivery_id="8b1c7e2a-1")
    retry = jira.send(raw, delivery_id="8b1c7e2a-1", headers={"X-Atlassian-Webhook-Retry": "1"})

    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    assert (retry.status_code, retry.json()) == (202, {"status": "duplicate"})
    assert len(store.inbox_list()) == 1


def test_the_same_body_without_identifier_within_the_window_is_a_duplicate(
    jira: Jira, store: Store, clock: ManualClock
) -> None:
    raw = fixture_bytes("datacenter/comment_created")
    jira.send(raw)
    clock.advance(timedelta(minutes=5))
    again = jira.send(raw)

    assert again.json() == {"status": "duplicate"}
    assert len(store.inbox_list()) == 1


def test_the_same_body_after_the_window_is_a_new_event(jira: Jira, store: Store, clock: ManualClock) -> None:
    raw = fixture_bytes("datacenter/comment_created")
    jira.send(raw)
    clock.advance(timedelta(minutes=11))

    assert jira.send(raw).json() == {"status": "accepted"}
    assert len(store.inbox_list()) == 2


def test_concurrent_deliveries_and_their_retries_are_each_stored_exactly_once(
    served: tuple[Jira, Any], store: Store
) -> None:
    jira, app = served
    base = fixture("cloud/jira_issue_updated")
    bodies = []
    for i in range(30):
        payload = json.loads(json.dumps(base))
        payload["timestamp"] += i
        bodies.append((f"delivery-{i}", json.dumps(payload).encode()))
    statuses: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def send_all(offset: int) -> None:
        session = Jira(jira.url, SECRET)
        barrier.wait()
        for k in range(len(bodies)):
            delivery, raw = bodies[(k + offset) % len(bodies)]
            r = session.send(raw, delivery_id=delivery)
            with lock:
                statuses.append((delivery, r.status_code, r.json()["status"]))

    threads = [threading.Thread(target=send_all, args=(n * 5,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert len(statuses) == 12 * 30
    assert {code for _, code, _ in statuses} == {202}
    accepted = sorted(d for d, _, s in statuses if s == "accepted")
    assert accepted == sorted(d for d, _ in bodies)
    stored = store.inbox_list(limit=1000)
    assert sorted(e.delivery_id or "" for e in stored) == sorted(d for d, _ in bodies)
    committer = app.extensions["jsm_bridge"].committer
    assert committer.batches <= committer.entries


# -- durability ---------------------------------------------------------------------------------


def test_an_unavailable_store_answers_503_so_jira_retries_and_the_retry_is_stored_once(
    jira: Jira, switchable: SwitchableStore, store: Store
) -> None:
    raw = fixture_bytes("cloud/comment_created")
    switchable.down = True
    refused = jira.send(raw, delivery_id="d-503")
    switchable.down = False
    retried = jira.send(raw, delivery_id="d-503", headers={"X-Atlassian-Webhook-Retry": "1"})

    assert refused.status_code == 503
    assert _refusal(refused)["reason"] == "store_unavailable"
    assert retried.json() == {"status": "accepted"}
    assert [e.delivery_id for e in store.inbox_list()] == ["d-503"]


def test_a_batch_that_fails_part_way_leaves_nothing_half_written(store: Store, clock: ManualClock) -> None:
    committer = GroupCommitter(store)
    good = InboxEntry(None, "a" * 64, "jira:issue_created", "CB-1", "{}", clock.now(), "cloud")
    broken = InboxEntry(None, "b" * 64, "jira:issue_created", "CB-2", None, clock.now(), "cloud")  # type: ignore[arg-type]
    committer._commit(batch := [_slot(good), _slot(broken)])  # one transaction, as under load

    assert all(slot.error is not None for slot in batch)
    assert store.inbox_list() == []
    assert committer.add(good) is True


def _slot(entry: InboxEntry) -> Any:
    from webhooks.committer import _Slot

    return _Slot(entry)


# -- health and metrics -------------------------------------------------------------------------


def test_healthz_is_200_when_the_store_answers(jira: Jira) -> None:
    response = jira.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["store"] == "ok"


def test_healthz_is_503_when_the_store_does_not_answer(jira: Jira, switchable: SwitchableStore) -> None:
    switchable.down = True
    response = jira.get("/healthz")

    assert response.status_code == 503
    assert response.json()["store"] == "unavailable: StoreUnavailable"


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_count_received_accepted_duplicates_refusals_and_read_the_inbox_depth(jira: Jira) -> None:
    raw = fixture_bytes("cloud/jira_issue_created")
    jira.send(raw, delivery_id="m-1")
    jira.send(raw, delivery_id="m-1")
    jira.send(raw, sign_with="wrong")
    jira.send(b"[]")
    jira.send(fixture_bytes("ignored/worklog_created"))
    response = jira.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.text
    assert _metric(text, "jsm_bridge_webhook_received_total") == 5
    assert _metric(text, 'jsm_bridge_webhook_accepted_total{event="jira:issue_created"}') == 1
    assert _metric(text, "jsm_bridge_webhook_duplicates_total") == 1
    assert _metric(text, "jsm_bridge_webhook_ignored_total") == 1
    assert _metric(text, 'jsm_bridge_webhook_refused_total{reason="signature_mismatch"}') == 1
    assert _metric(text, 'jsm_bridge_webhook_refused_total{reason="not_object"}') == 1
    assert _metric(text, 'jsm_bridge_inbox_depth{state="pending"}') == 1
    assert _metric(text, "jsm_bridge_webhook_ack_seconds_count") == 1


def test_each_app_has_its_own_metrics_registry(store: Store) -> None:
    first, second = create_app({"store": store}), create_app({"store": store})
    first.extensions["jsm_bridge"].metrics.record_action("comment", "done")

    assert (
        'jsm_bridge_actions_total{kind="comment",outcome="done"} 1.0'
        in first.test_client().get("/metrics").text
    )
    assert "jsm_bridge_actions_total{" not in second.test_client().get("/metrics").text


def test_the_processor_hooks_count_actions_jira_calls_and_retries(store: Store) -> None:
    app = create_app({"store": store})
    metrics = app.extensions["jsm_bridge"].metrics
    metrics.record_action("transition", "failed")
    metrics.record_jira_call("get_issue", "ok")
    metrics.record_jira_retry("rate_limited")
    text = app.test_client().get("/metrics").text

    assert 'jsm_bridge_actions_total{kind="transition",outcome="failed"} 1.0' in text
    assert 'jsm_bridge_jira_calls_total{operation="get_issue",outcome="ok"} 1.0' in text
    assert 'jsm_bridge_jira_retries_total{reason="rate_limited"} 1.0' in text


def test_the_core_package_never_imports_the_webhooks_package() -> None:
    import ast

    import jsm_bridge

    offenders = []
    for path in Path(jsm_bridge.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "webhooks" or n.startswith("webhooks.")]
    assert offenders == []
