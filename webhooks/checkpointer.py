"""Checkpoints the SQLite inbox's write-ahead log from a thread of its own, off the requests' path.

SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: that commit copies
the WAL into the database and syncs it (tens of ms) while every request of both server processes waits
on it. Here the copying happens beside the commits (PASSIVE never blocks a writer). A WAL that is never
copied in full between two commits never starts again from its beginning, so once it holds more than
a bound, one pass holds the commit lock to copy the short remainder and restart the WAL: the commits
after it write over the file's blocks from the start. The file is not emptied: on ext4 a commit that
grows the file syncs its new size too, and measured twice the time and CPU of one that overwrites."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

log = logging.getLogger("jsm_bridge.webhooks.checkpointer")


class Checkpointable(Protocol):
    def wal_checkpoint(self, restart: bool = False) -> tuple[int, int] | None: ...


class WalCheckpointer:
    """Every `interval` seconds, a PASSIVE checkpoint; when the WAL holds `limit_pages` pages or more,
    one more pass holding `commit_lock` that restarts it (RESTART)."""

    def __init__(
        self,
        store: Checkpointable,
        commit_lock: AbstractContextManager[object],
        *,
        interval: float = 0.25,
        limit_pages: int = 4096,
        runner: Callable[[Callable[[], tuple[int, int] | None]], tuple[int, int] | None] | None = None,
    ) -> None:
        """`runner(fn)` runs the PASSIVE pass where it must not hold up requests (by default here, in
        this thread; under gevent, a native thread: the pass is one long call that releases the GIL)."""
        self._store = store
        self._commit_lock = commit_lock
        self._interval = interval
        self._limit_pages = limit_pages
        self._runner = runner
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.locked_passes = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inbox-wal-checkpointer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except Exception as exc:  # the next commit checkpoints nothing, the next pass tries again
                log.warning("wal_checkpoint_failed error=%s", type(exc).__name__)

    def run_once(self) -> tuple[int, int] | None:
        """One pass; returns (pages in the WAL, pages copied), or None when there was nothing to do."""
        outcome = self._passive()
        self.passes += 1
        if outcome is None:
            return None
        pages, _copied = outcome
        if pages >= self._limit_pages:
            # Under steady load commits append between any two passes, so the WAL would never restart
            # and would grow for as long as the load lasts (measured: 140 MB in 45 s). A second pass,
            # beside the commits, copies what arrived during the first; with commits held off, what is
            # left to copy is what arrived during the second: a few pages.
            self._passive()
            with self._commit_lock:
                outcome = self._store.wal_checkpoint(restart=True)
            self.locked_passes += 1
        return outcome

    def _passive(self) -> tuple[int, int] | None:
        """A PASSIVE pass, beside the commits: in the runner when there is one (a native thread)."""
        if self._runner is not None:
            return self._runner(self._store.wal_checkpoint)
        return self._store.wal_checkpoint()
