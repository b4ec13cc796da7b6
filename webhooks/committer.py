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
import sys
import threading
from collections.abc import Callable, Sequence
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

    def __init__(self, path: str, wait: Callable[[], object] | None = None) -> None:
        """`wait`: called between attempts that do not block (a greenlet's short sleep, so that the
        other requests of its thread go on meanwhile); without it, the attempt blocks."""
        self._path = path
        self._wait = wait
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
            if self._wait is None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            else:
                while True:
                    try:
                        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        self._wait()
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

    def close(self) -> None:
        """Nothing to stop: the committer has no thread of its own."""

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


def gevent_patched() -> bool:
    """True in a process whose threading module gevent has patched (gunicorn's gevent workers)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


LOCK_POLL = 0.0002  # seconds between attempts at the commit lock while another process holds it (gevent)


class _Batch:
    """The deliveries of one commit under gevent: entries in arrival order, then their flags."""

    __slots__ = ("entries", "results", "error", "taken", "finished", "done", "deadline")

    def __init__(self, done: Any) -> None:
        self.entries: list[Any] = []
        self.results: list[bool] = []
        self.error: Exception | None = None
        self.taken = False
        self.finished = False  # results or error are set
        self.done = done
        self.deadline: Any = None  # the timer that gives up on the batch (started by its first entry)


def _finish(batch: _Batch) -> None:
    batch.finished = True
    if batch.deadline is not None:
        batch.deadline.stop()
        batch.deadline.close()
        batch.deadline = None
    batch.done.set()


class GeventCommitter:
    """Group commit for gevent workers, where requests are greenlets of one thread. A greenlet of the
    committer writes each batch (taking the commit lock shared with the other server processes) while
    the requests that arrive meanwhile queue into the next one. A request costs a list append and one
    wait on its batch's event: no lock per request and no switch between threads at all.

    The commit runs in the requests' own thread, which stops them for as long as SQLite writes and
    syncs (a fraction of a millisecond per batch). Handing it to a native thread instead was measured
    and is worse: that thread waits for the GIL behind busy greenlets (docs/webhooks.md).

    `timeout` counts from a batch's first request: one timer per batch, not one per request. When it
    runs out, the batch's requests raise CommitTimeout; a batch not yet taken is never written (the
    requests that arrive afterwards start a new one)."""

    def __init__(
        self,
        store: InboxWriter,
        *,
        timeout: float = 10.0,
        lock_path: str | None = None,
    ) -> None:
        import gevent
        from gevent.event import Event

        self._event = Event
        self._loop_of_hub = gevent.get_hub().loop
        self._store = store
        self._timeout = timeout
        # While another process commits, this one's requests go on and join the batch.
        self._file_lock = _FileLock(lock_path, wait=lambda: gevent.sleep(LOCK_POLL)) if lock_path else None
        self.commit_lock: _FileLock | None = self._file_lock
        self._open = _Batch(Event())
        self._wake = Event()
        self._loop: Any = None
        self.batches = 0
        self.entries = 0

    def add(self, entry: Any) -> bool:
        """As GroupCommitter.add: True when new, False when already seen; raises StoreError or CommitTimeout."""
        batch = self._open
        index = len(batch.entries)
        batch.entries.append(entry)
        if index == 0:
            batch.deadline = self._loop_of_hub.timer(self._timeout)
            batch.deadline.start(self._expire, batch)
        if self._loop is None or self._loop.dead:
            import gevent

            self._loop = gevent.spawn(self._run)
        self._wake.set()
        batch.done.wait()
        if not batch.finished:
            raise CommitTimeout(f"inbox commit took longer than {self._timeout:g}s")
        if batch.error is not None:
            raise batch.error
        return batch.results[index]

    def _expire(self, batch: _Batch) -> None:
        """The batch's time is up (run by the hub): its requests give up. One not yet taken is
        withdrawn and never written (safe to refuse: Jira retries); one being written may still commit,
        and Jira's retry of it is then acknowledged as a duplicate."""
        if batch.finished:
            return
        if not batch.taken:
            if batch is self._open:
                self._open = _Batch(self._event())
            batch.deadline.close()  # the batch will never finish: nothing else closes its timer
            batch.deadline = None
        batch.done.set()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.kill(block=False)

    def _run(self) -> None:
        # A batch is whatever queued during the previous commit (at most one per open connection);
        # the store splits a large one into INSERTs of bounded size.
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._open.entries:
                if self._file_lock is None:
                    self._commit(self._take())
                    continue
                try:
                    self._file_lock.__enter__()
                except OSError as exc:  # the lock file cannot be opened or locked: fail this batch
                    log.warning("inbox_commit_lock_failed error=%s", type(exc).__name__)
                    self._fail(self._take(), exc)
                    continue
                try:
                    self._commit(self._take())  # taken once the lock is held: it grew meanwhile
                finally:
                    self._file_lock.__exit__()

    @staticmethod
    def _fail(batch: _Batch, error: Exception) -> None:
        batch.error = error
        _finish(batch)

    def _take(self) -> _Batch:
        batch = self._open
        self._open = _Batch(self._event())
        batch.taken = True
        return batch

    def _commit(self, batch: _Batch) -> None:
        entries = batch.entries  # empty when the batch open at the time had expired
        try:
            stored = self._store.inbox_add_many(entries) if entries else []
        except Exception as exc:  # the whole transaction failed: every request in it answers 503 (or 500)
            log.warning("inbox_commit_failed batch=%d error=%s", len(entries), type(exc).__name__)
            self._fail(batch, exc)
            return
        batch.results = [bool(flag) for flag in stored]
        if entries:
            self.batches += 1
            self.entries += len(entries)
        _finish(batch)
