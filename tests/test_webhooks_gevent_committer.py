"""The gevent committer: requests are greenlets; those waiting together are written in one batch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest

from jsm_bridge.store import InboxEntry, Store, StoreUnavailable, content_hash
from webhooks.committer import CommitTimeout, GeventCommitter


class GreenWriter:
    """An inbox whose transactions take `delay` seconds without blocking other greenlets."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[Any]] = []
        self.gate: gevent.event.Event | None = None
        self.fail: Exception | None = None

    def inbox_add_many(self, entries: Sequence[Any]) -> list[bool]:
        self.batches.append(list(entries))
        if self.gate is not None:
            self.gate.wait(10)
        gevent.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return [not str(e).startswith("dup") for e in entries]


def add_all(committer: GeventCommitter, entries: list[str], spacing: float = 0.0) -> dict[str, Any]:
    results: dict[str, Any] = {}

    def add(entry: str) -> None:
        try:
            results[entry] = committer.add(entry)
        except Exception as exc:
            results[entry] = exc

    greenlets = []
    for entry in entries:
        greenlets.append(gevent.spawn(add, entry))
        if spacing:
            gevent.sleep(spacing)
    gevent.joinall(greenlets, timeout=10)
    return results


def test_requests_that_wait_together_are_written_in_one_batch() -> None:
    writer = GreenWriter()
    committer = GeventCommitter(writer)

    results = add_all(committer, ["a", "dup-b", "c", "d"])

    assert results == {"a": True, "dup-b": False, "c": True, "d": True}
    assert writer.batches == [["a", "dup-b", "c", "d"]]
    assert (committer.batches, committer.entries) == (1, 4)
    committer.close()


def test_requests_arriving_during_a_commit_go_into_the_next_batch() -> None:
    writer = GreenWriter(delay=0.05)
    committer = GeventCommitter(writer)

    results = add_all(committer, ["a", "b", "c"], spacing=0.01)

    assert results == {"a": True, "b": True, "c": True}
    assert writer.batches == [["a"], ["b", "c"]]
    committer.close()


def test_a_failed_transaction_fails_its_whole_batch_and_the_next_batch_still_runs() -> None:
    writer = GreenWriter()
    writer.fail = StoreUnavailable("database is locked")
    committer = GeventCommitter(writer)

    failed = add_all(committer, ["a", "b"])
    writer.fail = None
    after = add_all(committer, ["c"])

    assert all(isinstance(r, StoreUnavailable) for r in failed.values()) and len(failed) == 2
    assert after == {"c": True}
    committer.close()


def test_a_request_whose_batch_has_not_started_in_time_times_out_and_is_never_written() -> None:
    writer = GreenWriter()
    writer.gate = gevent.event.Event()
    committer = GeventCommitter(writer, timeout=0.2)

    first = gevent.spawn(committer.add, "a")
    gevent.sleep(0.01)  # "a" is being written, held at the gate
    with pytest.raises(CommitTimeout):
        committer.add("b")
    # "a" timed out too, but its batch had started: its outcome is unknown, and Jira's retry of it
    # would be acknowledged as a duplicate should it commit.
    with pytest.raises(CommitTimeout):
        first.get(timeout=5)
    writer.gate.set()
    assert committer.add("c") is True

    assert writer.batches == [["a"], ["c"]]  # "b" was withdrawn before its batch started
    committer.close()


def test_the_timeout_counts_from_a_batchs_first_request_and_later_arrivals_start_a_new_batch() -> None:
    writer = GreenWriter()
    writer.gate = gevent.event.Event()
    committer = GeventCommitter(writer, timeout=0.3)
    first = gevent.spawn(committer.add, "a")  # written at once, then held at the gate
    gevent.sleep(0.01)
    b = gevent.spawn(committer.add, "b")  # opens the next batch: its 0.3 s start now
    gevent.sleep(0.2)
    c = gevent.spawn(committer.add, "c")  # joins that batch 0.2 s in
    started = time.monotonic()
    with pytest.raises(CommitTimeout):
        c.get(timeout=5)
    waited = time.monotonic() - started
    with pytest.raises(CommitTimeout):
        b.get(timeout=5)
    d = gevent.spawn(committer.add, "d")  # after the expiry: a batch of its own
    gevent.sleep(0.01)
    writer.gate.set()

    assert d.get(timeout=5) is True
    assert waited < 0.25  # the batch's time, not 0.3 s of its own
    with pytest.raises(CommitTimeout):
        first.get(timeout=5)
    assert writer.batches == [["a"], ["d"]]  # "b" and "c" were withdrawn before their batch started
    committer.close()


def test_a_finished_batchs_timer_never_touches_the_batches_after_it() -> None:
    writer = GreenWriter()
    committer = GeventCommitter(writer, timeout=0.1)
    assert committer.add("a") is True  # its timer would have run out at 0.1 s
    writer.gate = gevent.event.Event()
    gevent.sleep(0.05)
    b = gevent.spawn(committer.add, "b")  # written, held at the gate past a's deadline
    gevent.sleep(0.08)

    assert not b.ready()
    writer.gate.set()
    assert b.get(timeout=5) is True
    committer.close()


def test_concurrent_deliveries_reach_a_sqlite_inbox_once_each(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    store = Store(url)
    store.migrate()
    committer = GeventCommitter(store, lock_path=str(tmp_path / "inbox.db.commit-lock"))
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def entry(n: int) -> InboxEntry:
        body = f'{{"n": {n}}}'
        return InboxEntry(f"d-{n % 40}", content_hash(body), "jira:issue_updated", "SUP-1", body, now)

    results: list[bool] = []
    gevent.joinall([gevent.spawn(lambda n=n: results.append(committer.add(entry(n)))) for n in range(60)])

    assert results.count(True) == 40 and results.count(False) == 20
    assert sorted(e.delivery_id for e in store.inbox_list()) == sorted(f"d-{n}" for n in range(40))
    assert committer.batches < 60
    committer.close()
    store.close()


def test_a_commit_lock_that_cannot_be_opened_fails_the_batch_and_the_committer_goes_on(
    tmp_path: Path,
) -> None:
    writer = GreenWriter()
    committer = GeventCommitter(writer, lock_path=str(tmp_path / "missing-folder" / "inbox.db.commit-lock"))

    with pytest.raises(FileNotFoundError):
        committer.add("a")
    (tmp_path / "missing-folder").mkdir()
    assert committer.add("b") is True
    assert writer.batches == [["b"]]
    committer.close()


def test_a_process_waiting_for_the_others_commit_lock_lets_its_batch_grow(tmp_path: Path) -> None:
    import fcntl
    import os

    lock_path = tmp_path / "inbox.db.commit-lock"
    other = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # another server process, committing
    fcntl.flock(other, fcntl.LOCK_EX)
    writer = GreenWriter()
    committer = GeventCommitter(writer, lock_path=str(lock_path))

    first = gevent.spawn(committer.add, "a")
    gevent.sleep(0.02)  # the committer polls the lock; the requests go on meanwhile
    later = [gevent.spawn(committer.add, name) for name in ("b", "c")]
    gevent.sleep(0.02)
    assert writer.batches == []
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)

    assert [g.get(timeout=5) for g in (first, *later)] == [True, True, True]
    assert writer.batches == [["a", "b", "c"]]
    committer.close()
