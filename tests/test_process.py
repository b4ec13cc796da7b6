"""Carrying out decisions exactly once: the processor with a recording gateway and a small decision."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jsm_bridge.actions import Action, AddComment, Label
from jsm_bridge.clock import ManualClock
from jsm_bridge.jira.errors import BadRequest, JiraUnavailable, NotFound, RateLimited
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.process import ALIVE_LEASE_PREFIX, Backoff, TicketProcessor, scope_projects
from jsm_bridge.store import Store
from jsm_bridge.ticket import Ticket
from tests.stores import BACKENDS, database_url

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class RecordingGateway:
    """A Jira that holds tickets in memory, records every write, and fails when told to."""

    def __init__(self, *tickets: Ticket) -> None:
        self.tickets = {t.key: t for t in tickets}
        self.writes: list[str] = []
        self.properties: dict[str, set[str]] = {}
        self.comment_keys: dict[str, set[str]] = {}
        self.failures: dict[str, list[Exception]] = {}
        self.searches: list[str] = []
        self.in_scope: set[str] = set()
        self.jira_down = False
        self.lock = threading.Lock()

    def fetch_ticket(self, key: str, policy: Policy) -> Ticket:
        if key not in self.tickets:
            raise NotFound(f"{key}: no such issue", status=404, ticket=key)
        return self.tickets[key]

    def search(self, jql: str, fields: list[str], page_size: int) -> list[dict[str, Any]]:
        self.searches.append(jql)
        return [{"key": k} for k in sorted(self.in_scope) if f"key = {k} " in jql]

    def done_keys(self, key: str) -> frozenset[str]:
        if self.jira_down:
            raise JiraUnavailable("Jira unavailable", status=503)
        return frozenset(self.properties.get(key, ()))

    def comment_action_keys(self, key: str) -> frozenset[str]:
        return frozenset(self.comment_keys.get(key, ()))

    def record_done(self, key: str, action_key: str) -> None:
        self.properties.setdefault(key, set()).add(action_key)


def execute(action: Action, gateway: RecordingGateway, policy: Policy) -> None:
    """The executor's contract: do the write, then record the done key on the issue."""
    with gateway.lock:
        queued = gateway.failures.get(action.key)
        if queued:
            raise queued.pop(0)
    time.sleep(0.01)  # a Jira call takes a while: widens any window between claim and outcome
    with gateway.lock:
        gateway.writes.append(action.key)
    gateway.record_done(action.ticket, action.key)


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    next_due: datetime | None


def decide(ticket: Ticket, policy: Policy, now: datetime) -> Decision:
    """Acknowledge, then label; each once (the keys in ticket.done are not proposed again)."""
    common = {"ticket": ticket.key, "at": now}
    proposed: list[Action] = [
        AddComment(
            key=f"{ticket.key}:ack",
            rule="acknowledge",
            reason="new ticket",
            body="Thanks",
            public=True,
            **common,
        ),
        Label(key=f"{ticket.key}:label:triaged", rule="triage", reason="triaged", add=("triaged",), **common),
    ]
    return Decision(
        tuple(a for a in proposed if a.key not in ticket.done), ticket.created + timedelta(days=1)
    )


def write_policy(folder: Path, name: str, jql: str) -> Policy:
    path = folder / f"{name}.yaml"
    path.write_text(f"policy: {name}\nscope: {{jql: '{jql}'}}\npriorities:\n  P1: {{jira: Highest}}\n")
    return load_policy(path)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as value:
        yield value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def stores(url: str, clock: ManualClock) -> Iterator[Callable[[], Store]]:
    opened: list[Store] = []

    def make() -> Store:
        store = Store(url, clock)
        if not opened:
            store.migrate()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(stores: Callable[[], Store]) -> Store:
    return stores()


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return write_policy(tmp_path, "capital-bytes", "project = CB")


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway(Ticket(key="CB-1", created=T0, status="Open"))


def processor(
    gateway: RecordingGateway, store: Store, policies: list[Policy], clock: ManualClock, **kw: Any
) -> TicketProcessor:
    return TicketProcessor(
        gateway, store, policies, clock, "host-1:100", decide=decide, execute=execute, **kw
    )


# --- processing ---


def test_due_actions_are_executed_and_recorded_done(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    result = processor(gateway, store, [policy], clock).process("CB-1", policy)
    assert [a.key for a in result.done] == ["CB-1:ack", "CB-1:label:triaged"]
    assert gateway.writes == ["CB-1:ack", "CB-1:label:triaged"]
    assert store.ledger_done_keys("CB-1") == {"CB-1:ack", "CB-1:label:triaged"}


def test_processing_a_ticket_twice_executes_each_action_once(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    runner = processor(gateway, store, [policy], clock)
    runner.process("CB-1", policy)
    again = runner.process("CB-1", policy)
    assert again.outcomes == ()
    assert gateway.writes == ["CB-1:ack", "CB-1:label:triaged"]


def test_two_instances_processing_at_once_execute_each_action_once(
    gateway: RecordingGateway, stores: Callable[[], Store], policy: Policy, clock: ManualClock
) -> None:
    runners = [
        TicketProcessor(gateway, stores(), [policy], clock, f"host-{i}", decide=decide, execute=execute)
        for i in range(4)
    ]
    barrier = threading.Barrier(len(runners))
    errors: list[BaseException] = []

    def run(runner: TicketProcessor) -> None:
        try:
            barrier.wait()
            runner.process("CB-1", policy)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(gateway.writes) == ["CB-1:ack", "CB-1:label:triaged"]


def test_the_decision_sees_the_keys_the_ledger_has_done(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    seen: list[frozenset[str]] = []

    def watching(ticket: Ticket, p: Policy, now: datetime) -> Decision:
        seen.append(ticket.done)
        return decide(ticket, p, now)

    runner = TicketProcessor(gateway, store, [policy], clock, "h", decide=watching, execute=execute)
    runner.process("CB-1", policy)
    runner.process("CB-1", policy)
    assert seen == [frozenset(), frozenset({"CB-1:ack", "CB-1:label:triaged"})]


def test_an_action_claimed_elsewhere_is_skipped_and_later_actions_wait_for_it(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    store.ledger_claim(decide(gateway.tickets["CB-1"], policy, T0).actions[0], "host-2")
    result = processor(gateway, store, [policy], clock).process("CB-1", policy)
    ack, label = result.outcomes
    assert (ack.status, label.status) == ("skipped", "skipped")
    assert ack.detail.startswith("claimed by host-2")
    assert label.detail == "waiting for CB-1:ack first"
    assert gateway.writes == []


def test_a_ticket_whose_action_is_claimed_elsewhere_is_looked_at_again_at_once(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    # A due-check and an inbox worker on one ticket at once: this decision cannot see past the action
    # the other holds, so its own next_due (a day away here) must not replace a sooner one.
    store.ledger_claim(decide(gateway.tickets["CB-1"], policy, T0).actions[0], "host-2")
    result = processor(gateway, store, [policy], clock).process("CB-1", policy)
    assert result.next_due == clock.now()
    assert store.cache_due(clock.now()) == [("CB-1", "capital-bytes")]


def test_a_ticket_asked_for_while_in_hand_is_processed_again_by_the_thread_in_hand(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    entered, second_returned = threading.Event(), threading.Event()
    passes: list[datetime] = []

    def slow_decide(ticket: Ticket, policy: Policy, now: datetime) -> Decision:
        passes.append(now)
        if len(passes) == 1:
            entered.set()
            assert second_returned.wait(5)  # the other caller came and went while this pass ran
        return decide(ticket, policy, now)

    worker = TicketProcessor(
        gateway, store, [policy], clock, "host-1:100", decide=slow_decide, execute=execute
    )
    first = threading.Thread(target=worker.process, args=("CB-1", policy))
    first.start()
    assert entered.wait(5)
    second = worker.process("CB-1", policy)
    second_returned.set()
    first.join(5)

    assert second.outcomes == () and second.next_due is None  # it returned at once, without waiting
    assert len(passes) == 2  # the thread in hand looked again once it had finished
    assert len(gateway.writes) == 2  # the comment and the label, once each


def test_a_failed_action_stays_owed_and_is_retried_after_backoff(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    gateway.failures["CB-1:ack"] = [JiraUnavailable("Jira answered 502", status=502)]
    runner = processor(gateway, store, [policy], clock, backoff=Backoff(base=timedelta(minutes=1)))
    first = runner.process("CB-1", policy)
    assert [o.status for o in first.outcomes] == ["failed", "skipped"]
    assert first.outcomes[0].retry_at == T0 + timedelta(minutes=1)
    owed = store.ledger_get("CB-1:ack")
    assert owed is not None
    assert (owed.state, owed.error) == ("failed", "JiraUnavailable: Jira answered 502")

    clock.advance(timedelta(seconds=30))
    assert runner.process("CB-1", policy).done == ()
    clock.advance(timedelta(seconds=30))
    assert [a.key for a in runner.process("CB-1", policy).done] == ["CB-1:ack", "CB-1:label:triaged"]
    assert gateway.writes == ["CB-1:ack", "CB-1:label:triaged"]


def test_the_ticket_comes_back_when_its_failed_action_is_due_again(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    gateway.failures["CB-1:ack"] = [JiraUnavailable("timeout")]
    result = processor(gateway, store, [policy], clock).process("CB-1", policy)
    assert result.next_due == T0 + timedelta(minutes=1)
    assert store.cache_due(T0 + timedelta(minutes=1)) == [("CB-1", "capital-bytes")]


def test_backoff_doubles_with_each_failed_attempt(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    gateway.failures["CB-1:ack"] = [JiraUnavailable("down")] * 3
    runner = processor(gateway, store, [policy], clock, backoff=Backoff(base=timedelta(minutes=1)))
    waits = []
    for _ in range(3):
        started = clock.now()
        retry_at = runner.process("CB-1", policy).outcomes[0].retry_at
        assert retry_at is not None
        waits.append(retry_at - started)
        clock.set(retry_at)
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]


def test_a_rate_limited_action_waits_as_long_as_jira_asks(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    gateway.failures["CB-1:ack"] = [
        RateLimited("slow down", retry_after=300, reason="jira-per-issue-on-write", scope="issue")
    ]
    result = processor(gateway, store, [policy], clock).process("CB-1", policy)
    assert result.outcomes[0].retry_at == T0 + timedelta(seconds=300)


def test_an_action_is_given_up_after_its_last_attempt(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    gateway.failures["CB-1:ack"] = [JiraUnavailable("down")] * 2
    runner = processor(gateway, store, [policy], clock, backoff=Backoff(max_attempts=2))
    runner.process("CB-1", policy)
    clock.advance(timedelta(hours=1))
    last = runner.process("CB-1", policy)
    assert last.outcomes[0].status == "failed"
    assert last.outcomes[0].retry_at is None
    clock.advance(timedelta(days=1))
    later = runner.process("CB-1", policy)
    assert later.outcomes[0].detail.startswith("given up after 2 attempts")
    assert gateway.writes == ["CB-1:label:triaged"]


def test_the_cache_keeps_the_decisions_next_due_and_a_snapshot(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    processor(gateway, store, [policy], clock).process("CB-1", policy)
    cached = store.cache_get("CB-1", "capital-bytes")
    assert cached is not None
    next_due, snapshot = cached
    assert next_due == T0 + timedelta(days=1)
    assert snapshot is not None and snapshot["status"] == "Open"


def test_a_dry_run_decides_but_writes_nothing(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    result = processor(gateway, store, [policy], clock, dry_run=True).process("CB-1", policy)
    assert [a.key for a in result.planned] == ["CB-1:ack", "CB-1:label:triaged"]
    assert result.dry_run is True
    assert gateway.writes == []
    assert store.ledger_entries() == []
    assert store.cache_get("CB-1", "capital-bytes") is None


def test_a_ticket_jira_no_longer_has_is_forgotten_and_reported(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    store.cache_put("CB-404", "capital-bytes", T0, None)
    with pytest.raises(NotFound):
        processor(gateway, store, [policy], clock).process("CB-404", policy)
    assert store.cache_get("CB-404", "capital-bytes") is None


def test_a_refused_action_is_retried_only_at_the_longest_interval(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    gateway.failures["CB-1:ack"] = [BadRequest("comment body too long", status=400)]
    runner = processor(gateway, store, [policy], clock, backoff=Backoff(cap=timedelta(hours=1)))
    result = runner.process("CB-1", policy)
    assert result.outcomes[0].retry_at == T0 + timedelta(hours=1)


def test_an_unexpected_error_is_recorded_not_left_pending(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    gateway.failures["CB-1:ack"] = [KeyError("template variable")]
    result = processor(gateway, store, [policy], clock).process("CB-1", policy)
    assert result.outcomes[0].status == "failed"
    entry = store.ledger_get("CB-1:ack")
    assert entry is not None and entry.state == "failed" and entry.retry_at is not None


def test_not_acting_is_logged_with_ticket_rule_action_key_and_reason(
    gateway: RecordingGateway,
    store: Store,
    policy: Policy,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = processor(gateway, store, [policy], clock)
    runner.process("CB-1", policy)
    store.ledger_claim(
        AddComment(
            key="CB-2:ack", ticket="CB-2", rule="acknowledge", reason="r", at=T0, body="b", public=True
        ),
        "host-9",
    )
    gateway.tickets["CB-2"] = Ticket(key="CB-2", created=T0, status="Open")
    with caplog.at_level(logging.INFO, logger="jsm_bridge.process"):
        runner.process("CB-2", policy)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("not_acting"))
    assert "ticket=CB-2 rule=acknowledge action=comment key=CB-2:ack" in line
    assert 'reason="claimed by host-9' in line


# --- reconcile ---


def crashed_claim(store: Store, gateway: RecordingGateway, policy: Policy) -> Action:
    """A claim made, then the process died before recording the outcome."""
    action = decide(gateway.tickets["CB-1"], policy, T0).actions[0]
    store.ledger_claim(action, "host-gone")
    return action


def test_reconcile_marks_done_a_claim_whose_key_jira_has(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    action = crashed_claim(store, gateway, policy)
    gateway.record_done("CB-1", action.key)  # the write happened before the crash
    clock.advance(timedelta(minutes=15))
    result = processor(gateway, store, [policy], clock).reconcile(timedelta(minutes=10))
    assert result.done == (action.key,)
    entry = store.ledger_get(action.key)
    assert entry is not None and entry.state == "done"


def test_reconcile_releases_a_claim_jira_has_no_trace_of_and_it_is_then_done(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    action = crashed_claim(store, gateway, policy)
    clock.advance(timedelta(minutes=15))
    runner = processor(gateway, store, [policy], clock)
    store.cache_put("CB-1", "capital-bytes", T0 + timedelta(days=1), None)
    assert runner.reconcile(timedelta(minutes=10)).released == (action.key,)
    assert store.cache_due(clock.now()) == [("CB-1", "capital-bytes")]
    runner.process("CB-1", policy)
    assert gateway.writes.count(action.key) == 1
    entry = store.ledger_get(action.key)
    assert entry is not None and (entry.state, entry.attempts) == ("done", 2)


def test_reconcile_marks_done_a_comment_whose_action_key_a_comment_on_the_issue_carries(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    action = crashed_claim(store, gateway, policy)
    gateway.comment_keys["CB-1"] = {action.key}  # posted, but the done key was never recorded
    clock.advance(timedelta(minutes=15))
    result = processor(gateway, store, [policy], clock).reconcile(timedelta(minutes=10))
    assert result.done == (action.key,)
    entry = store.ledger_get(action.key)
    assert entry is not None and entry.state == "done"


def test_reconcile_leaves_alone_the_claims_of_an_instance_that_is_still_alive(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    action = crashed_claim(store, gateway, policy)
    clock.advance(timedelta(minutes=15))
    store.acquire_lease(ALIVE_LEASE_PREFIX + "host-gone", "host-gone", timedelta(seconds=30))
    result = processor(gateway, store, [policy], clock).reconcile(timedelta(minutes=10))
    assert (result.done, result.released, result.unresolved) == ((), (), ())
    clock.advance(timedelta(minutes=1))  # it stopped renewing: it died
    assert processor(gateway, store, [policy], clock).reconcile(timedelta(minutes=10)).released == (
        action.key,
    )


def test_a_retried_comment_that_jira_already_holds_is_marked_done_without_posting_again(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    action = decide(gateway.tickets["CB-1"], policy, T0).actions[0]
    store.ledger_claim(action, "host-1")
    # The POST timed out, yet Jira had accepted it: the comment is there, carrying its key.
    store.ledger_failed(action.key, "JiraUnavailable: no answer within 30s", T0)
    gateway.comment_keys["CB-1"] = {action.key}
    processor(gateway, store, [policy], clock).process("CB-1", policy)
    assert action.key not in gateway.writes
    entry = store.ledger_get(action.key)
    assert entry is not None and entry.state == "done"


def test_reconcile_leaves_recent_claims_alone(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    action = crashed_claim(store, gateway, policy)
    clock.advance(timedelta(minutes=5))
    result = processor(gateway, store, [policy], clock).reconcile(timedelta(minutes=10))
    assert (result.done, result.released) == ((), ())
    entry = store.ledger_get(action.key)
    assert entry is not None and entry.state == "pending"


def test_reconcile_keeps_claims_pending_while_jira_cannot_be_asked(
    gateway: RecordingGateway, store: Store, policy: Policy, clock: ManualClock
) -> None:
    action = crashed_claim(store, gateway, policy)
    gateway.jira_down = True
    clock.advance(timedelta(minutes=15))
    result = processor(gateway, store, [policy], clock).reconcile(timedelta(minutes=10))
    assert result.unresolved == (action.key,)
    entry = store.ledger_get(action.key)
    assert entry is not None and entry.state == "pending"


# --- which policy governs a ticket ---


@pytest.mark.parametrize(
    ("jql", "projects"),
    [
        ("project = CB", {"CB"}),
        ("PROJECT=cb", {"CB"}),
        ('project = "CB"', {"CB"}),
        ("project in (CB, ops)", {"CB", "OPS"}),
        ("project IN ('CB','HR')", {"CB", "HR"}),
        ("project = CB AND type = Incident", None),
        ('project = "Capital Bytes"', None),
        ("labels = vip", None),
    ],
)
def test_scope_projects_reads_only_plain_project_scopes(jql: str, projects: set[str] | None) -> None:
    assert scope_projects(jql) == (None if projects is None else frozenset(projects))


def test_a_project_scope_is_answered_without_asking_jira(
    gateway: RecordingGateway, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    other = write_policy(tmp_path, "other", "project in (OPS, HR)")
    cb = write_policy(tmp_path, "cb", "project = cb")
    runner = processor(gateway, store, [other, cb], clock)
    assert runner.policy_for("CB-7") is cb
    assert runner.policy_for("HR-1") is other
    assert runner.policy_for("ZZ-1") is None
    assert gateway.searches == []


def test_any_other_scope_is_asked_of_jira_for_that_ticket_and_remembered(
    gateway: RecordingGateway, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    vip = write_policy(tmp_path, "vip", "labels = vip")
    gateway.in_scope = {"CB-9"}
    runner = processor(gateway, store, [vip], clock)
    assert runner.policy_for("CB-9") is vip
    assert runner.policy_for("CB-9") is vip
    assert gateway.searches == ["key = CB-9 AND (labels = vip)"]
    assert runner.policy_for("CB-10") is None


def test_a_remembered_answer_expires(
    gateway: RecordingGateway, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    vip = write_policy(tmp_path, "vip", "labels = vip")
    runner = processor(gateway, store, [vip], clock)
    assert runner.policy_for("CB-9") is None
    gateway.in_scope = {"CB-9"}
    clock.advance(timedelta(minutes=1))
    assert runner.policy_for("CB-9") is vip


def test_something_that_is_not_an_issue_key_has_no_policy(
    gateway: RecordingGateway, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    vip = write_policy(tmp_path, "vip", "labels = vip")
    assert processor(gateway, store, [vip], clock).policy_for("CB-1 OR key = X-1") is None
    assert gateway.searches == []


# --- with the engine's decide() and the gateway's executor ---


class JiraSite(RecordingGateway):
    """A Jira that applies the executor's writes to its tickets, so later reads see them."""

    def set_priority(self, key: str, jira_priority_name: str) -> None:
        self._write(key, f"priority={jira_priority_name}")

    def add_comment(
        self,
        key: str,
        body: str,
        public: bool,
        mentions: tuple[str, ...] = (),
        *,
        action_key: str | None = None,
    ) -> str:
        self._write(key, f"comment={body}")
        return "10001"

    def transition(self, key: str, to: str, resolution: str | None = None, fields: Any = None) -> None:
        self._write(key, f"status={to}")

    def edit_fields(self, key: str, values: dict[str, Any]) -> None:
        self._write(key, f"fields={values}")

    def add_labels(self, key: str, labels: tuple[str, ...]) -> None:
        self._write(key, f"labels+={list(labels)}")

    def remove_labels(self, key: str, labels: tuple[str, ...]) -> None:
        self._write(key, f"labels-={list(labels)}")

    def assign(self, key: str, user: str | None) -> None:
        self._write(key, f"assignee={user}")

    def fetch_ticket(self, key: str, policy: Policy) -> Ticket:
        ticket = super().fetch_ticket(key, policy)
        return ticket.with_done(*self.done_keys(key))

    def _write(self, key: str, what: str) -> None:
        time.sleep(0.01)
        with self.lock:
            self.writes.append(f"{key} {what}")


ENGINE_POLICY = """policy: capital-bytes
scope: {jql: 'project = CB'}
priorities:
  P1: {jira: Highest}
  P2: {jira: High}
classify:
  - id: urgent
    when: {field: labels, contains: urgent}
    priority: P1
acknowledge: {template: acknowledge}
"""


@pytest.fixture
def site() -> JiraSite:
    created = Ticket(
        key="CB-1",
        created=T0,
        status="Open",
        priority="P2",
        reporter="customer",
        labels=frozenset({"urgent"}),
        fields={"summary": "Site down"},
    )
    return JiraSite(created)


def test_with_the_engine_each_action_reaches_jira_once_however_often_and_wherever_it_runs(
    site: JiraSite, stores: Callable[[], Store], clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "capital-bytes.yaml"
    path.write_text(ENGINE_POLICY)
    policy = load_policy(path)
    runners = [TicketProcessor(site, stores(), [policy], clock, f"host-{i}") for i in range(3)]
    barrier = threading.Barrier(len(runners))
    errors: list[BaseException] = []

    def run(runner: TicketProcessor) -> None:
        try:
            barrier.wait()
            runner.process("CB-1", policy)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    clock.advance(timedelta(minutes=5))
    runners[0].process("CB-1", policy)

    assert site.writes[0] == "CB-1 priority=Highest"
    assert len(site.writes) == 2
    assert site.writes[1].startswith("CB-1 comment=Thank you for contacting our support.")
    assert site.properties["CB-1"] == {"CB-1:classify", "CB-1:ack"}
    assert runners[1].store.ledger_done_keys("CB-1") == {"CB-1:classify", "CB-1:ack"}
