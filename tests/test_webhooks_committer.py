"""The group committer: deliveries that arrive during a commit are written together in the next one."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from webhooks.committer import CommitTimeout, GroupCommitter


class SlowWriter:
    """An inbox whose transactions take `delay` seconds; records each batch it was given."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.batches: list[list[Any]] = []
        self.gate: threading.Event | None = None
        self.fail: Exception | None = None

    def inbox_add_many(self, entries: Sequence[Any]) -> list[bool]:
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.delay)
        self.batches.append(list(entries))
        if self.fail is not None:
            raise self.fail
        return [not str(e).startswith("dup") for e in entries]


def add_concurrently(committer: GroupCommitter, entries: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}

    def add(entry: str) -> None:
        try:
            results[entry] = committer.add(entry)
        except Exception as exc:
            results[entry] = exc

    threads = [threading.Thread(target=add, args=(e,)) for e in entries]
    for t in threads:
        t.start()
        time.sleep(0.002)
    for t in threads:
        t.join(10)
    return results


def test_a_lone_delivery_is_committed_at_once_by_its_own_request() -> None:
    writer = SlowWriter(0)
    committer = GroupCommitter(writer)

    assert committer.add("a") is True
    assert committer.add("dup-a") is False
    assert writer.batches == [["a"], ["dup-a"]]


def test_deliveries_arriving_during_a_commit_are_written_together_in_the_next_batch() -> None:
    writer = SlowWriter(0.05)
    committer = GroupCommitter(writer)
    entries = [f"e{i}" for i in range(12)]
    results = add_concurrently(committer, entries)

    assert results == {e: True for e in entries}
    assert sorted(e for batch in writer.batches for e in batch) == sorted(entries)
    assert len(writer.batches) < len(entries)  # some waited and were committed together
    assert committer.batches == len(writer.batches)


def test_a_failed_transaction_fails_every_request_in_its_batch_and_the_next_batch_still_runs() -> None:
    writer = SlowWriter(0.02)
    writer.fail = RuntimeError("database is locked")
    committer = GroupCommitter(writer)
    first = add_concurrently(committer, ["a", "b", "c"])
    writer.fail = None

    assert all(isinstance(r, RuntimeError) for r in first.values())
    assert committer.add("d") is True


def test_a_request_whose_batch_has_not_started_in_time_gets_a_timeout_and_is_never_written() -> None:
    writer = SlowWriter(0)
    writer.gate = threading.Event()
    committer = GroupCommitter(writer, timeout=0.2)
    leader = threading.Thread(target=committer.add, args=("slow",))
    leader.start()
    time.sleep(0.05)

    with pytest.raises(CommitTimeout):
        committer.add("waiting")
    writer.gate.set()
    leader.join(5)

    assert [e for batch in writer.batches for e in batch] == ["slow"]
    assert committer.add("after") is True  # the committer is not stuck


def test_batches_never_exceed_the_largest_batch() -> None:
    writer = SlowWriter(0.03)
    committer = GroupCommitter(writer, max_batch=3)
    add_concurrently(committer, [f"e{i}" for i in range(10)])

    assert max(len(batch) for batch in writer.batches) <= 3
    assert sum(len(batch) for batch in writer.batches) == 10


def test_a_waiting_request_is_woken_once_its_batch_is_done_and_not_before() -> None:
    from webhooks.committer import _Signal

    signal = _Signal()
    assert signal.wait(0.01) is False and not signal.is_set()
    threading.Timer(0.02, signal.set).start()

    assert signal.wait(5) is True
    signal.set()  # set again (a leader's own slot is set twice): harmless
    assert signal.wait(0) is True and signal.is_set()


def test_a_commit_lock_that_cannot_be_opened_fails_the_batch_and_is_not_left_held(tmp_path: Path) -> None:
    writer = SlowWriter(0)
    committer = GroupCommitter(writer, lock_path=str(tmp_path / "missing-folder" / "inbox.db.commit-lock"))

    with pytest.raises(FileNotFoundError):
        committer.add("a")
    (tmp_path / "missing-folder").mkdir()
    assert committer.add("b") is True  # neither the thread lock nor the committer is stuck
