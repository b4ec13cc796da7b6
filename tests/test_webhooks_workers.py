"""Inbox workers with a fake processor: processing, scope, backoff, dead letters, replay, deletes, stopping."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jsm_bridge.clock import ManualClock
from jsm_bridge.inbox_worker import InboxWorkers, backoff_delay, project_of
from jsm_bridge.store import InboxEntry, Store, content_hash
from tests.webhook_harness import Jira, fixture_bytes, running
from webhooks import ReceiverConfig, create_app, shutdown

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class FakeGateway:
    """Answers `id = N` searches from a table of issue ids to keys, as Jira's search would."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.queries: list[str] = []

    def search(self, jql: str, fields: list[str], page_size: int) -> Iterator[dict[str, str]]:
        self.queries.append(jql)
        issue_id = jql.removeprefix("id = ")
        if issue_id in self.keys:
            yield {"id": issue_id, "key": self.keys[issue_id]}


class FakeProcessor:
    """Stands in for TicketProcessor: policies by project key, scripted failures, calls recorded."""

    def __init__(self, policies: dict[str | None, str] | None = None) -> None:
        self.gateway = FakeGateway({"10100": "SUP-7"})
        self.policies = {"CB": "capital-bytes", "SUP": "support"} if policies is None else policies
        self.calls: list[tuple[str, str]] = []
        self.scope_questions: list[tuple[str, str | None]] = []
        self.failures: list[Exception] = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()

    def policy_for(self, issue_key: str, project_key: str | None) -> str | None:
        self.scope_questions.append((issue_key, project_key))
        return self.policies.get(project_key)

    def process(self, key: str, policy: str) -> None:
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append((key, policy))
        if self.failures:
            raise self.failures.pop(0)


class PermanentError(Exception):
    retryable = False


class SlowDown(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after}s")
        self.retry_after = retry_after


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def processor() -> FakeProcessor:
    return FakeProcessor()


def workers(store: Store, processor: FakeProcessor, clock: ManualClock, **settings: Any) -> InboxWorkers:
    options: dict[str, Any] = {"threads": 1, "max_attempts": 4, "backoff": timedelta(seconds=30)}
    options.update(settings)
    return InboxWorkers(store, processor, clock=clock, **options)


def add(
    store: Store, clock: ManualClock, issue_key: str | None, event_type: str = "jira:issue_updated"
) -> int:
    body = f'{{"webhookEvent": "{event_type}", "issue": "{issue_key}", "at": "{clock.now()}"}}'
    assert store.inbox_add(InboxEntry(None, content_hash(body), event_type, issue_key, body, clock.now()))
    return store.inbox_list(limit=1)[0].id


def test_a_stored_event_is_processed_under_its_policy_and_marked_done(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    event_id = add(store, clock, "CB-12")

    assert workers(store, processor, clock).run_once() == 1
    assert processor.scope_questions == [("CB-12", "CB")]
    assert processor.calls == [("CB-12", "capital-bytes")]
    assert store.inbox_get(event_id).state == "done"  # type: ignore[union-attr]


def test_an_issue_named_only_by_id_is_looked_up_by_id_then_processed_by_key(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    add(store, clock, "10100", "comment_created")
    workers(store, processor, clock).run_once()

    assert processor.gateway.queries == ["id = 10100"]
    assert processor.scope_questions == [("SUP-7", "SUP")]
    assert processor.calls == [("SUP-7", "support")]


def test_an_issue_id_jira_does_not_know_is_logged_and_done(
    store: Store, processor: FakeProcessor, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    event_id = add(store, clock, "99999", "comment_deleted")
    workers(store, processor, clock).run_once()

    assert processor.calls == []
    assert store.inbox_get(event_id).state == "done"  # type: ignore[union-attr]
    assert "ignored: issue not found issue=99999" in caplog.text


def test_an_issue_outside_every_policy_is_logged_and_done_without_processing(
    store: Store, processor: FakeProcessor, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    event_id = add(store, clock, "OTHER-1")
    workers(store, processor, clock).run_once()

    assert processor.calls == []
    assert store.inbox_get(event_id).state == "done"  # type: ignore[union-attr]
    assert "ignored: outside scope issue=OTHER-1" in caplog.text


def test_a_failure_is_retried_later_with_exponential_backoff(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    processor.failures = [RuntimeError("Jira timed out"), RuntimeError("Jira timed out")]
    event_id = add(store, clock, "CB-1")
    pool = workers(store, processor, clock)

    pool.run_once()
    first = store.inbox_get(event_id)
    assert first is not None
    assert (first.state, first.attempts, first.error) == ("pending", 1, "RuntimeError: Jira timed out")
    assert first.next_attempt_at == START + timedelta(seconds=30)
    assert pool.run_once() == 0  # not due yet

    clock.advance(timedelta(seconds=30))
    pool.run_once()
    second = store.inbox_get(event_id)
    assert second is not None
    assert second.next_attempt_at == clock.now() + timedelta(seconds=60)

    clock.advance(timedelta(seconds=60))
    pool.run_once()
    assert store.inbox_get(event_id).state == "done"  # type: ignore[union-attr]
    assert len(processor.calls) == 3


def test_backoff_doubles_from_the_first_delay_up_to_the_longest() -> None:
    first, longest = timedelta(seconds=30), timedelta(minutes=5)
    delays = [backoff_delay(n, first, longest).total_seconds() for n in range(1, 7)]
    assert delays == [30, 60, 120, 240, 300, 300]


def test_after_the_last_attempt_the_event_is_dead_with_its_error(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    processor.failures = [RuntimeError(f"failure {n}") for n in range(1, 5)]
    event_id = add(store, clock, "CB-2")
    pool = workers(store, processor, clock, max_attempts=4)
    for _ in range(4):
        pool.run_once()
        clock.advance(timedelta(hours=1))

    dead = store.inbox_get(event_id)
    assert dead is not None
    assert (dead.state, dead.attempts, dead.error) == ("dead", 4, "RuntimeError: failure 4")
    assert pool.run_once() == 0


def test_an_error_that_says_retrying_cannot_help_is_dead_at_once(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    processor.failures = [PermanentError("no transition to Escalated")]
    event_id = add(store, clock, "CB-3")
    workers(store, processor, clock).run_once()

    dead = store.inbox_get(event_id)
    assert dead is not None
    assert (dead.state, dead.attempts) == ("dead", 1)


def test_a_longer_retry_after_from_jira_postpones_the_retry(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    processor.failures = [SlowDown(retry_after=120)]
    event_id = add(store, clock, "CB-4")
    workers(store, processor, clock).run_once()

    assert store.inbox_get(event_id).next_attempt_at == START + timedelta(seconds=120)  # type: ignore[union-attr]


def test_replaying_a_dead_event_processes_it_again(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    processor.failures = [PermanentError("bad field")]
    event_id = add(store, clock, "CB-5")
    pool = workers(store, processor, clock)
    pool.run_once()
    store.inbox_replay(event_id)
    pool.run_once()

    assert store.inbox_get(event_id).state == "done"  # type: ignore[union-attr]
    assert processor.calls == [("CB-5", "capital-bytes"), ("CB-5", "capital-bytes")]


def test_a_deleted_issue_is_forgotten_and_done_without_asking_jira(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    store.cache_put("CB-6", "capital-bytes", START + timedelta(hours=4), {"status": "Open"})
    event_id = add(store, clock, "CB-6", "jira:issue_deleted")
    workers(store, processor, clock).run_once()

    assert processor.calls == []
    assert store.cache_get("CB-6", "capital-bytes") is None
    assert store.inbox_get(event_id).state == "done"  # type: ignore[union-attr]


def test_the_processing_time_and_outcome_of_each_event_are_reported(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    seen: list[str] = []
    processor.failures = [RuntimeError("down")]
    add(store, clock, "CB-7")
    add(store, clock, "OTHER-7")
    workers(store, processor, clock, observer=lambda seconds, outcome: seen.append(outcome)).run_once()

    assert seen == ["retry", "skipped"]


def test_the_actions_the_processor_reports_are_counted_by_kind_and_outcome(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    from types import SimpleNamespace

    def process(key: str, policy: str) -> object:
        outcomes = [("comment", "done"), ("transition", "failed")]
        return SimpleNamespace(
            outcomes=[SimpleNamespace(action=SimpleNamespace(kind=k), status=s) for k, s in outcomes]
        )

    processor.process = process  # type: ignore[method-assign]
    counted: list[tuple[str, str]] = []
    add(store, clock, "CB-11")
    workers(
        store, processor, clock, action_observer=lambda kind, status: counted.append((kind, status))
    ).run_once()

    assert counted == [("comment", "done"), ("transition", "failed")]


def test_stopping_lets_the_event_in_flight_finish(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    processor.gate = threading.Event()
    event_id = add(store, clock, "CB-8")
    pool = workers(store, processor, clock, threads=2, poll_interval=0.05)
    pool.start()
    assert processor.started.wait(5)
    stopper = threading.Thread(target=pool.stop, args=(10,))
    stopper.start()
    processor.gate.set()
    stopper.join(10)

    assert pool.alive() == 0
    assert store.inbox_get(event_id).state == "done"  # type: ignore[union-attr]


def test_events_claimed_but_not_started_are_handed_back_when_stopping(
    store: Store, processor: FakeProcessor, clock: ManualClock
) -> None:
    processor.gate = threading.Event()
    first, second = add(store, clock, "CB-9"), add(store, clock, "CB-10")
    pool = workers(store, processor, clock, threads=1, claim_batch=2, poll_interval=0.05)
    pool.start()
    assert processor.started.wait(5)
    stopper = threading.Thread(target=pool.stop, args=(10,))
    stopper.start()
    while not pool.stopping:
        time.sleep(0.01)
    processor.gate.set()
    stopper.join(10)

    assert store.inbox_get(first).state == "done"  # type: ignore[union-attr]
    handed_back = store.inbox_get(second)
    assert handed_back is not None
    assert (handed_back.state, handed_back.holder) == ("pending", None)


def test_project_keys_come_from_issue_keys_and_never_from_ids() -> None:
    assert project_of("CB-12") == "CB"
    assert project_of("SUP_2-7") == "SUP_2"
    assert project_of("10100") is None
    assert project_of(None) is None


# -- the workers inside the app -----------------------------------------------------------------


def test_a_delivery_wakes_the_app_workers_which_process_it(store: Store, processor: FakeProcessor) -> None:
    app = create_app(
        ReceiverConfig(store=store, processor=processor, worker_threads=2, worker_poll_interval=30)
    )
    try:
        with running(app) as url:
            assert Jira(url).send(fixture_bytes("cloud/comment_created")).status_code == 202
            assert processor.started.wait(5)
            health = Jira(url).get("/healthz")
            metrics = Jira(url).get("/metrics").text
    finally:
        shutdown(app)

    assert processor.calls == [("CB-12", "capital-bytes")]
    assert health.status_code == 200
    assert health.json()["workers"] == {"alive": 2, "expected": 2}
    assert "jsm_bridge_inbox_workers_alive 2.0" in metrics


def test_healthz_is_503_when_workers_have_stopped(store: Store, processor: FakeProcessor) -> None:
    app = create_app(
        ReceiverConfig(store=store, processor=processor, worker_threads=1, worker_poll_interval=0.05)
    )
    shutdown(app)
    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json["workers"] == {"alive": 0, "expected": 1}  # type: ignore[index]
