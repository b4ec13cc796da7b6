"""The store on SQLite and PostgreSQL: migrations, inbox, ledger, cache, leases, sweep runs, failures."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lz4.frame
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jsm_bridge.actions import AddComment, MoveToTier, SetField
from jsm_bridge.clock import ManualClock
from jsm_bridge.migrations import head_revision
from jsm_bridge.store import (
    DATABASE_URL_ENV,
    LZ4_FRAME_MAGIC,
    InboxEntry,
    Store,
    StoreError,
    StoreUnavailable,
    UnknownEntry,
    compress_payload,
    content_hash,
    database_url,
    metadata,
    payload_text,
)
from tests.stores import BACKENDS
from tests.stores import database_url as backend_url

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as value:
        yield value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def open_store(url: str, clock: ManualClock) -> Iterator[Callable[[], Store]]:
    """Opens further Store objects on the same database: each is a separate connection pool, as
    another process would have."""
    opened: list[Store] = []

    def make() -> Store:
        store = Store(url, clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    store = open_store()
    store.migrate()
    return store


def entry(
    body: str = '{"webhookEvent": "jira:issue_created"}', delivery_id: str | None = None, at: datetime = T0
) -> InboxEntry:
    return InboxEntry(
        delivery_id=delivery_id,
        content_hash=content_hash(body),
        event_type="jira:issue_created",
        issue_key="CB-1",
        payload=body,
        received_at=at,
    )


def comment(key: str = "CB-1:ack", ticket: str = "CB-1") -> AddComment:
    return AddComment(
        key=key, ticket=ticket, rule="acknowledge", reason="new ticket", at=T0, body="Thanks", public=True
    )


def run_together(count: int, work: Callable[[int], object]) -> list[object]:
    """Runs `work(i)` in `count` threads released at the same instant; returns their results in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as error:  # surfaced in the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


# --- migrations ---


def test_migrate_creates_every_table_in_an_empty_database(open_store: Callable[[], Store]) -> None:
    store = open_store()
    assert store.schema_revision() is None
    store.migrate()
    assert store.schema_revision() == head_revision()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"inbox", "action_ledger", "ticket_cache", "sweep_runs", "leases", "alembic_version"} <= tables


def test_migrate_again_changes_nothing_and_keeps_data(store: Store) -> None:
    store.inbox_add(entry())
    store.migrate()
    assert store.schema_revision() == head_revision()
    assert store.inbox_depth()["pending"] == 1


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_separate_processes_migrating_at_once_all_succeed(url: str) -> None:
    script = "import sys; from jsm_bridge.store import Store; Store(sys.argv[1]).migrate()"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    children = [
        subprocess.Popen([sys.executable, "-c", script, url], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
    store = Store(url)
    assert store.schema_revision() == head_revision()
    store.close()


def test_threads_migrating_at_once_all_succeed(open_store: Callable[[], Store]) -> None:
    stores = [open_store(), open_store(), open_store()]
    run_together(3, lambda i: stores[i].migrate())
    assert all(s.schema_revision() == head_revision() for s in stores)


# --- inbox ---


def test_a_delivery_id_seen_once_is_a_duplicate_forever(store: Store, clock: ManualClock) -> None:
    assert store.inbox_add(entry("a", delivery_id="d-1")) is True
    later = T0 + timedelta(days=3)
    assert store.inbox_add(entry("b", delivery_id="d-1", at=later)) is False
    assert store.inbox_depth()["pending"] == 1


def test_the_same_body_without_an_id_is_a_duplicate_within_the_window(store: Store) -> None:
    assert store.inbox_add(entry("same")) is True
    assert store.inbox_add(entry("same", at=T0 + timedelta(minutes=9))) is False


def test_the_same_body_after_the_window_is_a_new_event(store: Store) -> None:
    assert store.inbox_add(entry("same")) is True
    assert store.inbox_add(entry("same", at=T0 + timedelta(minutes=11))) is True


def test_different_bodies_without_ids_are_all_kept(store: Store) -> None:
    assert [store.inbox_add(entry(body)) for body in ("a", "b", "c")] == [True, True, True]


def test_a_body_without_an_id_is_compared_only_with_deliveries_without_one(store: Store) -> None:
    assert store.inbox_add(entry("same", delivery_id="d-1")) is True
    assert store.inbox_add(entry("same")) is True  # the identified one is compared by its id only
    assert store.inbox_add(entry("same", at=T0 + timedelta(minutes=1))) is False
    assert store.inbox_add_many([entry("z", delivery_id="d-9"), entry("z")]) == [True, True]


def _content_index_sql(store: Store) -> str:
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_inbox_content_hash'"
        else:
            query = "SELECT sql FROM sqlite_master WHERE name = 'ix_inbox_content_hash'"
        return str(conn.exec_driver_sql(query).scalar())


def test_the_content_index_holds_only_deliveries_without_an_id(store: Store) -> None:
    assert "delivery_id IS NULL" in _content_index_sql(store).replace(
        "(delivery_id IS NULL)", "delivery_id IS NULL"
    )


def test_migrating_a_0001_inbox_keeps_its_rows_and_narrows_the_content_index(
    open_store: Callable[[], Store],
) -> None:
    from jsm_bridge.migrations import upgrade

    store = open_store()
    with store.engine.begin() as conn:
        upgrade(conn, "0001")
    assert store.schema_revision() == "0001"
    assert "delivery_id IS NULL" not in _content_index_sql(store)
    store.inbox_add_many([entry("kept", delivery_id="d-1"), entry("no id")])

    store.migrate()

    assert store.schema_revision() == head_revision()
    assert "delivery_id IS NULL" in _content_index_sql(store).replace(
        "(delivery_id IS NULL)", "delivery_id IS NULL"
    )
    assert store.inbox_depth()["pending"] == 2
    assert store.inbox_add(entry("no id", at=T0 + timedelta(minutes=1))) is False
    assert store.inbox_add(entry("again", delivery_id="d-1")) is False


def test_a_batch_stores_every_payload_byte_for_byte(store: Store) -> None:
    tricky = [
        '{"a": "quotes \\" and \\\\ backslashes", "b": "{braces}, [brackets], commas"}',
        '{"emoji": "Grüße 🚨 — naïve", "nested": {"x": null}}',
        '{"empty": ""}',
    ]
    batch = [
        InboxEntry(f"b-{n}", content_hash(body), "jira:issue_updated", None if n else "CB-9", body, T0)
        for n, body in enumerate(tricky)
    ]
    assert store.inbox_add_many(batch) == [True, True, True]
    stored = {e.delivery_id: (e.payload, e.issue_key) for e in store.inbox_list()}
    assert stored == {f"b-{n}": (body, None if n else "CB-9") for n, body in enumerate(tricky)}


def test_a_payload_given_as_utf8_bytes_is_stored_and_read_back_as_its_text(store: Store) -> None:
    texts = ['{"summary": "Grüße, naïve 🚨", "n": 1}', '{"summary": "ohne Kennung: ä"}']
    batch = [
        InboxEntry("u-1", content_hash(texts[0]), "jira:issue_created", "CB-1", texts[0].encode(), T0),
        InboxEntry(None, content_hash(texts[1]), "jira:issue_created", "CB-2", texts[1].encode(), T0),
    ]
    assert store.inbox_add_many(batch) == [True, True]
    assert sorted(e.payload for e in store.inbox_list()) == sorted(texts)
    with store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT payload FROM inbox ORDER BY id").scalars().all()
    if store.dialect == "postgresql":
        assert raw == texts  # text: PostgreSQL compresses large values itself
    else:
        # SQLite: an LZ4 frame of the UTF-8 bytes, whichever path wrote it (both rows of this batch
        # are written straight to the driver: one has no identifier).
        assert all(isinstance(value, bytes) and value.startswith(LZ4_FRAME_MAGIC) for value in raw)
        assert [lz4.frame.decompress(value).decode() for value in raw] == texts


def test_sqlite_keeps_a_jira_payload_within_one_page(tmp_path: Path) -> None:
    # The point of compressing: a 7.7 KB Jira payload would take a page and an overflow page.
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}")
    store.migrate()
    body = (FIXTURES / "cloud" / "jira_issue_updated.json").read_bytes()
    assert len(body) > 7000
    store.inbox_add_many([InboxEntry("p-1", "", "jira:issue_updated", "CB-1", body, T0)])
    with store.engine.connect() as conn:
        page_size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        stored = conn.exec_driver_sql("SELECT length(payload), typeof(payload) FROM inbox").one()
        try:
            pages = conn.exec_driver_sql("SELECT pagetype FROM dbstat WHERE name = 'inbox'").scalars().all()
        except sa.exc.OperationalError:
            pytest.skip("this SQLite library has no dbstat table to count pages with")
    assert tuple(stored) == (len(compress_payload(body)), "blob")
    assert stored[0] < page_size < len(body)
    assert pages == ["leaf"]  # no overflow page
    assert [e.payload for e in store.inbox_list()] == [body.decode()]


def test_sqlite_reads_payloads_stored_as_text_before_compression(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}")
    store.migrate()
    store.inbox_add(entry("new", delivery_id="d-new"))
    with store.engine.begin() as conn:  # a row as earlier versions wrote it: the body as text
        conn.exec_driver_sql(
            "INSERT INTO inbox (delivery_id, content_hash, event_type, issue_key, flavor, payload, "
            "received_at, state, attempts, next_attempt_at, updated_at) VALUES ('d-old', '', "
            "'jira:issue_created', 'CB-1', 'cloud', '{\"old\": \"Grüße\"}', '2026-11-24 09:00:00.000000', "
            "'pending', 0, '2026-11-24 09:00:00.000000', '2026-11-24 09:00:00.000000')"
        )
    stored = {e.delivery_id: e.payload for e in store.inbox_list()}
    assert stored == {"d-new": "new", "d-old": '{"old": "Grüße"}'}


def test_an_unreadable_stored_payload_is_named_not_raised() -> None:
    assert payload_text(compress_payload("{}")) == "{}"
    damaged = LZ4_FRAME_MAGIC + b"\x00" * 12
    shown = payload_text(damaged)
    assert shown.startswith("<unreadable payload: 16 bytes")


def test_an_in_memory_store_takes_payload_bytes_too() -> None:
    store = Store("sqlite://")
    store.migrate()
    body = '{"summary": "Grüße"}'
    assert store.inbox_add(
        InboxEntry("m-1", content_hash(body), "jira:issue_created", "CB-1", body.encode(), T0)
    )
    assert [e.payload for e in store.inbox_list()] == [body]
    # Written through SQLAlchemy (no file, no inbox connection of its own): compressed all the same.
    with store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT payload FROM inbox").scalar_one()
    assert lz4.frame.decompress(raw).decode() == body


def test_add_many_flags_duplicates_inside_the_batch(store: Store) -> None:
    store.inbox_add(entry("old", delivery_id="d-0"))
    flags = store.inbox_add_many(
        [
            entry("x", delivery_id="d-1"),
            entry("x again", delivery_id="d-1"),
            entry("body"),
            entry("body"),
            entry("retry of old", delivery_id="d-0"),
            entry("y", delivery_id="d-2"),
        ]
    )
    assert flags == [True, False, True, False, False, True]
    assert store.inbox_depth()["pending"] == 4


def test_an_identified_batch_flags_identifiers_already_stored(store: Store) -> None:
    # Every delivery has an identifier (as from Jira Cloud): on SQLite one INSERT that skips known ids.
    assert store.inbox_add_many([entry("a", delivery_id="d-1"), entry("b", delivery_id="d-3")]) == [
        True,
        True,
    ]
    flags = store.inbox_add_many(
        [
            entry("new", delivery_id="d-2"),
            entry("retry", delivery_id="d-1"),
            entry("new again", delivery_id="d-2"),
            entry("another", delivery_id="d-4"),
            entry("retry", delivery_id="d-3"),
        ]
    )
    assert flags == [True, False, False, True, False]
    assert sorted(e.delivery_id for e in store.inbox_list()) == ["d-1", "d-2", "d-3", "d-4"]
    assert [e.payload for e in store.inbox_list() if e.delivery_id == "d-2"] == ["new"]


def test_an_identified_batch_of_only_known_identifiers_stores_nothing(store: Store) -> None:
    store.inbox_add_many([entry(str(i), delivery_id=f"d-{i}") for i in range(3)])
    assert store.inbox_add_many([entry("again", delivery_id=f"d-{i}") for i in range(3)]) == [False] * 3
    assert store.inbox_depth()["pending"] == 3


def test_a_large_identified_batch_with_known_identifiers_is_flagged_row_by_row(store: Store) -> None:
    store.inbox_add_many([entry(f"old {i}", delivery_id=f"d-{i}") for i in range(0, 600, 7)])
    batch = [entry(f"body {i}", delivery_id=f"d-{i}") for i in range(600)]
    flags = store.inbox_add_many(batch)
    assert flags == [i % 7 != 0 for i in range(600)]
    assert store.inbox_depth()["pending"] == 600


def test_instances_adding_the_same_deliveries_at_once_store_each_once(
    open_store: Callable[[], Store], store: Store
) -> None:
    # Four instances receive the same retried deliveries at the same moment: with identifiers, and
    # bodies without one (as Data Center sends them).
    stores = [open_store() for _ in range(4)]

    def add(i: int) -> list[bool]:
        batch = [entry(f"body {n}", delivery_id=f"d-{n}") for n in range(20)]
        batch += [entry(f"no id {n}") for n in range(5)]
        return stores[i].inbox_add_many(batch)

    flags = run_together(4, add)

    assert store.inbox_depth()["pending"] == 25
    for position in range(25):  # each delivery was new to exactly one instance
        assert sum(result[position] for result in flags) == 1  # type: ignore[index]


def test_add_many_stores_all_or_nothing(store: Store) -> None:
    naive = InboxEntry(
        None, content_hash("n"), "jira:issue_created", "CB-1", "n", datetime(2026, 11, 24, 9, 0)
    )
    with pytest.raises(ValueError):
        store.inbox_add_many([entry("a"), entry("b"), naive])
    assert store.inbox_list() == []


def test_an_added_event_keeps_everything_that_was_received(store: Store) -> None:
    store.inbox_add(
        InboxEntry("d-9", content_hash("{}"), "comment_created", None, "{}", T0, flavor="datacenter")
    )
    (event,) = store.inbox_list()
    assert event.entry == InboxEntry(
        "d-9", content_hash("{}"), "comment_created", None, "{}", T0, "datacenter"
    )
    assert (event.state, event.attempts, event.error, event.next_attempt_at) == ("pending", 0, None, T0)
    assert event.received_at.tzinfo is not None


def test_claim_hands_out_due_events_oldest_first(store: Store) -> None:
    store.inbox_add_many([entry(str(i)) for i in range(5)])
    claimed = store.inbox_claim("w1", limit=3)
    assert [e.payload for e in claimed] == ["0", "1", "2"]
    assert {e.state for e in claimed} == {"processing"}
    assert {e.holder for e in claimed} == {"w1"}
    assert [e.payload for e in store.inbox_claim("w2", limit=10)] == ["3", "4"]
    assert store.inbox_claim("w3") == []


def test_two_workers_claiming_at_once_never_share_an_event(
    open_store: Callable[[], Store], store: Store
) -> None:
    store.inbox_add_many([entry(f"event {i}") for i in range(60)])
    workers = [open_store() for _ in range(4)]

    def drain(i: int) -> list[int]:
        got: list[int] = []
        while batch := workers[i].inbox_claim(f"worker-{i}", limit=3):
            got.extend(e.id for e in batch)
        return got

    results = run_together(4, drain)
    claimed = [event_id for got in results for event_id in got]  # type: ignore[attr-defined]
    assert len(claimed) == 60
    assert len(set(claimed)) == 60


def test_an_event_is_not_claimed_again_while_its_lease_runs(store: Store, clock: ManualClock) -> None:
    store.inbox_add(entry())
    store.inbox_claim("w1", lease=timedelta(seconds=60))
    clock.advance(timedelta(seconds=59))
    assert store.inbox_claim("w2") == []


def test_an_event_whose_lease_expired_is_claimed_by_another_worker(store: Store, clock: ManualClock) -> None:
    store.inbox_add(entry())
    (first,) = store.inbox_claim("w1", lease=timedelta(seconds=60))
    clock.advance(timedelta(seconds=61))
    (second,) = store.inbox_claim("w2")
    assert second.id == first.id
    assert second.holder == "w2"


def test_a_lease_that_ran_out_counts_as_an_attempt(store: Store, clock: ManualClock) -> None:
    store.inbox_add(entry())
    store.inbox_claim("w1", lease=timedelta(seconds=60))
    clock.advance(timedelta(seconds=61))
    (event,) = store.inbox_claim("w2")
    assert event.attempts == 1
    assert event.error == "lease of worker w1 ran out before it finished"


def test_retry_counts_the_attempt_and_waits_until_the_given_time(store: Store, clock: ManualClock) -> None:
    store.inbox_add(entry())
    (event,) = store.inbox_claim("w1")
    store.inbox_retry(event.id, "Jira unavailable", T0 + timedelta(minutes=5))
    retried = store.inbox_get(event.id)
    assert retried is not None
    assert (retried.state, retried.attempts, retried.error) == ("pending", 1, "Jira unavailable")
    assert retried.next_attempt_at == T0 + timedelta(minutes=5)
    assert store.inbox_claim("w1") == []
    clock.advance(timedelta(minutes=5))
    assert [e.id for e in store.inbox_claim("w1")] == [event.id]


def test_done_events_are_not_claimed_again(store: Store, clock: ManualClock) -> None:
    store.inbox_add(entry())
    (event,) = store.inbox_claim("w1")
    store.inbox_done(event.id)
    clock.advance(timedelta(hours=1))
    assert store.inbox_claim("w1") == []
    assert store.inbox_depth()["done"] == 1


def test_a_dead_event_stays_dead_until_replayed(store: Store, clock: ManualClock) -> None:
    store.inbox_add(entry())
    (event,) = store.inbox_claim("w1")
    store.inbox_retry(event.id, "first", T0)
    store.inbox_claim("w1")
    store.inbox_dead(event.id, "payload has no issue")
    clock.advance(timedelta(days=1))
    assert store.inbox_claim("w1") == []
    dead = store.inbox_list("dead")
    assert [(e.id, e.attempts, e.error) for e in dead] == [(event.id, 2, "payload has no issue")]

    store.inbox_replay(event.id)
    replayed = store.inbox_get(event.id)
    assert replayed is not None
    assert (replayed.state, replayed.attempts, replayed.error) == ("pending", 0, None)
    assert [e.id for e in store.inbox_claim("w1")] == [event.id]


def test_only_dead_or_done_events_can_be_replayed(store: Store) -> None:
    store.inbox_add(entry())
    (event,) = store.inbox_list()
    with pytest.raises(StoreError, match="only dead or done"):
        store.inbox_replay(event.id)


def test_unknown_inbox_events_are_reported(store: Store) -> None:
    assert store.inbox_get(999) is None
    with pytest.raises(UnknownEntry):
        store.inbox_done(999)
    with pytest.raises(UnknownEntry):
        store.inbox_replay(999)


def test_depth_counts_every_state(store: Store) -> None:
    store.inbox_add_many([entry(str(i)) for i in range(4)])
    a, b, _ = store.inbox_claim("w1", limit=3)
    store.inbox_done(a.id)
    store.inbox_dead(b.id, "bad")
    assert store.inbox_depth() == {"pending": 1, "processing": 1, "done": 1, "dead": 1}


def test_list_shows_newest_first_and_filters_by_state(store: Store) -> None:
    store.inbox_add_many([entry(str(i)) for i in range(3)])
    assert [e.payload for e in store.inbox_list()] == ["2", "1", "0"]
    assert [e.payload for e in store.inbox_list(limit=1)] == ["2"]
    assert store.inbox_list("dead") == []


def test_purge_removes_only_old_done_events(store: Store) -> None:
    store.inbox_add_many([entry("old"), entry("new", at=T0 + timedelta(days=2))])
    for event in store.inbox_claim("w1"):
        store.inbox_done(event.id)
    assert store.inbox_purge(T0 + timedelta(days=1)) == 1
    assert [e.payload for e in store.inbox_list()] == ["new"]


def test_purge_goes_in_chunks_and_keeps_pending_and_dead_events(store: Store) -> None:
    store.inbox_add_many([entry(f"done {n}", delivery_id=f"d-{n}") for n in range(7)])
    for event in store.inbox_claim("w1", limit=10):
        store.inbox_done(event.id)
    store.inbox_add_many([entry("dead", delivery_id="x-1"), entry("pending", delivery_id="x-2")])
    dead = store.inbox_claim("w1", limit=1)[0]
    store.inbox_dead(dead.id, "Jira refused it")

    assert store.inbox_purge(T0 + timedelta(days=1), chunk=3) == 7  # three chunks: 3, 3, 1

    assert sorted(e.payload for e in store.inbox_list()) == ["dead", "pending"]
    assert store.inbox_purge(T0 + timedelta(days=1), chunk=3) == 0
    # Once its row is gone, a delivery id is no longer known.
    assert store.inbox_add(entry("done 0 again", delivery_id="d-0")) is True


# --- ledger ---


def test_the_first_claim_of_a_key_owns_it(store: Store) -> None:
    assert store.ledger_claim(comment(), "h1") is True
    got = store.ledger_get("CB-1:ack")
    assert got is not None
    assert (got.state, got.attempts, got.holder, got.ticket, got.rule, got.kind) == (
        "pending",
        1,
        "h1",
        "CB-1",
        "acknowledge",
        "comment",
    )
    assert got.claimed_at == T0


def test_a_pending_key_is_not_claimed_again(store: Store) -> None:
    store.ledger_claim(comment(), "h1")
    assert store.ledger_claim(comment(), "h2") is False
    assert store.ledger_claim(comment(), "h1") is False


def test_a_done_key_is_never_claimed_again(store: Store, clock: ManualClock) -> None:
    store.ledger_claim(comment(), "h1")
    store.ledger_done("CB-1:ack")
    clock.advance(timedelta(days=30))
    assert store.ledger_claim(comment(), "h2") is False
    got = store.ledger_get("CB-1:ack")
    assert got is not None
    assert (got.state, got.done_at) == ("done", T0)


def test_connections_racing_for_one_key_have_exactly_one_winner(
    open_store: Callable[[], Store], store: Store
) -> None:
    stores = [open_store() for _ in range(6)]
    results = run_together(6, lambda i: stores[i].ledger_claim(comment(), f"holder-{i}"))
    assert results.count(True) == 1
    got = store.ledger_get("CB-1:ack")
    assert got is not None
    assert got.holder == f"holder-{results.index(True)}"


def test_a_failed_key_is_claimed_again_only_from_its_retry_time(store: Store, clock: ManualClock) -> None:
    store.ledger_claim(comment(), "h1")
    store.ledger_failed("CB-1:ack", "Jira answered 503", T0 + timedelta(minutes=2))
    assert store.ledger_claim(comment(), "h2") is False
    clock.advance(timedelta(minutes=2))
    assert store.ledger_claim(comment(), "h2") is True
    got = store.ledger_get("CB-1:ack")
    assert got is not None
    assert (got.state, got.attempts, got.holder, got.retry_at) == ("pending", 2, "h2", None)


def test_racing_retries_of_a_failed_key_have_exactly_one_winner(
    open_store: Callable[[], Store], store: Store, clock: ManualClock
) -> None:
    store.ledger_claim(comment(), "h0")
    store.ledger_failed("CB-1:ack", "timeout", T0)
    stores = [open_store() for _ in range(4)]
    results = run_together(4, lambda i: stores[i].ledger_claim(comment(), f"holder-{i}"))
    assert results.count(True) == 1


def test_a_key_given_up_is_never_claimed_again(store: Store, clock: ManualClock) -> None:
    store.ledger_claim(comment(), "h1")
    store.ledger_failed("CB-1:ack", "field does not exist", None)
    clock.advance(timedelta(days=1))
    assert store.ledger_claim(comment(), "h1") is False
    got = store.ledger_get("CB-1:ack")
    assert got is not None
    assert (got.state, got.error) == ("failed", "field does not exist")


def test_pending_lists_only_claims_older_than_the_cutoff(store: Store, clock: ManualClock) -> None:
    store.ledger_claim(comment("CB-1:old"), "h1")
    store.ledger_claim(comment("CB-1:finished"), "h1")
    store.ledger_done("CB-1:finished")
    clock.advance(timedelta(minutes=30))
    store.ledger_claim(comment("CB-1:new"), "h1")
    assert [e.key for e in store.ledger_pending(T0 + timedelta(minutes=10))] == ["CB-1:old"]


def test_done_keys_are_those_done_on_that_ticket(store: Store) -> None:
    for key, ticket in [("CB-1:a", "CB-1"), ("CB-1:b", "CB-1"), ("CB-2:a", "CB-2")]:
        store.ledger_claim(comment(key, ticket), "h1")
        store.ledger_done(key)
    store.ledger_claim(comment("CB-1:c"), "h1")
    assert store.ledger_done_keys("CB-1") == frozenset({"CB-1:a", "CB-1:b"})
    assert [e.key for e in store.ledger_entries("CB-2")] == ["CB-2:a"]
    assert len(store.ledger_entries()) == 4


def test_the_ledger_gives_back_the_action_it_was_given(store: Store) -> None:
    tier = MoveToTier(
        key="CB-1:tier:Development",
        ticket="CB-1",
        rule="se-to-dev",
        reason="2 working days in Systems Engineering",
        at=T0,
        to="Development",
        effects=(
            SetField(
                key="CB-1:tier:Development",
                ticket="CB-1",
                rule="se-to-dev",
                reason="x",
                at=T0,
                field="Team",
                value="Dev",
            ),
        ),
    )
    store.ledger_claim(tier, "h1")
    got = store.ledger_get(tier.key)
    assert got is not None
    assert got.to_action().to_dict() == tier.to_dict()


def test_ledger_updates_of_unknown_keys_are_reported(store: Store) -> None:
    with pytest.raises(UnknownEntry):
        store.ledger_done("nope")
    assert store.ledger_get("nope") is None


def test_next_retry_is_the_earliest_owed_retry_of_the_ticket(store: Store) -> None:
    for key in ("CB-1:a", "CB-1:b", "CB-1:c"):
        store.ledger_claim(comment(key), "h1")
    store.ledger_failed("CB-1:a", "x", T0 + timedelta(minutes=8))
    store.ledger_failed("CB-1:b", "x", T0 + timedelta(minutes=4))
    store.ledger_failed("CB-1:c", "x", None)
    assert store.ledger_next_retry("CB-1") == T0 + timedelta(minutes=4)
    assert store.ledger_next_retry("CB-2") is None


# --- ticket cache ---


def test_cache_due_lists_tickets_whose_time_has_come(store: Store) -> None:
    store.cache_put("CB-1", "capital-bytes", T0 + timedelta(hours=1), {"status": "Open"})
    store.cache_put("CB-2", "capital-bytes", T0 + timedelta(hours=3), None)
    store.cache_put("CB-3", "capital-bytes", None, None)
    store.cache_put("CB-4", "other", T0 - timedelta(minutes=1), None)
    assert store.cache_due(T0 + timedelta(hours=2)) == [("CB-4", "other"), ("CB-1", "capital-bytes")]
    assert store.earliest_due() == T0 - timedelta(minutes=1)


def test_cache_put_replaces_the_previous_answer(store: Store) -> None:
    store.cache_put("CB-1", "p", T0, {"status": "Open"})
    store.cache_put("CB-1", "p", T0 + timedelta(days=1), {"status": "Resolved", "when": T0})
    assert store.cache_get("CB-1", "p") == (
        T0 + timedelta(days=1),
        {"status": "Resolved", "when": T0.isoformat()},
    )
    assert store.cache_due(T0 + timedelta(hours=1)) == []


def test_cache_forget_drops_the_ticket_under_every_policy(store: Store) -> None:
    store.cache_put("CB-1", "a", T0, None)
    store.cache_put("CB-1", "b", T0, None)
    store.cache_put("CB-2", "a", T0, None)
    store.cache_forget("CB-1")
    assert store.cache_due(T0) == [("CB-2", "a")]
    assert store.cache_get("CB-1", "a") is None


def test_cache_wake_brings_next_due_forward_but_never_back(store: Store) -> None:
    store.cache_put("CB-1", "a", T0 + timedelta(days=1), None)
    store.cache_put("CB-1", "b", None, None)
    store.cache_put("CB-2", "a", T0 - timedelta(hours=1), None)
    assert store.cache_wake("CB-1", T0) == 2
    assert store.cache_wake("CB-2", T0) == 0
    assert store.cache_due(T0) == [("CB-2", "a"), ("CB-1", "a"), ("CB-1", "b")]


def test_earliest_due_is_none_when_nothing_is_waiting(store: Store) -> None:
    assert store.earliest_due() is None


# --- leases and locks ---


def test_a_free_lease_is_acquired_and_then_refused_to_others(store: Store) -> None:
    assert store.acquire_lease("sweeper", "a", timedelta(seconds=30)) is True
    assert store.acquire_lease("sweeper", "b", timedelta(seconds=30)) is False
    holder = store.lease_holder("sweeper")
    assert holder is not None
    assert (holder.holder, holder.expires_at) == ("a", T0 + timedelta(seconds=30))


def test_the_holder_renews_its_lease(store: Store, clock: ManualClock) -> None:
    store.acquire_lease("sweeper", "a", timedelta(seconds=30))
    clock.advance(timedelta(seconds=20))
    assert store.acquire_lease("sweeper", "a", timedelta(seconds=30)) is True
    clock.advance(timedelta(seconds=20))
    assert store.acquire_lease("sweeper", "b", timedelta(seconds=30)) is False


def test_an_expired_lease_is_taken_over(store: Store, clock: ManualClock) -> None:
    store.acquire_lease("sweeper", "a", timedelta(seconds=30))
    clock.advance(timedelta(seconds=30))
    assert store.acquire_lease("sweeper", "b", timedelta(seconds=30)) is True
    assert store.acquire_lease("sweeper", "a", timedelta(seconds=30)) is False


def test_a_released_lease_is_free_and_only_its_holder_can_release_it(store: Store) -> None:
    store.acquire_lease("sweeper", "a", timedelta(seconds=30))
    store.release_lease("sweeper", "b")
    assert store.acquire_lease("sweeper", "b", timedelta(seconds=30)) is False
    store.release_lease("sweeper", "a")
    assert store.lease_holder("sweeper") is None
    assert store.acquire_lease("sweeper", "b", timedelta(seconds=30)) is True


def test_holders_racing_for_a_free_lease_have_exactly_one_winner(
    open_store: Callable[[], Store], store: Store
) -> None:
    stores = [open_store() for _ in range(4)]
    results = run_together(4, lambda i: stores[i].acquire_lease("sweeper", f"h{i}", timedelta(minutes=1)))
    assert results.count(True) == 1


def test_an_advisory_lock_is_held_by_one_at_a_time(open_store: Callable[[], Store], store: Store) -> None:
    other = open_store()
    with store.advisory_lock("sweep:capital-bytes") as first:
        assert first is True
        with other.advisory_lock("sweep:capital-bytes") as second:
            assert second is False
        with other.advisory_lock("sweep:another") as unrelated:
            assert unrelated is True
    with other.advisory_lock("sweep:capital-bytes") as after:
        assert after is True


# --- sweep runs ---


def test_sweep_runs_record_start_finish_and_counts(store: Store, clock: ManualClock) -> None:
    run_id = store.sweep_started("capital-bytes")
    clock.advance(timedelta(seconds=5))
    store.sweep_finished(run_id, tickets=12, actions=3)
    failed = store.sweep_started("capital-bytes")
    store.sweep_finished(failed, tickets=0, actions=0, error="Jira unavailable")
    newest, first = store.sweep_runs("capital-bytes")
    assert (first.started_at, first.finished_at, first.tickets, first.actions, first.error) == (
        T0,
        T0 + timedelta(seconds=5),
        12,
        3,
        None,
    )
    assert newest.error == "Jira unavailable"


# --- unavailable databases and configuration ---


def test_postgres_on_a_closed_port_is_unavailable() -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2")
    with pytest.raises(StoreUnavailable, match="unavailable"):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.inbox_add(entry())
    with pytest.raises(StoreUnavailable):
        store.inbox_add(entry(delivery_id="d-1"))  # the identified batch's own connection too


@pytest.mark.postgres
def test_a_lost_inbox_connection_on_postgresql_is_unavailable_once_then_replaced(tmp_path: Path) -> None:
    with backend_url("postgresql", tmp_path) as url:
        store = Store(url)
        store.migrate()
        assert store.inbox_add(entry("a", delivery_id="k-1")) is True
        backend = store._inbox_writer().info.backend_pid
        with store.engine.connect() as conn:  # the server ends that session, as a restart would
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

        with pytest.raises(StoreUnavailable, match="unavailable"):
            store.inbox_add(entry("b", delivery_id="k-2"))
        assert store.inbox_add(entry("b", delivery_id="k-2")) is True  # a new connection
        assert store.inbox_add(entry("a again", delivery_id="k-1")) is False
        assert store.inbox_depth()["pending"] == 2
        store.close()


def test_sqlite_in_a_folder_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = Store(f"sqlite:///{blocker / 'var' / 'store.db'}")
    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.migrate()


def test_store_unavailable_is_a_store_error() -> None:
    assert issubclass(StoreUnavailable, StoreError)


def test_the_default_database_is_var_jsm_bridge_db_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    store = Store()
    store.migrate()
    store.close()
    assert (tmp_path / "var" / "jsm-bridge.db").is_file()


def test_the_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql+psycopg://db.example/jsm")
    assert database_url() == "postgresql+psycopg://db.example/jsm"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    store.close()


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.cache_put("CB-1", "p", datetime(2026, 11, 24, 9, 0), None)


# --- the interface other parts code against ---

INTERFACE = {
    "__init__": ["self", "url", "clock", "dedupe_window", "synchronous", "autocheckpoint"],
    "migrate": ["self"],
    "ping": ["self"],
    "inbox_add": ["self", "entry"],
    "inbox_add_many": ["self", "entries"],
    "inbox_claim": ["self", "worker", "limit", "lease"],
    "inbox_done": ["self", "event_id", "holder"],
    "inbox_retry": ["self", "event_id", "error", "at", "holder"],
    "inbox_dead": ["self", "event_id", "error", "holder"],
    "inbox_list": ["self", "state", "limit"],
    "inbox_get": ["self", "event_id"],
    "inbox_replay": ["self", "event_id"],
    "inbox_depth": ["self"],
    "ledger_claim": ["self", "action", "holder"],
    "ledger_done": ["self", "key"],
    "ledger_failed": ["self", "key", "error", "retry_at"],
    "ledger_get": ["self", "key"],
    "ledger_pending": ["self", "older_than"],
    "ledger_done_keys": ["self", "ticket"],
    "ledger_entries": ["self", "ticket", "state", "limit"],
    "cache_put": ["self", "ticket", "policy", "next_due", "snapshot"],
    "cache_due": ["self", "now"],
    "earliest_due": ["self"],
    "cache_forget": ["self", "ticket"],
    "acquire_lease": ["self", "name", "holder", "ttl"],
    "release_lease": ["self", "name", "holder"],
    "advisory_lock": ["self", "name", "ttl"],
    "sweep_started": ["self", "policy"],
    "sweep_finished": ["self", "run_id", "tickets", "actions", "error"],
}


@pytest.mark.parametrize("method", sorted(INTERFACE))
def test_the_store_keeps_the_interface_the_receiver_and_sweeper_code_against(method: str) -> None:
    assert list(inspect.signature(getattr(Store, method)).parameters) == INTERFACE[method]


def test_inbox_entries_keep_their_field_names() -> None:
    names = [f.name for f in dataclasses.fields(InboxEntry)]
    assert names == [
        "delivery_id",
        "content_hash",
        "event_type",
        "issue_key",
        "payload",
        "received_at",
        "flavor",
    ]


def test_sqlite_commits_are_synced_to_disk_unless_normal_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def synchronous(store: Store) -> int:
        with store.engine.connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA synchronous").scalar())

    assert synchronous(Store(f"sqlite:///{tmp_path / 'a.db'}")) == 2  # FULL
    monkeypatch.setenv("JSM_BRIDGE_SQLITE_SYNCHRONOUS", "normal")
    assert synchronous(Store(f"sqlite:///{tmp_path / 'b.db'}")) == 1  # NORMAL
    assert synchronous(Store(f"sqlite:///{tmp_path / 'c.db'}", synchronous="FULL")) == 2


def test_an_unknown_synchronous_level_is_refused_naming_the_setting() -> None:
    with pytest.raises(StoreError, match="JSM_BRIDGE_SQLITE_SYNCHRONOUS='OFF'.*FULL"):
        Store("sqlite:///unused.db", synchronous="off")


def test_a_store_without_autocheckpoint_leaves_the_wal_to_wal_checkpoint(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}", autocheckpoint=False)
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    store.inbox_add(InboxEntry("d-1", content_hash("{}"), "jira:issue_created", "CB-1", "{}", T0))

    pages, copied = store.wal_checkpoint() or (0, -1)
    assert pages > 0 and copied == pages
    store.close()


def test_a_restarted_wal_is_written_again_from_its_start_over_the_blocks_it_has(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}", autocheckpoint=False)
    store.migrate()
    wal = tmp_path / "s.db-wal"

    def add(first: int) -> None:
        for n in range(first, first + 20):
            body = json.dumps({"n": n, "text": "x" * 3000})
            store.inbox_add(InboxEntry(f"d-{n}", content_hash(body), "jira:issue_created", "CB-1", body, T0))

    add(0)
    size = wal.stat().st_size
    pages, copied = store.wal_checkpoint(restart=True) or (0, -1)
    assert pages > 0 and copied == pages
    assert wal.stat().st_size == size  # not emptied: its blocks stay allocated
    add(20)
    assert wal.stat().st_size == size  # the same commits again, written over the same blocks
    assert len(store.inbox_list(limit=100)) == 40
    store.close()


def test_wal_checkpoint_has_nothing_to_do_without_a_wal() -> None:
    assert Store("sqlite://").wal_checkpoint() is None


def test_releasing_a_crashed_claim_never_overwrites_an_outcome_recorded_meanwhile(store: Store) -> None:
    action = AddComment(
        key="CB-1:ack", ticket="CB-1", rule="ack", reason="new", at=T0, body="Thanks", public=True
    )
    assert store.ledger_claim(action, "host-a")
    store.ledger_done(action.key)  # the holder was alive after all
    assert not store.ledger_release(action.key, "host-a", "claim left pending", T0)
    entry = store.ledger_get(action.key)
    assert entry is not None and entry.state == "done"


def test_a_pending_claim_is_released_for_retry_at_the_time_given(store: Store) -> None:
    action = AddComment(
        key="CB-1:ack", ticket="CB-1", rule="ack", reason="new", at=T0, body="Thanks", public=True
    )
    assert store.ledger_claim(action, "host-a")
    assert store.ledger_release(action.key, "host-a", "claim left pending", T0)
    entry = store.ledger_get(action.key)
    assert entry is not None and (entry.state, entry.retry_at) == ("failed", T0)


# --- the inbox acts only for the worker that holds the event ---


def _claimed_twice(store: Store, clock: ManualClock) -> int:
    """An event claimed by worker-a, whose lease ran out, then claimed by worker-b."""
    store.inbox_add(entry())
    (event,) = store.inbox_claim("worker-a", lease=timedelta(seconds=60))
    clock.advance(timedelta(seconds=61))
    (again,) = store.inbox_claim("worker-b", lease=timedelta(seconds=60))
    assert again.id == event.id
    return event.id


def test_a_worker_whose_lease_was_lost_cannot_mark_the_event_done(store: Store, clock: ManualClock) -> None:
    event_id = _claimed_twice(store, clock)
    assert store.inbox_done(event_id, holder="worker-a") is False
    event = store.inbox_get(event_id)
    assert event is not None and (event.state, event.holder) == ("processing", "worker-b")
    assert store.inbox_done(event_id, holder="worker-b") is True
    event = store.inbox_get(event_id)
    assert event is not None and event.state == "done"


def test_a_worker_whose_lease_was_lost_cannot_retry_or_bury_the_event(
    store: Store, clock: ManualClock
) -> None:
    event_id = _claimed_twice(store, clock)
    assert store.inbox_retry(event_id, "Jira unavailable", T0, holder="worker-a") is False
    assert store.inbox_dead(event_id, "gave up", holder="worker-a") is False
    event = store.inbox_get(event_id)
    assert event is not None and (event.state, event.holder) == ("processing", "worker-b")


def test_a_lost_lease_is_logged_as_not_acting(
    store: Store, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    event_id = _claimed_twice(store, clock)
    with caplog.at_level("INFO", logger="jsm_bridge.store"):
        store.inbox_done(event_id, holder="worker-a")
    assert any("not acting: lease lost" in r.getMessage() for r in caplog.records)


def test_a_worker_whose_lease_ran_out_unclaimed_still_finishes_its_event(
    store: Store, clock: ManualClock
) -> None:
    store.inbox_add(entry())
    (event,) = store.inbox_claim("worker-a", lease=timedelta(seconds=60))
    clock.advance(timedelta(seconds=61))  # slow, but nobody took the event over
    assert store.inbox_done(event.id, holder="worker-a") is True


def test_an_operator_retry_makes_a_given_up_action_claimable_again(store: Store) -> None:
    action = AddComment(
        key="CB-1:ack", ticket="CB-1", rule="ack", reason="new", at=T0, body="Thanks", public=True
    )
    assert store.ledger_claim(action, "host-a")
    store.ledger_failed(action.key, "BadRequest: comment too long", None)
    assert not store.ledger_claim(action, "host-b")  # given up
    entry = store.ledger_retry(action.key)
    assert (entry.state, entry.attempts, entry.retry_at) == ("failed", 0, T0)
    assert store.ledger_claim(action, "host-b")
