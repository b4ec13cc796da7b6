"""The sweeper: what it hands to the processor, what it caches for precise wake-ups, and who leads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jsm_bridge.actions import SetPriority
from jsm_bridge.clock import ManualClock
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.store import Store
from jsm_bridge.sweeper import LEADER_LEASE, Sweeper, SweepScheduler, sweep_every, sweep_jql
from jsm_bridge.ticket import Change, Ticket
from tests.stores import BACKENDS, database_url

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
POLICY = Path(__file__).parent / "policies" / "e2e-desk.yaml"


@dataclass(frozen=True)
class Found:
    ticket: Ticket
    complete: bool = True
    fingerprint: object = None

    @property
    def key(self) -> str:
        return self.ticket.key


class Search:
    """Search results from a list, recording each JQL asked."""

    def __init__(self, *found: Found, fail: Exception | None = None) -> None:
        self.found = list(found)
        self.fail = fail
        self.queries: list[str] = []

    def __call__(self, jql: str, policy: Policy, page_size: int) -> Iterator[Found]:
        self.queries.append(jql)
        yield from self.found
        if self.fail is not None:
            raise self.fail


class Processor:
    """Records which tickets it was asked to process."""

    def __init__(self) -> None:
        self.processed: list[str] = []

    def process(self, key: str, policy: Policy) -> Any:
        self.processed.append(key)
        return None


@pytest.fixture
def policy() -> Policy:
    return load_policy(POLICY)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    clock = ManualClock(T0)
    with database_url(request.param, tmp_path) as url:
        s = Store(url, clock=clock)
        s.migrate()
        yield s
        s.close()


def classified(key: str, created: datetime, tier: str = "First line") -> Ticket:
    """A P3 ticket already classified and in a tier: nothing is due until its tier time runs out."""
    return Ticket(
        key=key,
        created=created,
        status="Open",
        priority="P3",
        reporter="customer",
        tier=tier,
        fields={"summary": "Printer jammed"},
        changes=(Change(created, "priority", None, "P3", "jsm-bridge"),),
        done=frozenset({f"{key}:classify"}),
    )


def make(
    store: Store, search: Search, policy: Policy, clock: ManualClock, **kw: Any
) -> tuple[Sweeper, Processor]:
    processor = Processor()
    return Sweeper(search, store, processor, [policy], clock, **kw), processor


def test_ticket_with_nothing_due_costs_no_processing_and_no_write(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))  # its tier time ends in 55 minutes: after the next sweep
    sweeper, processor = make(store, Search(Found(classified("SUP-1", T0))), policy, clock)
    report = sweeper.sweep(policy)
    assert report.tickets == 1 and report.due == []
    assert processor.processed == []
    assert store.cache_get("SUP-1", policy.name) is None


def test_new_ticket_is_handed_to_the_processor(store: Store, policy: Policy) -> None:
    ticket = Ticket(
        key="SUP-2", created=T0, status="Open", reporter="customer", fields={"summary": "Site down"}
    )
    clock = ManualClock(T0)
    sweeper, processor = make(store, Search(Found(ticket)), policy, clock)
    report = sweeper.sweep(policy)
    assert report.due == ["SUP-2"]
    assert processor.processed == ["SUP-2"]


def test_action_in_the_ledger_is_not_handed_over_again(store: Store, policy: Policy) -> None:
    ticket = Ticket(
        key="SUP-3", created=T0, status="Open", reporter="customer", fields={"summary": "Site down"}
    )
    action = SetPriority(
        key="SUP-3:classify", ticket="SUP-3", rule="outage-is-p1", reason="r", at=T0, priority="P1"
    )
    assert store.ledger_claim(action, "test")
    store.ledger_done(action.key)
    clock = ManualClock(T0)
    sweeper, processor = make(store, Search(Found(ticket)), policy, clock)
    sweeper.sweep(policy)
    assert processor.processed == []


def test_deadline_before_the_next_sweep_is_cached_for_the_due_check(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(minutes=59, seconds=30))  # first line ends at 10:00, 30 s from now
    sweeper, processor = make(store, Search(Found(classified("SUP-4", T0))), policy, clock)
    sweeper.sweep(policy)
    assert processor.processed == []
    assert store.cache_get("SUP-4", policy.name) == (T0 + timedelta(hours=1), None)


def test_ticket_whose_search_history_is_cut_short_is_read_in_full(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    sweeper, processor = make(store, Search(Found(classified("SUP-5", T0), complete=False)), policy, clock)
    report = sweeper.sweep(policy)
    assert processor.processed == ["SUP-5"]
    assert report.due == []


def test_dry_run_sweep_records_nothing_in_the_store(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(minutes=59, seconds=30))
    sweeper, _ = make(store, Search(Found(classified("SUP-6", T0))), policy, clock, dry_run=True)
    sweeper.sweep(policy)
    assert store.cache_get("SUP-6", policy.name) is None
    assert store.sweep_runs() == []


def test_failed_search_is_reported_and_recorded_as_a_failed_run(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0)
    search = Search(Found(classified("SUP-7", T0)), fail=ConnectionError("Jira went away"))
    sweeper, _ = make(store, search, policy, clock)
    report = sweeper.sweep(policy)
    assert report.error == "ConnectionError: Jira went away"
    (run,) = store.sweep_runs()
    assert run.tickets == 1 and run.error == "ConnectionError: Jira went away"


def test_sweep_asks_for_open_and_recently_resolved_tickets_in_scope(policy: Policy) -> None:
    assert sweep_jql(policy) == (
        "(project = SUP) AND (statusCategory != Done OR updated >= -7d) ORDER BY key ASC"
    )


def test_due_check_processes_cached_tickets_when_their_time_comes(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0)
    sweeper, processor = make(store, Search(), policy, clock)
    store.cache_put("SUP-8", policy.name, T0 + timedelta(hours=1), None)
    assert sweeper.run_due() == 0
    clock.advance(timedelta(hours=1))
    assert sweeper.run_due() == 1
    assert processor.processed == ["SUP-8"]


def test_due_check_does_not_repeat_a_ticket_whose_next_due_stays_put(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0)
    sweeper, processor = make(store, Search(), policy, clock)
    store.cache_put("SUP-9", policy.name, T0, None)  # the fake processor never moves it
    for _ in range(5):
        sweeper.run_due()
        clock.advance(timedelta(seconds=1))
    assert processor.processed == ["SUP-9"]
    clock.advance(timedelta(seconds=30))
    sweeper.run_due()
    assert processor.processed == ["SUP-9", "SUP-9"]


def test_due_check_ignores_tickets_of_policies_it_does_not_run(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0)
    sweeper, processor = make(store, Search(), policy, clock)
    store.cache_put("OLD-1", "retired-policy", T0, None)
    assert sweeper.run_due() == 0
    assert processor.processed == []


def test_a_clock_moved_past_the_interval_makes_the_sweep_due(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0)
    sweeper, _ = make(store, Search(), policy, clock)
    assert sweeper.sweeps_due() == []  # never swept: the scheduler's first run comes first
    sweeper.sweep(policy)
    assert sweeper.sweeps_due() == []
    clock.advance(timedelta(hours=3))
    assert [p.name for p in sweeper.sweeps_due()] == [policy.name]


def test_sweep_every_counts_days_as_wall_clock_days(tmp_path: Path) -> None:
    text = POLICY.read_text().replace("sweep_every: 1m", "sweep_every: 1d")
    path = tmp_path / "daily.yaml"
    path.write_text(text)
    assert sweep_every(load_policy(path)) == timedelta(days=1)
    assert sweep_every(load_policy(POLICY)) == timedelta(minutes=1)


def test_only_one_instance_leads_and_another_takes_over_when_the_lease_lapses(
    store: Store, policy: Policy
) -> None:
    clock = store.clock
    assert isinstance(clock, ManualClock)
    one = SweepScheduler(make(store, Search(), policy, clock)[0], store, "host-a:1")
    two = SweepScheduler(make(store, Search(), policy, clock)[0], store, "host-b:2")
    assert one.is_leader()
    assert not two.is_leader()
    clock.advance(one.lease_ttl / 2)
    assert one.is_leader()  # renewed
    clock.advance(one.lease_ttl + timedelta(seconds=1))  # the leader died and stopped renewing
    assert two.is_leader()
    assert not one.is_leader()
    assert one.lease_ttl < sweep_every(policy)


def test_stopping_gives_the_lease_up_at_once(store: Store, policy: Policy) -> None:
    one = SweepScheduler(make(store, Search(), policy, ManualClock(T0))[0], store, "host-a:1")
    two = SweepScheduler(make(store, Search(), policy, ManualClock(T0))[0], store, "host-b:2")
    assert one.is_leader()
    one.stop()
    assert store.lease_holder(LEADER_LEASE) is None
    assert two.is_leader()


def test_scheduler_jobs_coalesce_never_overlap_and_tolerate_misfires(store: Store, policy: Policy) -> None:
    scheduler = SweepScheduler(make(store, Search(), policy, ManualClock(T0))[0], store, "host-a:1")
    scheduler.start(sweep_now=False)
    try:
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        assert set(jobs) == {"sweep:e2e-desk", "due-check", "reconcile"}
        for job in jobs.values():
            assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 30
        assert jobs["sweep:e2e-desk"].trigger.interval == timedelta(minutes=1)
        assert jobs["due-check"].trigger.interval == timedelta(seconds=1)
        assert jobs["reconcile"].trigger.interval == timedelta(minutes=5)
    finally:
        scheduler.stop()


def test_with_a_retention_the_scheduler_also_purges_the_inbox_every_hour(
    store: Store, policy: Policy
) -> None:
    scheduler = SweepScheduler(
        make(store, Search(), policy, ManualClock(T0))[0],
        store,
        "host-a:1",
        inbox_retention=timedelta(days=7),
    )
    scheduler.start(sweep_now=False)
    try:
        job = scheduler.scheduler.get_job("inbox-purge")
        assert job is not None and job.trigger.interval == timedelta(hours=1)
    finally:
        scheduler.stop()


def _done_events(store: Store, *received: datetime) -> None:
    from jsm_bridge.store import InboxEntry, content_hash

    store.inbox_add_many(
        [
            InboxEntry(f"d-{n}", content_hash(str(n)), "jira:issue_created", "CB-1", "{}", at)
            for n, at in enumerate(received)
        ]
    )
    for event in store.inbox_claim("w", limit=len(received)):
        store.inbox_done(event.id)


def test_the_leader_purges_done_events_older_than_the_retention(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(days=10))
    _done_events(store, T0, T0 + timedelta(days=2), T0 + timedelta(days=9))
    retention = timedelta(days=7)
    leader = SweepScheduler(
        make(store, Search(), policy, clock)[0], store, "host-a:1", inbox_retention=retention
    )
    follower = SweepScheduler(
        make(store, Search(), policy, clock)[0], store, "host-b:2", inbox_retention=retention
    )
    assert leader.is_leader()

    assert follower.purge_job() == 0  # not the leader: leaves it alone
    assert leader.purge_job() == 2  # received 10 and 8 days ago

    assert [e.received_at for e in store.inbox_list()] == [T0 + timedelta(days=9)]


def test_without_a_retention_nothing_is_purged(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(days=400))
    _done_events(store, T0)
    keeper = SweepScheduler(make(store, Search(), policy, clock)[0], store, "host-a:1", inbox_retention=None)
    keeper.start(sweep_now=False)
    try:
        assert keeper.scheduler.get_job("inbox-purge") is None
    finally:
        keeper.stop()
    assert keeper.purge_job() == 0
    assert len(store.inbox_list()) == 1


class Reconciling(Processor):
    """A processor that records each reconcile it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.reconciled: list[timedelta] = []

    def reconcile(self, older_than: timedelta) -> Any:
        from jsm_bridge.process import ReconcileResult

        self.reconciled.append(older_than)
        return ReconcileResult(released=("CB-1:ack",))


def test_the_leader_reconciles_claims_left_pending_every_few_minutes_not_only_at_start_up(
    store: Store, policy: Policy
) -> None:
    clock = ManualClock(T0)
    leader_processor, follower_processor = Reconciling(), Reconciling()
    leader = SweepScheduler(Sweeper(Search(), store, leader_processor, [policy], clock), store, "host-a:1")
    follower = SweepScheduler(
        Sweeper(Search(), store, follower_processor, [policy], clock), store, "host-b:2"
    )
    assert leader.is_leader()
    leader.reconcile_job()
    follower.reconcile_job()
    assert leader_processor.reconciled == [timedelta(minutes=2)]
    assert follower_processor.reconciled == []


def test_every_instance_says_it_is_alive_so_its_claims_are_not_reconciled_while_it_runs(
    store: Store, policy: Policy
) -> None:
    from jsm_bridge.process import ALIVE_LEASE_PREFIX

    follower = SweepScheduler(make(store, Search(), policy, ManualClock(T0))[0], store, "host-b:2")
    follower.due_job()
    assert store.lease_holder(ALIVE_LEASE_PREFIX + "host-b:2") is not None
    follower.stop()
    assert store.lease_holder(ALIVE_LEASE_PREFIX + "host-b:2") is None


class CountingDecide:
    """The engine's decide(), counting the tickets it is asked about."""

    def __init__(self) -> None:
        from jsm_bridge.engine import decide

        self.decide = decide
        self.calls: list[str] = []

    def __call__(self, ticket: Ticket, policy: Policy, now: datetime) -> Any:
        self.calls.append(ticket.key)
        return self.decide(ticket, policy, now)


def test_unchanged_ticket_is_not_decided_again_before_its_next_due(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    counting = CountingDecide()
    search = Search(Found(classified("SUP-10", T0), fingerprint=("2026-11-24T09:00", "Open")))
    sweeper, processor = make(store, search, policy, clock, decide=counting)
    sweeper.sweep(policy)
    clock.advance(timedelta(minutes=1))
    sweeper.sweep(policy)
    assert counting.calls == ["SUP-10"]
    clock.set(T0 + timedelta(hours=1))  # its first-line time is up: decided again, handed over
    sweeper.sweep(policy)
    assert len(counting.calls) > 1
    assert processor.processed == ["SUP-10"]


def test_changed_ticket_is_decided_again(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    counting = CountingDecide()
    search = Search(Found(classified("SUP-11", T0), fingerprint=("2026-11-24T09:00", "Open")))
    sweeper, _ = make(store, search, policy, clock, decide=counting)
    sweeper.sweep(policy)
    search.found = [Found(classified("SUP-11", T0), fingerprint=("2026-11-24T09:06", "Open"))]
    sweeper.sweep(policy)
    assert counting.calls == ["SUP-11", "SUP-11"]


def test_ticket_without_a_fingerprint_is_always_decided(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    counting = CountingDecide()
    sweeper, _ = make(store, Search(Found(classified("SUP-12", T0))), policy, clock, decide=counting)
    sweeper.sweep(policy)
    sweeper.sweep(policy)
    assert counting.calls == ["SUP-12", "SUP-12"]


def test_long_history_read_in_full_once_is_not_read_again_while_unchanged(
    store: Store, policy: Policy
) -> None:
    from jsm_bridge.process import ProcessResult

    class FullReader(Processor):
        def process(self, key: str, policy: Policy) -> Any:
            super().process(key, policy)
            return ProcessResult(ticket=key, policy=policy.name, next_due=T0 + timedelta(hours=1))

    clock = ManualClock(T0 + timedelta(minutes=5))
    found = Found(classified("SUP-13", T0), complete=False, fingerprint=("2026-11-24T09:00", "Open"))
    processor = FullReader()
    sweeper = Sweeper(Search(found), store, processor, [policy], clock)
    sweeper.sweep(policy)
    clock.advance(timedelta(minutes=1))
    sweeper.sweep(policy)
    assert processor.processed == ["SUP-13"]


def test_stopping_ends_a_sweep_after_the_ticket_in_hand(store: Store, policy: Policy) -> None:
    clock = ManualClock(T0)
    tickets = [
        Found(
            Ticket(key=f"SUP-{n}", created=T0, status="Open", reporter="c", fields={"summary": "Site down"})
        )
        for n in range(20, 25)
    ]

    class StopAfterOne(Processor):
        def process(self, key: str, policy: Policy) -> Any:
            super().process(key, policy)
            sweeper.stop.set()  # SIGTERM arrives while the first ticket is being handled

    processor = StopAfterOne()
    sweeper = Sweeper(Search(*tickets), store, processor, [policy], clock)
    report = sweeper.sweep(policy)
    assert processor.processed == ["SUP-20"]
    assert report.error == "stopped: shutting down"
