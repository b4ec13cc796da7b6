"""Group commit for the inbox: deliveries that arrive together are written in one transaction, and each
request waits for its own batch to be committed before answering 202.

Leader/follower, with no thread of its own: a request that finds no commit running commits what is
pending itself (at low load, just its own delivery, with no hand-off between threads). Requests that
arrive meanwhile queue up; when the commit ends, the first of them becomes the next leader and
commits the whole queue at once. So a durable write costs one transaction per batch, and a batch
grows exactly as fast as the database is slow."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger("jsm_bridge.webhooks.committer")


class InboxWriter(Protocol):
    def inbox_add_many(self, entries: Sequence[Any]) -> list[bool]: ...


class CommitTimeout(Exception):
    """The batch holding a delivery was not committed in time: the request answers 503 so Jira retries
    (if the batch commits after all, the retry is acknowledged as a duplicate)."""


class _Signal:
    """A one-shot wake-up: a lock held from creation and released by `set()`.

    threading.Event wraps a Condition (a lock, a list of waiters, a lock per waiter): a leader setting
    one per request in its batch spent a quarter of its process's Python time in Event.set (profiled
    under load, docs/webhooks.md). Releasing one lock that one waiter blocks on is a single C call."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        # Called by one thread at a time (the leader of the batch, or the one handing over leadership).
        if not self._set:
            self._set = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        if self._lock.acquire(timeout=timeout):
            self._lock.release()  # later waits return at once, as with an Event
            return True
        return self._set


class _Slot:
    """One delivery waiting: its result (True stored, False already seen) or error, or a call to lead."""

    __slots__ = ("entry", "done", "stored", "error", "lead")

    def __init__(self, entry: Any) -> None:
        self.entry = entry
        self.done = _Signal()
        self.stored = False
        self.error: Exception | None = None
        self.lead = False


class _FileLock:
    """An exclusive flock on a file: server processes sharing one SQLite file take turns committing.

    SQLite's own busy handler polls with sleeps of up to 100 ms when a writer finds the database
    locked; waiting on a kernel lock instead wakes the next committer as soon as the lock is free,
    and lets its batch grow meanwhile."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None
        self._pid: int | None = None
        # flock is held by an open file, not a thread: threads of one process exclude each other here.
        self._threads = threading.Lock()

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._fd is None or self._pid != os.getpid():  # flock is per open file: a child opens its own
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


class GroupCommitter:
    """Batches concurrent `add(entry)` calls into `store.inbox_add_many`. Thread-safe."""

    def __init__(
        self,
        store: InboxWriter,
        *,
        max_batch: int = 256,
        timeout: float = 10.0,
        lock_path: str | None = None,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._timeout = timeout
        self._file_lock = _FileLock(lock_path) if lock_path else None
        # What must hold off commits for a moment (the WAL checkpointer's last pass); None without a file.
        self.commit_lock: _FileLock | None = self._file_lock
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._busy = False
        self.batches = 0
        self.entries = 0

    def add(self, entry: Any) -> bool:
        """Store one inbox entry durably; True when it is new, False when the store had already seen it.
        Raises what the store raised for its batch (StoreError), or CommitTimeout."""
        slot = _Slot(entry)
        with self._lock:
            self._pending.append(slot)
            lead = not self._busy
            if lead:
                self._busy = True
        if not lead and not self._follow(slot):
            return self._result(slot)
        self._lead()
        return self._result(slot)

    def _follow(self, slot: _Slot) -> bool:
        """Wait for the batch holding `slot`; True when this request is called to lead the next one."""
        if not slot.done.wait(self._timeout):
            with self._lock:
                if slot.done.is_set():
                    return slot.lead
                if not slot.lead and slot in self._pending:
                    self._pending.remove(slot)  # never written: safe to refuse, Jira will retry
                    raise CommitTimeout(f"inbox commit took longer than {self._timeout:g}s")
            if not slot.lead:
                # Already in a transaction that is still running: its outcome is unknown, so refuse;
                # should it commit, Jira's retry is acknowledged as a duplicate.
                raise CommitTimeout(f"inbox commit took longer than {self._timeout:g}s")
        return slot.lead

    def _lead(self) -> None:
        """Commit the pending batch, then hand leadership to the first request that queued meanwhile."""
        with self._lock:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                if self._pending:
                    successor = self._pending[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._busy = False

    @staticmethod
    def _result(slot: _Slot) -> bool:
        if slot.error is not None:
            raise slot.error
        return slot.stored

    def _commit(self, batch: list[_Slot]) -> None:
        # The store dedupes within the batch too, so a retry racing its original is stored once.
        try:
            if self._file_lock is not None:
                with self._file_lock:
                    results = self._store.inbox_add_many([slot.entry for slot in batch])
            else:
                results = self._store.inbox_add_many([slot.entry for slot in batch])
        except Exception as exc:  # the whole transaction failed: every request in it answers 503 (or 500)
            log.warning("inbox_commit_failed batch=%d error=%s", len(batch), type(exc).__name__)
            for slot in batch:
                slot.error = exc
                slot.done.set()
            return
        self.batches += 1
        self.entries += len(batch)
        for slot, stored in zip(batch, results, strict=True):
            slot.stored = bool(stored)
            slot.done.set()
