"""Group commit for the inbox: one thread per process writes the deliveries that arrived together in one
transaction, and each request waits for its own batch to be committed before answering 202.

Under load, the deliveries that queue while one transaction commits form the next batch, so a
durable write costs one commit per batch instead of one per request; at low load a batch is one
delivery and nothing waits for company."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger("jsm_bridge.webhooks.committer")


class InboxWriter(Protocol):
    def inbox_add_many(self, entries: Sequence[Any]) -> list[bool]: ...


class CommitTimeout(Exception):
    """The batch holding a delivery was not committed in time: the request answers 503 so Jira retries."""


class _Slot:
    """One delivery waiting for its batch: the result (True stored, False already seen) or the error."""

    __slots__ = ("entry", "done", "stored", "error")

    def __init__(self, entry: Any) -> None:
        self.entry = entry
        self.done = threading.Event()
        self.stored = False
        self.error: Exception | None = None


_STOP = object()


class GroupCommitter:
    """Batches concurrent `add(entry)` calls into `store.inbox_add_many`. Thread-safe; the writer thread
    starts on first use in each process (so a server that forks after building the app still works)."""

    def __init__(self, store: InboxWriter, *, max_batch: int = 256, timeout: float = 10.0) -> None:
        self._store = store
        self._max_batch = max_batch
        self._timeout = timeout
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self.batches = 0
        self.entries = 0

    def add(self, entry: Any) -> bool:
        """Store one inbox entry durably; True when it is new, False when the store had already seen it.
        Raises what the store raised for its batch (StoreError), or CommitTimeout."""
        self._ensure_started()
        slot = _Slot(entry)
        self._queue.put(slot)
        if not slot.done.wait(self._timeout):
            raise CommitTimeout(f"inbox commit took longer than {self._timeout:g}s")
        if slot.error is not None:
            raise slot.error
        return slot.stored

    @property
    def alive(self) -> bool:
        """True while the writer runs in this process, or when it has not been needed yet."""
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return True
        return thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_started(self) -> None:
        pid = os.getpid()
        thread = self._thread
        if thread is not None and self._pid == pid and thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == pid and self._thread.is_alive():
                return
            if self._pid != pid:
                # A forked child inherits the parent's queue object but not its thread.
                self._queue = queue.SimpleQueue()
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name="inbox-group-commit", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Slot] = [first]
            stop_after = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop_after:
                return

    def _commit(self, batch: list[_Slot]) -> None:
        # The store dedupes within the batch too, so a retry racing its original is stored once.
        try:
            results = self._store.inbox_add_many([slot.entry for slot in batch])
        except Exception as exc:  # the whole transaction failed: every request in it answers 503
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
