"""The scheduled sweep: per policy, read the tickets in scope with JQL, decide, act on what is due.

Breaches fire no webhook, so this is what escalates, updates and closes on time. One instance sweeps at
a time (a lease in the store); every instance has its own APScheduler and never shares a job store."""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jsm_bridge.clock import Clock
from jsm_bridge.policy.model import Policy
from jsm_bridge.process import ALIVE_LEASE_PREFIX
from jsm_bridge.ticket import Ticket

log = logging.getLogger("jsm_bridge.sweeper")

LEADER_LEASE = "jsm-bridge:sweeper-leader"
# Every instance renews a lease saying it is alive, so reconcile leaves its claims alone however old.
ALIVE_TTL = timedelta(seconds=30)
ALIVE_RENEW_EVERY = timedelta(seconds=5)
# The leader reconciles claims left pending by crashed instances this often, once they are this old.
DEFAULT_RECONCILE_EVERY = timedelta(minutes=5)
DEFAULT_RECONCILE_OLDER_THAN = timedelta(minutes=2)
DEFAULT_SWEEP_EVERY = timedelta(minutes=1)
DEFAULT_PURGE_EVERY = timedelta(hours=1)
# A ticket the due-check just processed is not processed again sooner than this, whatever its cache says:
# a next_due that does not move (a bug, a clock step) must not turn into a request every second.
DUE_RECHECK_FLOOR = timedelta(seconds=30)


class Searched(Protocol):
    """One search result: its key, the Ticket, whether its history in the result is complete, and a
    fingerprint that changes whenever the issue does (None: no fingerprint, always decide)."""

    @property
    def key(self) -> str: ...

    @property
    def ticket(self) -> Ticket: ...

    @property
    def complete(self) -> bool: ...

    @property
    def fingerprint(self) -> Any: ...


@dataclass(frozen=True)
class _Seen:
    """What the last decision on an unchanged ticket said: nothing due before `next_due`."""

    fingerprint: Any
    decided_at: datetime
    next_due: datetime | None
    cached: bool


SearchFn = Callable[[str, Policy, int], Iterable[Searched]]


class DecisionLike(Protocol):
    @property
    def actions(self) -> Sequence[Any]: ...

    @property
    def next_due(self) -> datetime | None: ...


DecideFn = Callable[[Ticket, Policy, datetime], DecisionLike]


class SweepStore(Protocol):
    def ledger_done_keys(self, ticket: str) -> frozenset[str]: ...
    def cache_put(
        self, ticket: str, policy: str, next_due: datetime | None, snapshot: dict[str, Any] | None
    ) -> None: ...
    def cache_due(self, now: datetime) -> list[tuple[str, str]]: ...
    def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> bool: ...
    def release_lease(self, name: str, holder: str) -> None: ...
    def sweep_started(self, policy: str) -> int: ...
    def sweep_finished(self, run_id: int, tickets: int, actions: int, error: str | None = None) -> None: ...


class SweepProcessor(Protocol):
    def process(self, key: str, policy: Policy) -> Any: ...


def sweep_every(policy: Policy) -> timedelta:
    """The policy's `scope.sweep_every` as wall-clock time (a day is 24 hours here), at least a second."""
    every = policy.spec.scope.sweep_every
    total = every.exact + timedelta(days=every.days)
    return max(total, timedelta(seconds=1)) if total > timedelta(0) else DEFAULT_SWEEP_EVERY


def sweep_jql(policy: Policy) -> str:
    """Open tickets in scope, plus those resolved in the last week (feedback and credits come after)."""
    return f"({policy.spec.scope.jql}) AND (statusCategory != Done OR updated >= -7d) ORDER BY key ASC"


@dataclass
class SweepReport:
    """What one sweep of one policy saw and did: `results` holds the processor's ProcessResults."""

    policy: str
    started: datetime
    tickets: int = 0
    due: list[str] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    skipped: str | None = None  # why the sweep did not run (another sweep of this policy is running)

    @property
    def actions(self) -> int:
        """Actions done (or planned, in a dry run)."""
        return sum(
            len(getattr(r, "done", ()) or ()) + len(getattr(r, "planned", ()) or ()) for r in self.results
        )


class Sweeper:
    """Runs sweeps and due-checks; the scheduler calls it, and so does `jsm-bridge sweep --once`.

    `search(jql, policy, page_size)` yields tickets from search results; `decide` is the engine's
    decide(). Tickets with nothing due cost no request and no write: the sweeper caches a ticket's
    next_due only when it falls before the next sweep, since the next sweep sees the others anyway."""

    def __init__(
        self,
        search: SearchFn,
        store: SweepStore,
        processor: SweepProcessor,
        policies: Sequence[Policy],
        clock: Clock,
        *,
        decide: DecideFn | None = None,
        page_size: int = 100,
        dry_run: bool = False,
    ) -> None:
        if decide is None:
            from jsm_bridge.engine import decide as engine_decide

            decide = engine_decide
        self.search = search
        self.store = store
        self.processor = processor
        self.policies = {p.name: p for p in policies}
        self.clock = clock
        self.decide = decide
        self.page_size = page_size
        self.dry_run = dry_run
        self.last_swept: dict[str, datetime] = {}  # clock time of each policy's last finished sweep
        self._sweeping = {name: threading.Lock() for name in self.policies}
        self._recently_due: dict[str, datetime] = {}
        # Per policy, per ticket: the last decision on it while it looked the same. decide() is pure, so
        # an unchanged ticket has nothing due before that decision's next_due: no need to decide again.
        self._seen: dict[str, dict[str, _Seen]] = {name: {} for name in self.policies}
        # Set on shutdown: a sweep stops after the ticket it is on; the next sweep finds the rest.
        self.stop = threading.Event()

    # -- sweeping -----------------------------------------------------------------------------------

    def sweep(self, policy: Policy, progress: Callable[[int], None] | None = None) -> SweepReport:
        """One pass over a policy's tickets: decide on each from the search results, and hand those
        with actions due to the processor, which re-reads the issue before it acts."""
        started = self.clock.now()
        report = SweepReport(policy=policy.name, started=started)
        lock = self._sweeping.setdefault(policy.name, threading.Lock())
        if not lock.acquire(blocking=False):
            report.skipped = "a sweep of this policy is already running"
            log.info("sweep.skipped policy=%s reason=already running", policy.name)
            return report
        try:
            self._sweep(policy, report, progress)
        finally:
            lock.release()
        return report

    def _sweep(self, policy: Policy, report: SweepReport, progress: Callable[[int], None] | None) -> None:
        run_id = None if self.dry_run else self.store.sweep_started(policy.name)
        began = time.perf_counter()
        horizon = report.started + sweep_every(policy) * 2
        seen = self._seen.setdefault(policy.name, {})
        still: dict[str, _Seen] = {}
        try:
            for found in self.search(sweep_jql(policy), policy, self.page_size):
                if self.stop.is_set():
                    report.error = "stopped: shutting down"
                    break
                report.tickets += 1
                entry = self._consider(found, policy, horizon, report, seen.get(found.key))
                if entry is not None:
                    still[found.key] = entry
                if progress is not None:
                    progress(report.tickets)
        except Exception as exc:  # a failed sweep is logged and retried at the next interval
            report.error = f"{type(exc).__name__}: {exc}"
            log.warning("sweep.failed policy=%s error=%s", policy.name, _one_line(report.error))
        report.seconds = time.perf_counter() - began
        # Tickets no longer in scope are forgotten; after a failed sweep the rest is kept for the next.
        self._seen[policy.name] = still if report.error is None else {**seen, **still}
        # Set after a failed sweep too: a Jira outage must not turn into a sweep every second.
        self.last_swept[policy.name] = report.started
        if run_id is not None:
            try:
                self.store.sweep_finished(run_id, report.tickets, report.actions, report.error)
            except Exception as exc:
                log.warning("sweep.record_failed policy=%s error=%s", policy.name, exc)
        log.info(
            "sweep.finished policy=%s tickets=%d due=%d actions=%d seconds=%.2f%s",
            policy.name,
            report.tickets,
            len(report.due),
            report.actions,
            report.seconds,
            f" error={_one_line(report.error)}" if report.error else "",
        )

    def _consider(
        self, found: Searched, policy: Policy, horizon: datetime, report: SweepReport, last: _Seen | None
    ) -> _Seen | None:
        """Decide on one search result (unless it is unchanged and nothing of it is due yet); hand it to
        the processor when actions are due; remember the decision when nothing is."""
        now = self.clock.now()
        fingerprint = found.fingerprint
        if (
            last is not None
            and fingerprint is not None
            and last.fingerprint == fingerprint
            and last.decided_at <= now
            and (last.next_due is None or now < last.next_due)
        ):
            if not last.cached and self._wake_before(last.next_due, horizon):
                self.store.cache_put(found.key, policy.name, last.next_due, None)
                return replace(last, cached=True)
            return last
        ticket = found.ticket
        decision = self.decide(ticket, policy, now)
        if decision.actions:
            # Done keys only ever remove actions: the ledger is asked only when something looks due.
            done = ticket.done | self.store.ledger_done_keys(ticket.key)
            decision = self.decide(replace(ticket, done=done), policy, now)
        if decision.actions or not found.complete:
            if decision.actions:
                report.due.append(ticket.key)
            else:
                log.debug(
                    "sweep.full_read ticket=%s reason=search result holds part of the history", ticket.key
                )
            try:
                result = self.processor.process(ticket.key, policy)
            except Exception as exc:  # one ticket failing must not stop the sweep
                log.warning(
                    "sweep.ticket_failed ticket=%s policy=%s error=%s: %s",
                    ticket.key,
                    policy.name,
                    type(exc).__name__,
                    _one_line(str(exc)),
                )
                return None
            if decision.actions:
                report.results.append(result)
                return None  # what it did changed the issue: the next sweep decides afresh
            # A full read found nothing to do either: remember its next_due, as for a complete result
            # (the processor has cached it), so a long history is not read in full every sweep.
            outcomes = getattr(result, "outcomes", None)
            if self.dry_run or outcomes or not hasattr(result, "next_due"):
                return None
            return _Seen(fingerprint, now, result.next_due, True)
        cached = self._wake_before(decision.next_due, horizon)
        if cached:
            # Due before the next sweep: the due-check wakes it on time.
            self.store.cache_put(ticket.key, policy.name, decision.next_due, None)
        else:
            log.debug("not acting: nothing due ticket=%s next_due=%s", ticket.key, decision.next_due)
        return _Seen(fingerprint, now, decision.next_due, cached)

    def _wake_before(self, next_due: datetime | None, horizon: datetime) -> bool:
        return not self.dry_run and next_due is not None and next_due <= horizon

    # -- precise wake-ups ---------------------------------------------------------------------------

    def run_due(self) -> int:
        """Process the cached tickets whose next_due has come; returns how many were processed."""
        now = self.clock.now()
        count = 0
        for key, policy_name in self.store.cache_due(now):
            if self.stop.is_set():
                break
            policy = self.policies.get(policy_name)
            if policy is None:
                log.info("ignored: due ticket of an unknown policy ticket=%s policy=%s", key, policy_name)
                continue
            last = self._recently_due.get(key)
            if last is not None and last <= now < last + DUE_RECHECK_FLOOR:
                continue
            self._recently_due[key] = now
            try:
                self.processor.process(key, policy)
            except Exception as exc:
                log.warning(
                    "due.failed ticket=%s policy=%s error=%s: %s", key, policy_name, type(exc).__name__, exc
                )
            count += 1
        self._recently_due = {k: t for k, t in self._recently_due.items() if now < t + DUE_RECHECK_FLOOR}
        return count

    def sweeps_due(self) -> list[Policy]:
        """Policies whose last sweep is at least `sweep_every` ago by the injected clock (so a clock
        moved forward, as the sandbox's can be, brings the sweep forward too)."""
        now = self.clock.now()
        out = []
        for name, policy in self.policies.items():
            if self._sweeping[name].locked():
                continue
            last = self.last_swept.get(name)
            if last is not None and (now >= last + sweep_every(policy) or now < last):
                out.append(policy)
        return out


class SweepScheduler:
    """One APScheduler per instance: an interval sweep per policy and a due-check every second, both
    on the leader only. The leader holds a lease in the store and renews it every second; when it dies,
    another instance takes over once the lease lapses, within one sweep interval."""

    def __init__(
        self,
        sweeper: Sweeper,
        store: Any,
        holder: str,
        *,
        due_check_seconds: float = 1.0,
        misfire_grace_seconds: int = 30,
        lease_ttl: timedelta | None = None,
        reconcile_every: timedelta = DEFAULT_RECONCILE_EVERY,
        reconcile_older_than: timedelta = DEFAULT_RECONCILE_OLDER_THAN,
        inbox_retention: timedelta | None = None,
        purge_every: timedelta = DEFAULT_PURGE_EVERY,
    ) -> None:
        """`inbox_retention`: the leader deletes done webhook events older than this every
        `purge_every` (None keeps them all)."""
        self.sweeper = sweeper
        self.store = store
        self.holder = holder
        self.due_check_seconds = due_check_seconds
        self.reconcile_every = reconcile_every
        self.reconcile_older_than = reconcile_older_than
        self.inbox_retention = inbox_retention
        self.purge_every = purge_every
        self._alive_renewed: float | None = None
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_seconds},
        )
        shortest = min((sweep_every(p) for p in sweeper.policies.values()), default=DEFAULT_SWEEP_EVERY)
        # Shorter than the shortest interval, longer than a few renewals: a dead leader is replaced in time.
        self.lease_ttl = lease_ttl or min(max(shortest / 2, timedelta(seconds=5)), timedelta(seconds=30))
        self._leader = False

    @property
    def leader(self) -> bool:
        return self._leader

    def is_leader(self) -> bool:
        """Take or renew the leader lease; False while another instance holds it."""
        try:
            leader = bool(self.store.acquire_lease(LEADER_LEASE, self.holder, self.lease_ttl))
        except Exception as exc:
            log.warning("lease.failed holder=%s error=%s", self.holder, _one_line(str(exc)))
            leader = False
        if leader != self._leader:
            log.info("lease.%s holder=%s", "taken" if leader else "lost", self.holder)
        self._leader = leader
        return leader

    def sweep_job(self, policy_name: str) -> None:
        if not self.is_leader():
            log.debug("not sweeping: another instance leads holder=%s", self.holder)
            return
        self._sweep_locked(self.sweeper.policies[policy_name])

    def keep_alive(self) -> None:
        """Renew this instance's alive lease (every ALIVE_RENEW_EVERY at most): while it holds, a
        reconcile on any instance leaves this instance's claims alone."""
        now = time.monotonic()
        if self._alive_renewed is not None and now - self._alive_renewed < ALIVE_RENEW_EVERY.total_seconds():
            return
        try:
            self.store.acquire_lease(ALIVE_LEASE_PREFIX + self.holder, self.holder, ALIVE_TTL)
            self._alive_renewed = now
        except Exception as exc:
            log.warning("alive.renew_failed holder=%s error=%s", self.holder, _one_line(str(exc)))

    def reconcile_job(self) -> None:
        """Leader only: settle claims that crashed instances left pending, so a ticket's later actions
        are not held back until a restart."""
        if self.sweeper.dry_run or not self.is_leader():
            return
        reconcile = getattr(self.sweeper.processor, "reconcile", None)
        if reconcile is None:
            return
        try:
            result = reconcile(older_than=self.reconcile_older_than)
        except Exception as exc:  # Jira or the store down: the next run tries again
            log.warning("reconcile.failed error=%s: %s", type(exc).__name__, _one_line(str(exc)))
            return
        settled = len(result.done) + len(result.released) + len(result.unresolved)
        log.log(
            logging.INFO if settled else logging.DEBUG,
            "reconcile.finished done=%d released=%d unresolved=%d",
            len(result.done),
            len(result.released),
            len(result.unresolved),
        )

    def purge_job(self) -> int:
        """Leader only: delete the done webhook events older than the retention; returns how many."""
        if self.inbox_retention is None or self.sweeper.dry_run or not self.is_leader():
            return 0
        older_than = self.sweeper.clock.now() - self.inbox_retention
        try:
            deleted = int(self.store.inbox_purge(older_than))
        except Exception as exc:  # the store down: the next run tries again
            log.warning("inbox.purge_failed error=%s: %s", type(exc).__name__, _one_line(str(exc)))
            return 0
        log.log(
            logging.INFO if deleted else logging.DEBUG,
            "inbox.purged deleted=%d received_before=%s",
            deleted,
            older_than.isoformat(),
        )
        return deleted

    def due_job(self) -> None:
        leader = self.is_leader()
        self.keep_alive()  # after the leader check, so a slow write never delays it
        if not leader:
            return
        # A clock moved forward (the sandbox's can be) brings the sweep forward: its job runs now, in
        # its own thread, while this one wakes the tickets that are due.
        for policy in self.sweeper.sweeps_due():
            job = self.scheduler.get_job(f"sweep:{policy.name}")
            if job is not None and self.scheduler.running:
                job.modify(next_run_time=datetime.now().astimezone())
        try:
            self.sweeper.run_due()
        except Exception as exc:
            log.warning("due.check_failed error=%s", _one_line(str(exc)))

    def _sweep_locked(self, policy: Policy) -> None:
        # The lease makes one leader; the lock makes sure of it while a sweep runs (clock skew, a
        # leader paused past its lease). On PostgreSQL it is an advisory lock the server frees.
        lock = getattr(self.store, "advisory_lock", None)
        if lock is None:
            self.sweeper.sweep(policy)
            return
        try:
            with lock(f"jsm-bridge:sweep:{policy.name}", sweep_every(policy) * 10) as taken:
                if taken:
                    self.sweeper.sweep(policy)
                else:
                    log.info("sweep.skipped policy=%s reason=another instance is sweeping", policy.name)
        except Exception as exc:
            log.warning("sweep.lock_failed policy=%s error=%s", policy.name, _one_line(str(exc)))

    def start(self, sweep_now: bool = True) -> None:
        for name, policy in self.sweeper.policies.items():
            self.scheduler.add_job(
                self.sweep_job,
                IntervalTrigger(seconds=math.ceil(sweep_every(policy).total_seconds())),
                args=[name],
                id=f"sweep:{name}",
                name=f"sweep {name}",
                next_run_time=None if not sweep_now else datetime.now().astimezone(),
            )
        self.scheduler.add_job(
            self.due_job, IntervalTrigger(seconds=self.due_check_seconds), id="due-check", name="due-check"
        )
        self.scheduler.add_job(
            self.reconcile_job,
            IntervalTrigger(seconds=math.ceil(self.reconcile_every.total_seconds())),
            id="reconcile",
            name="reconcile",
        )
        if self.inbox_retention is not None:
            self.scheduler.add_job(
                self.purge_job,
                IntervalTrigger(seconds=math.ceil(self.purge_every.total_seconds())),
                id="inbox-purge",
                name="inbox purge",
            )
        self.keep_alive()
        self.scheduler.start()
        log.info("scheduler.started holder=%s policies=%d", self.holder, len(self.sweeper.policies))

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let a running sweep or due-check finish first. Then give the
        lease up so another instance leads at once."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        try:
            self.store.release_lease(LEADER_LEASE, self.holder)
            self.store.release_lease(ALIVE_LEASE_PREFIX + self.holder, self.holder)
        except Exception as exc:
            log.warning("lease.release_failed holder=%s error=%s", self.holder, exc)
        log.info("scheduler.stopped holder=%s", self.holder)


def progress_printer(stream: Any = None, every: int = 100) -> Callable[[int], None] | None:
    """A one-line counter on a terminal for long sweeps; None when output is not a terminal."""
    out = stream or sys.stderr
    if not getattr(out, "isatty", lambda: False)():
        return None

    def show(count: int) -> None:
        if count % every == 0:
            out.write(f"\r  {count} tickets read")
            out.flush()

    return show


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
