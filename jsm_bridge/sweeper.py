"""The scheduled sweep: per policy, read the open tickets in scope with JQL, decide, act on what is due.

Breaches fire no webhook, so this is what escalates, updates and closes on time. One instance sweeps at a
time (a lease in the store); every instance has its own APScheduler and never shares a job store."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jsm_bridge.clock import Clock
from jsm_bridge.engine import decide
from jsm_bridge.policy import Policy
from jsm_bridge.ticket import Ticket

log = logging.getLogger("jsm_bridge.sweeper")

LEADER_LEASE = "sweeper-leader"


class SweepGateway(Protocol):
    def search_tickets(self, jql: str, policy: Policy, page_size: int = ...) -> Iterable[Ticket]: ...


class SweepStore(Protocol):
    def ledger_done_keys(self, ticket: str) -> frozenset[str]: ...
    def cache_put(self, ticket: str, policy: str, next_due: datetime | None, snapshot: dict[str, Any] | None) -> None: ...
    def cache_due(self, now: datetime) -> list[tuple[str, str]]: ...
    def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> bool: ...
    def release_lease(self, name: str, holder: str) -> None: ...
    def sweep_started(self, policy: str) -> int: ...
    def sweep_finished(self, run_id: int, tickets: int, actions: int, error: str | None = None) -> None: ...


class SweepProcessor(Protocol):
    def process(self, key: str, policy: Policy) -> Any: ...


def sweep_jql(policy: Policy) -> str:
    """Open tickets in scope, plus those resolved in the last week (feedback and credits come after)."""
    return f"({policy.spec.scope.jql}) AND (statusCategory != Done OR updated >= -7d) ORDER BY key ASC"


@dataclass
class SweepReport:
    """What one sweep of one policy saw and did."""

    policy: str
    started: datetime
    tickets: int = 0
    due: list[str] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def actions(self) -> int:
        return sum(len(getattr(r, "done", ()) or ()) for r in self.results)


class Sweeper:
    """Runs sweeps and due-checks; the scheduler calls it, and so does `jsm-bridge sweep --once`."""

    def __init__(
        self,
        gateway: SweepGateway,
        store: SweepStore,
        processor: SweepProcessor,
        policies: Sequence[Policy],
        clock: Clock,
        page_size: int = 100,
        dry_run: bool = False,
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.processor = processor
        self.policies = {p.name: p for p in policies}
        self.clock = clock
        self.page_size = page_size
        self.dry_run = dry_run

    def sweep(self, policy: Policy, progress: Callable[[int], None] | None = None) -> SweepReport:
        """One pass over a policy's tickets: decide on each from the search results, act on those with work due."""
        started = self.clock.now()
        report = SweepReport(policy=policy.name, started=started)
        run_id = None if self.dry_run else self.store.sweep_started(policy.name)
        began = time.perf_counter()
        try:
            for ticket in self.gateway.search_tickets(sweep_jql(policy), policy, page_size=self.page_size):
                report.tickets += 1
                done = ticket.done | self.store.ledger_done_keys(ticket.key)
                decision = decide(replace(ticket, done=done), policy, self.clock.now())
                if decision.actions:
                    report.due.append(ticket.key)
                    # Search results can be stale: the processor re-reads the ticket before it acts.
                    report.results.append(self.processor.process(ticket.key, policy))
                elif not self.dry_run:
                    self.store.cache_put(ticket.key, policy.name, decision.next_due, None)
                if progress is not None:
                    progress(report.tickets)
        except Exception as exc:  # a failed sweep is logged and retried at the next interval
            report.error = f"{type(exc).__name__}: {exc}"
            log.warning("sweep.failed policy=%s error=%s", policy.name, report.error)
        report.seconds = time.perf_counter() - began
        if run_id is not None:
            self.store.sweep_finished(run_id, report.tickets, report.actions, report.error)
        log.info(
            "sweep.finished policy=%s tickets=%d due=%d actions=%d seconds=%.2f",
            policy.name,
            report.tickets,
            len(report.due),
            report.actions,
            report.seconds,
        )
        return report

    def run_due(self) -> int:
        """Process the cached tickets whose next_due has come; returns how many were processed."""
        count = 0
        for key, policy_name in self.store.cache_due(self.clock.now()):
            policy = self.policies.get(policy_name)
            if policy is None:
                log.info("ignored: due ticket of an unknown policy ticket=%s policy=%s", key, policy_name)
                continue
            try:
                self.processor.process(key, policy)
            except Exception as exc:
                log.warning("due.failed ticket=%s policy=%s error=%s: %s", key, policy_name, type(exc).__name__, exc)
            count += 1
        return count


class SweepScheduler:
    """One APScheduler per instance: an interval sweep per policy and a due-check every second, leader only."""

    def __init__(
        self,
        sweeper: Sweeper,
        store: SweepStore,
        holder: str,
        due_check_seconds: float = 1.0,
        misfire_grace_seconds: int = 30,
    ) -> None:
        self.sweeper = sweeper
        self.store = store
        self.holder = holder
        self.due_check_seconds = due_check_seconds
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_seconds},
        )
        shortest = min(
            (p.spec.scope.sweep_every.exact for p in sweeper.policies.values()), default=timedelta(minutes=1)
        )
        # A lease a little longer than the shortest interval: a dead leader is replaced within one interval.
        self.lease_ttl = max(shortest + timedelta(seconds=5), timedelta(seconds=10))

    def is_leader(self) -> bool:
        try:
            return self.store.acquire_lease(LEADER_LEASE, self.holder, self.lease_ttl)
        except Exception as exc:
            log.warning("lease.failed holder=%s error=%s", self.holder, exc)
            return False

    def _sweep_job(self, policy_name: str) -> None:
        if not self.is_leader():
            log.debug("not sweeping: another instance leads holder=%s", self.holder)
            return
        self.sweeper.sweep(self.sweeper.policies[policy_name])

    def _due_job(self) -> None:
        if not self.is_leader():
            return
        self.sweeper.run_due()

    def start(self, sweep_now: bool = True) -> None:
        for name, policy in self.sweeper.policies.items():
            every = policy.spec.scope.sweep_every.exact
            self.scheduler.add_job(
                self._sweep_job,
                IntervalTrigger(seconds=max(1, int(every.total_seconds()))),
                args=[name],
                id=f"sweep:{name}",
                next_run_time=datetime.now().astimezone() if sweep_now else None,
            )
        self.scheduler.add_job(
            self._due_job, IntervalTrigger(seconds=self.due_check_seconds), id="due-check"
        )
        self.scheduler.start()
        log.info("scheduler.started holder=%s policies=%d", self.holder, len(self.sweeper.policies))

    def stop(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        try:
            self.store.release_lease(LEADER_LEASE, self.holder)
        except Exception as exc:
            log.warning("lease.release_failed holder=%s error=%s", self.holder, exc)


def progress_printer(stream: Any = None) -> Callable[[int], None] | None:
    """A one-line counter on a terminal for long sweeps; None when output is not a terminal."""
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return None

    def show(count: int) -> None:
        if count % 50 == 0:
            stream.write(f"\r  {count} tickets read")
            stream.flush()

    return show
