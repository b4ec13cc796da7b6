"""Inbox workers: threads that claim stored webhook events and hand each touched issue to the processor.

The processor fetches the fresh issue from Jira, decides and acts through the ledger; the worker only
resolves the policy, retries failures with exponential backoff, and dead-letters what keeps failing."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

from jsm_bridge.clock import Clock

log = logging.getLogger("jsm_bridge.inbox")

ISSUE_DELETED = "jira:issue_deleted"
_ISSUE_KEY = re.compile(r"^([A-Z][A-Z0-9_]*)-\d+$")

# Outcomes of one event, the `outcome` label of the processing-time metric.
DONE = "done"
SKIPPED = "skipped"
FORGOTTEN = "forgotten"
RETRY = "retry"
DEAD = "dead"

Observer = Callable[[float, str], None]
"""Called after each event with (seconds spent, outcome): the receiver's metrics hook."""

ActionObserver = Callable[[str, str], None]
"""Called for each action the processor reported, with (action kind, outcome status)."""


class Processor(Protocol):
    """What the workers need of jsm_bridge.process.TicketProcessor (tests pass a fake)."""

    def policy_for(self, issue_key: str, project_key: str | None) -> Any | None: ...

    # Optional: a `gateway` with search(jql, fields, page_size), to find a key from an issue id.

    def process(self, key: str, policy: Any) -> Any: ...


class Inbox(Protocol):
    def inbox_claim(self, worker: str, limit: int = ..., lease: timedelta = ...) -> Sequence[Any]: ...

    def inbox_done(self, id: Any, holder: str | None = None) -> Any: ...

    def inbox_retry(self, id: Any, error: str, at: Any, holder: str | None = None) -> Any: ...

    def inbox_dead(self, id: Any, error: str, holder: str | None = None) -> Any: ...


def project_of(issue_key: str | None) -> str | None:
    """`CB-12` -> `CB`; None for an issue id (Data Center comment events name the issue by id only)."""
    if not issue_key:
        return None
    match = _ISSUE_KEY.match(issue_key)
    return match.group(1) if match else None


def is_not_found(exc: BaseException) -> bool:
    """True for the gateway's NotFound: the issue was deleted (or can no longer be seen)."""
    try:
        from jsm_bridge.jira.errors import NotFound
    except ImportError:  # pragma: no cover - the gateway is part of the package
        return False
    return isinstance(exc, NotFound)


def backoff_delay(attempt: int, first: timedelta, longest: timedelta) -> timedelta:
    """Delay before retry number `attempt` (1-based): first, 2*first, 4*first, ... capped at longest."""
    return min(first * (1 << min(max(attempt - 1, 0), 20)), longest)  # capped: no overflow


class InboxWorkers:
    """N threads per process, each claiming inbox events under a lease and processing them one by one.

    Each event: a deleted issue is forgotten; otherwise the policy is resolved (none: logged as outside
    scope, done) and `processor.process(key, policy)` runs. Errors go back to the inbox with a
    backoff; after `max_attempts` attempts, or at once for errors marked `retryable = False`, the event
    is dead-lettered with its error (`jsm-bridge inbox replay ID` retries it). `stop()` lets each thread
    finish the event in flight and hands back events claimed but not started."""

    def __init__(
        self,
        store: Any,
        processor: Processor,
        *,
        clock: Clock,
        threads: int = 2,
        max_attempts: int = 8,
        backoff: timedelta = timedelta(seconds=30),
        backoff_max: timedelta = timedelta(hours=1),
        poll_interval: float = 1.0,
        lease: timedelta = timedelta(minutes=5),
        claim_batch: int = 4,
        observer: Observer | None = None,
        action_observer: ActionObserver | None = None,
        name: str = "inbox",
    ) -> None:
        self.store = store
        self.processor = processor
        self.clock = clock
        self.threads = threads
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.poll_interval = poll_interval
        self.lease = lease
        self.claim_batch = claim_batch
        self.observer = observer
        self.action_observer = action_observer
        self.name = name
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # Lifecycle

    def start(self) -> None:
        self._stop.clear()
        # Worker ids name the process too: the inbox tells workers of different processes apart by them.
        where = f"{socket.gethostname()}:{os.getpid()}"
        for i in range(self.threads):
            thread = threading.Thread(
                target=self._loop, args=(f"{self.name}-{i}@{where}",), name=f"{self.name}-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        log.info("inbox_workers_started threads=%d", self.threads)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every thread to stop after the event in flight, and wait for them."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        self._threads = [t for t in self._threads if t.is_alive()]
        log.info("inbox_workers_stopped still_running=%d", len(self._threads))

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def alive(self) -> int:
        return sum(1 for t in self._threads if t.is_alive())

    def notify(self) -> None:
        """New events are in the inbox: wake idle threads now rather than at the next poll."""
        self._wake.set()

    # Work

    def _loop(self, worker: str) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once(worker)
            except Exception as exc:  # the store failing must not kill the thread: wait and try again
                log.warning("inbox_claim_failed worker=%s error=%s", worker, type(exc).__name__)
                handled = 0
            if handled == 0:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def run_once(self, worker: str = "inbox") -> int:
        """Claim up to `claim_batch` due events and process them; the number processed."""
        claimed = self.store.inbox_claim(worker, limit=self.claim_batch, lease=self.lease)
        for i, event in enumerate(claimed):
            if self._stop.is_set():
                for rest in claimed[i:]:
                    self.store.inbox_retry(
                        rest.id,
                        "worker stopped before processing",
                        self.clock.now(),
                        holder=getattr(rest, "holder", None),
                    )
                return i
            self.handle(event)
        return len(claimed)

    def handle(self, event: Any) -> str:
        """Process one claimed event and record its outcome in the inbox."""
        started = time.perf_counter()
        key = event.issue_key
        try:
            outcome = self._process(event)
        except Exception as exc:
            if is_not_found(exc):
                self._forget(key)
                self.store.inbox_done(event.id, holder=getattr(event, "holder", None))
                log.info("inbox_forgotten issue=%s event=%s reason=not found in Jira", key, event.id)
                outcome = FORGOTTEN
            else:
                outcome = self._failed(event, exc)
        else:
            # With the holder: if this worker's lease ran out and another worker has the event now,
            # the store leaves it to that worker (and logs `not acting: lease lost`).
            self.store.inbox_done(event.id, holder=getattr(event, "holder", None))
        if self.observer is not None:
            self.observer(time.perf_counter() - started, outcome)
        return outcome

    def _process(self, event: Any) -> str:
        reference = event.issue_key
        if not reference:
            log.info("ignored: no issue event=%s type=%s", event.id, event.event_type)
            return SKIPPED
        if event.event_type == ISSUE_DELETED:
            self._forget(reference)
            log.info("inbox_forgotten issue=%s event=%s reason=issue deleted", reference, event.id)
            return FORGOTTEN
        key = self._issue_key(reference)
        if key is None:
            log.info("ignored: issue not found issue=%s event=%s", reference, event.id)
            return SKIPPED
        policy = self.processor.policy_for(key, project_of(key))
        if policy is None:
            log.info("ignored: outside scope issue=%s event=%s", key, event.id)
            return SKIPPED
        result = self.processor.process(key, policy)
        if self.action_observer is not None:
            for outcome in getattr(result, "outcomes", ()) or ():
                self.action_observer(outcome.action.kind, outcome.status)
        log.debug("inbox_processed issue=%s event=%s type=%s", key, event.id, event.event_type)
        return DONE

    def _failed(self, event: Any, exc: Exception) -> str:
        attempt = int(event.attempts) + 1  # the store counts failed attempts; this one is the next
        error = f"{type(exc).__name__}: {exc}"[:1000]
        if getattr(exc, "retryable", True) is False or attempt >= self.max_attempts:
            self.store.inbox_dead(event.id, error, holder=getattr(event, "holder", None))
            log.warning(
                "inbox_dead issue=%s event=%s attempts=%d error=%s", event.issue_key, event.id, attempt, error
            )
            return DEAD
        delay = backoff_delay(attempt, self.backoff, self.backoff_max)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > delay.total_seconds():
            delay = timedelta(seconds=retry_after)
        at = self.clock.now() + delay
        self.store.inbox_retry(event.id, error, at, holder=getattr(event, "holder", None))
        log.info(
            "inbox_retry issue=%s event=%s attempt=%d at=%s error=%s",
            event.issue_key,
            event.id,
            attempt,
            at.isoformat(),
            error,
        )
        return RETRY

    def _issue_key(self, reference: str) -> str | None:
        """The issue key for a reference: a key as it is; an issue id (Data Center comment events name
        only the id) looked up with `id = N` through the processor's gateway."""
        if _ISSUE_KEY.match(reference):
            return reference
        gateway = getattr(self.processor, "gateway", None)
        if not reference.isdigit() or gateway is None:
            return None
        for issue in gateway.search(f"id = {reference}", ["key"], 1):
            key = issue.get("key") if isinstance(issue, Mapping) else getattr(issue, "key", None)
            return str(key) if key else None
        return None

    def _forget(self, key: str | None) -> None:
        forget = getattr(self.store, "cache_forget", None)
        if key and forget is not None:
            forget(key)
