"""Carrying out decisions exactly once: fetch a ticket fresh, decide, claim each action in the ledger,
execute it on Jira, record the outcome; and reconcile claims a crash left behind.

The receiver's workers and the sweeper both call TicketProcessor.process(); the ledger keeps them apart."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from jsm_bridge.actions import Action
from jsm_bridge.clock import Clock
from jsm_bridge.jira.errors import JiraError, NotFound
from jsm_bridge.jira.gateway import Gateway
from jsm_bridge.policy.model import Policy
from jsm_bridge.store import LedgerEntry, Store
from jsm_bridge.ticket import Ticket

log = logging.getLogger(__name__)

# The lease each running instance renews (the scheduler does, every due-check): a claim whose holder
# still holds it belongs to a live instance and is never reconciled, however old.
ALIVE_LEASE_PREFIX = "jsm-bridge:alive:"

# How long the answer to "which policy governs this ticket" is trusted, found and not found.
POLICY_CACHE_TTL = timedelta(minutes=5)
POLICY_MISS_TTL = timedelta(seconds=30)

_ISSUE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-[0-9]+$")
_PROJECT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PROJECT_SCOPE = re.compile(
    r"^\s*project\s*(?:=\s*(?P<one>\S+|\"[^\"]*\"|'[^']*')|in\s*\((?P<many>[^)]*)\))\s*$", re.I
)


class DecisionLike(Protocol):
    @property
    def actions(self) -> Sequence[Action]: ...

    @property
    def next_due(self) -> datetime | None: ...


DecideFn = Callable[[Ticket, Policy, datetime], DecisionLike]
ExecuteFn = Callable[[Action, Gateway, Policy], object]

OutcomeStatus = Literal["done", "skipped", "failed", "planned"]


@dataclass(frozen=True)
class Outcome:
    """What became of one action: done, skipped (with why), failed (with the error), or planned (dry run)."""

    action: Action
    status: OutcomeStatus
    detail: str = ""
    retry_at: datetime | None = None
    owed: bool = False  # not done yet but still to do: later actions of the ticket wait for it


@dataclass(frozen=True)
class ProcessResult:
    """The result of processing one ticket under one policy."""

    ticket: str
    policy: str
    outcomes: tuple[Outcome, ...] = ()
    next_due: datetime | None = None
    dry_run: bool = False

    def _of(self, status: OutcomeStatus) -> tuple[Action, ...]:
        return tuple(o.action for o in self.outcomes if o.status == status)

    @property
    def done(self) -> tuple[Action, ...]:
        return self._of("done")

    @property
    def skipped(self) -> tuple[Action, ...]:
        return self._of("skipped")

    @property
    def failed(self) -> tuple[Action, ...]:
        return self._of("failed")

    @property
    def planned(self) -> tuple[Action, ...]:
        return self._of("planned")


@dataclass(frozen=True)
class ReconcileResult:
    """Claims found pending after a crash: confirmed done from Jira, released for retry, or left alone
    because Jira could not be asked."""

    done: tuple[str, ...] = ()
    released: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()


@dataclass
class _PolicyAnswer:
    policy: Policy | None
    until: datetime


@dataclass
class Backoff:
    """Retry times for failed actions: base * 2^(attempt-1), at most `cap`; give up after `max_attempts`."""

    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 8

    def delay(self, attempts: int) -> timedelta | None:
        """The wait before the next attempt after `attempts` failed ones, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        return min(self.cap, self.base * (1 << max(0, attempts - 1)))


@dataclass
class TicketProcessor:
    """Runs decisions for tickets and carries out their actions exactly once.

    `decide` and `execute` default to the engine's decide() and the Jira executor's execute(); tests
    pass their own. `holder` names this instance in ledger claims (host:pid is a good choice)."""

    gateway: Gateway
    store: Store
    policies: Sequence[Policy]
    clock: Clock
    holder: str
    dry_run: bool = False
    decide: DecideFn | None = None
    execute: ExecuteFn | None = None
    backoff: Backoff = field(default_factory=Backoff)
    _policy_cache: dict[str, _PolicyAnswer] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _in_flight: set[str] = field(default_factory=set, init=False, repr=False)
    _busy: set[str] = field(default_factory=set, init=False, repr=False)
    _again: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.decide is None:
            from jsm_bridge.engine import decide

            self.decide = decide
        if self.execute is None:
            from jsm_bridge.jira.executor import execute

            self.execute = execute

    # -- processing --

    def process(self, key: str, policy: Policy) -> ProcessResult:
        """Process a ticket, once at a time per ticket in this process, without making callers wait.

        A due-check and an inbox worker (woken by the bridge's own change) can ask for one ticket at
        once; the later one would decide on a view of the ticket from before the earlier one's writes
        and could cache a wrong next_due. So while a ticket is in hand, another request for it returns
        at once with nothing done and the thread in hand processes the ticket once more when it has
        finished, seeing everything the first pass did."""
        with self._lock:
            if key in self._busy:
                self._again.add(key)
                _log(
                    "not_acting",
                    ticket=key,
                    policy=policy.name,
                    reason="in hand in this process; looked at again",
                )
                return ProcessResult(
                    ticket=key, policy=policy.name, outcomes=(), next_due=None, dry_run=self.dry_run
                )
            self._busy.add(key)
        try:
            outcomes: tuple[Outcome, ...] = ()
            while True:
                result = self._process_once(key, policy)
                outcomes += result.outcomes
                with self._lock:
                    if key not in self._again:
                        return replace(result, outcomes=outcomes)  # what every pass did
                    self._again.discard(key)
        finally:
            with self._lock:
                self._busy.discard(key)
                self._again.discard(key)

    def _process_once(self, key: str, policy: Policy) -> ProcessResult:
        """Fetch the ticket, decide what is due, and carry out each due action once.

        Errors reading the ticket (JiraError, NotFound for a deleted one) and StoreError propagate:
        the caller retries the whole ticket later. Errors carrying out an action do not: they are
        recorded in the ledger and the action stays owed."""
        assert self.decide is not None and self.execute is not None
        now = self.clock.now()
        # Always re-read: search results and webhook bodies may be stale.
        try:
            ticket = self.gateway.fetch_ticket(key, policy)
        except NotFound:
            # Deleted, or no longer visible: stop waking up for it, and let the caller know.
            _log("not_acting", ticket=key, policy=policy.name, reason="ticket not found in Jira")
            if not self.dry_run:
                self.store.cache_forget(key)
            raise
        ticket = ticket.with_done(*self.store.ledger_done_keys(key))
        decision = self.decide(ticket, policy, now)
        actions = list(decision.actions)
        if not actions:
            _log(
                "not_acting", ticket=key, policy=policy.name, reason="nothing due", next_due=decision.next_due
            )

        outcomes: list[Outcome] = []
        stopped: Outcome | None = None
        for action in actions:
            if self.dry_run:
                _log(
                    "dry_run",
                    ticket=key,
                    rule=action.rule,
                    action=action.kind,
                    key=action.key,
                    reason=action.reason,
                )
                outcomes.append(Outcome(action, "planned", action.reason))
            elif stopped is not None:
                # Later actions may depend on earlier ones (a transition before its comment): wait.
                detail = f"waiting for {stopped.action.key} first"
                _log(
                    "not_acting",
                    ticket=key,
                    rule=action.rule,
                    action=action.kind,
                    key=action.key,
                    reason=detail,
                )
                outcomes.append(Outcome(action, "skipped", detail))
            else:
                outcome = self._carry_out(action, policy)
                outcomes.append(outcome)
                if outcome.owed:
                    stopped = outcome

        next_due = decision.next_due
        if stopped is not None and stopped.status == "skipped" and (next_due is None or now < next_due):
            # Another worker holds a claim on this ticket's action right now (a due-check and an inbox
            # worker on one ticket at once). This decision could not see past that action, so its
            # next_due may be too late, or none: look again as soon as the claim is settled.
            next_due = now
        if not self.dry_run:
            # Owed retries bring the ticket back even when the decision itself has nothing pending.
            retry = self.store.ledger_next_retry(key, after=now)
            if retry is not None and (next_due is None or retry < next_due):
                next_due = retry
            self.store.cache_put(key, policy.name, next_due, _snapshot(ticket, now))
        return ProcessResult(
            ticket=key, policy=policy.name, outcomes=tuple(outcomes), next_due=next_due, dry_run=self.dry_run
        )

    def _carry_out(self, action: Action, policy: Policy) -> Outcome:
        assert self.execute is not None
        fields: dict[str, Any] = {
            "ticket": action.ticket,
            "rule": action.rule,
            "action": action.kind,
            "key": action.key,
        }
        if not self.store.ledger_claim(action, self.holder):
            entry = self.store.ledger_get(action.key)
            detail = _why_not_claimed(entry)
            _log("not_acting", **fields, reason=detail)
            owed = entry is not None and (
                entry.state == "pending" or (entry.state == "failed" and entry.retry_at is not None)
            )
            return Outcome(action, "skipped", detail, entry.retry_at if entry else None, owed=owed)
        with self._lock:
            self._in_flight.add(action.key)
        try:
            try:
                if self._comment_already_posted(action):
                    self.store.ledger_done(action.key)
                    _log(
                        "not_acting", **fields, reason="a comment on the issue already carries the action key"
                    )
                    return Outcome(action, "done", action.reason)
                self.execute(action, self.gateway, policy)
            except Exception as error:  # every failure is recorded in the ledger, never left pending
                return self._failed(action, error, fields)
            self.store.ledger_done(action.key)
        finally:
            with self._lock:
                self._in_flight.discard(action.key)
        _log("action_done", **fields, reason=action.reason)
        return Outcome(action, "done", action.reason)

    def _comment_already_posted(self, action: Action) -> bool:
        """Before a comment is posted again (a retry: the last attempt may have reached Jira even though
        it failed, such as a timeout), ask Jira whether a comment already carries its key."""
        if action.kind != "comment":
            return False
        entry = self.store.ledger_get(action.key)
        if entry is None or entry.attempts <= 1:
            return False
        return action.key in self.gateway.comment_action_keys(action.ticket)

    def _failed(self, action: Action, error: Exception, fields: dict[str, Any]) -> Outcome:
        entry = self.store.ledger_get(action.key)
        attempts = entry.attempts if entry is not None else 1
        message = f"{type(error).__name__}: {error}"
        retry_at = self._retry_at(error, attempts)
        self.store.ledger_failed(action.key, message, retry_at)
        _log(
            "action_failed",
            level=logging.WARNING if _retryable(error) else logging.ERROR,
            **fields,
            attempts=attempts,
            error=message,
            retry_at=retry_at if retry_at is not None else "never",
        )
        if not isinstance(error, JiraError):
            log.error("action_failed_unexpectedly key=%s", action.key, exc_info=error)
        return Outcome(action, "failed", message, retry_at, owed=retry_at is not None)

    def _retry_at(self, error: Exception, attempts: int) -> datetime | None:
        """Retryable Jira errors back off exponentially (longer when Jira says so); an error that
        repeating will not cure (a refused request, a missing transition) is retried only at the
        longest interval, in case someone fixes the workflow or the policy meanwhile."""
        delay = self.backoff.delay(attempts)
        if delay is None:
            return None
        if not _retryable(error):
            delay = self.backoff.cap
        retry_after = _seconds(getattr(error, "retry_after", None))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return self.clock.now() + delay

    # -- which policy --

    def policy_for(self, issue_key: str, project_key: str | None = None) -> Policy | None:
        """The policy whose scope holds this ticket: `project = X` and `project in (...)` scopes are
        answered here; any other JQL is asked of Jira, and the answer is remembered for a short time."""
        now = self.clock.now()
        with self._lock:
            cached = self._policy_cache.get(issue_key)
            if cached is not None and cached.until > now:
                return cached.policy
        if not _ISSUE_KEY.match(issue_key):
            _log("not_acting", ticket=issue_key, reason="not an issue key")
            return None
        project = (project_key or issue_key.rsplit("-", 1)[0]).upper()
        found: Policy | None = None
        for policy in self.policies:
            projects = scope_projects(policy.spec.scope.jql)
            if projects is not None:
                if project in projects:
                    found = policy
                    break
                continue
            jql = f"key = {issue_key} AND ({policy.spec.scope.jql})"
            if next(iter(self.gateway.search(jql, ["key"], 1)), None) is not None:
                found = policy
                break
        if found is None:
            _log("not_acting", ticket=issue_key, reason="outside every policy's scope")
        ttl = POLICY_CACHE_TTL if found is not None else POLICY_MISS_TTL
        with self._lock:
            self._policy_cache[issue_key] = _PolicyAnswer(found, now + ttl)
        return found

    # -- crash recovery --

    def reconcile(self, older_than: datetime | timedelta = timedelta(minutes=10)) -> ReconcileResult:
        """Settle claims left pending (a crash between claim and outcome) by asking Jira what happened.

        A claim is marked done when Jira shows the action took place: the issue's done keys hold its
        key; for a comment, one of the issue's comments carries the key (comment property
        jsm-bridge.action); for other kinds, the issue already shows the action's effect (its status,
        priority, assignee, field values, labels, tier). Otherwise the claim is released for retry now.
        Claims younger than `older_than` may still be running and are left alone, and so are claims
        this processor is carrying out now and claims whose holder is alive (it renews its
        `jsm-bridge:alive:<holder>` lease); when Jira cannot be asked, the claim stays pending for the
        next reconcile. Safe to run often and on any instance."""
        cutoff = self.clock.now() - older_than if isinstance(older_than, timedelta) else older_than
        done: list[str] = []
        released: list[str] = []
        unresolved: list[str] = []
        evidence: dict[str, _Evidence] = {}
        alive: dict[str, bool] = {}
        for entry in self.store.ledger_pending(cutoff):
            if self._still_running(entry, alive):
                continue
            fields: dict[str, Any] = {
                "ticket": entry.ticket,
                "rule": entry.rule,
                "action": entry.kind,
                "key": entry.key,
            }
            found = evidence.setdefault(entry.ticket, _Evidence(entry.ticket, self))
            try:
                reason = found.shows(entry)
            except JiraError as error:  # Jira unreachable: leave the claim for the next reconcile
                _log("reconcile_deferred", level=logging.WARNING, **fields, error=error)
                unresolved.append(entry.key)
                continue
            if reason is not None:
                if not self.dry_run:
                    self.store.ledger_done(entry.key)
                _log("reconcile_done", **fields, reason=reason)
                done.append(entry.key)
                continue
            if not self.dry_run:
                now = self.clock.now()
                why = "claim left pending by a crash; Jira shows no sign of the action"
                if not self.store.ledger_release(entry.key, entry.holder, why, now):
                    _log("not_acting", **fields, reason="claim settled meanwhile by its holder")
                    continue
                self.store.cache_wake(entry.ticket, now)  # so the due-check carries it out soon
            _log("reconcile_released", **fields, reason="Jira shows no sign of the action")
            released.append(entry.key)
        return ReconcileResult(tuple(done), tuple(released), tuple(unresolved))

    def _still_running(self, entry: LedgerEntry, alive: dict[str, bool]) -> bool:
        """True when the claim's holder may still be carrying it out: this processor, now, or another
        instance that still renews its alive lease. (A claim of this holder's name that this processor
        is not carrying out was left by an earlier process of the same name.)"""
        if entry.holder == self.holder:
            with self._lock:
                return entry.key in self._in_flight
        if entry.holder is None:
            return False
        if entry.holder not in alive:
            lease_holder = getattr(self.store, "lease_holder", None)
            lease = lease_holder(ALIVE_LEASE_PREFIX + entry.holder) if lease_holder is not None else None
            alive[entry.holder] = lease is not None
        return alive[entry.holder]


class _Evidence:
    """What Jira says about one ticket's actions, read lazily and once per reconcile: the done keys,
    the action keys on its comments, and the ticket itself (for effects)."""

    def __init__(self, ticket: str, processor: TicketProcessor) -> None:
        self.ticket = ticket
        self.processor = processor
        self._done: frozenset[str] | None = None
        self._comments: frozenset[str] | None = None
        self._tickets: dict[str, Ticket | None] = {}

    def shows(self, entry: LedgerEntry) -> str | None:
        """Why Jira shows this action happened, or None when it does not. Raises JiraError."""
        gateway = self.processor.gateway
        if self._done is None:
            self._done = frozenset(gateway.done_keys(self.ticket))
        if entry.key in self._done:
            return "Jira has the done key"
        if entry.kind == "comment":
            if self._comments is None:
                self._comments = frozenset(gateway.comment_action_keys(self.ticket))
            return "a comment carries the action key" if entry.key in self._comments else None
        try:
            action = entry.to_action()
        except Exception as error:  # an unreadable ledger row cannot be compared: release it
            _log("reconcile_unreadable", level=logging.WARNING, key=entry.key, error=error)
            return None
        policy = self.processor.policy_for(self.ticket)
        if policy is None:
            return None
        if policy.name not in self._tickets:
            try:
                self._tickets[policy.name] = gateway.fetch_ticket(self.ticket, policy)
            except NotFound:
                self._tickets[policy.name] = None
        ticket = self._tickets[policy.name]
        if ticket is None:
            return None
        from jsm_bridge.jira.executor import already_in_effect

        return "Jira already shows the effect" if already_in_effect(action, ticket, policy) else None


def scope_projects(jql: str) -> frozenset[str] | None:
    """The project keys of a `project = X` or `project in (A, B)` scope (upper case), or None when
    the JQL says anything else or names projects by name or id (Jira must answer those)."""
    match = _PROJECT_SCOPE.match(jql)
    if match is None:
        return None
    raw = [match.group("one")] if match.group("one") else match.group("many").split(",")
    keys = [value.strip().strip("\"'").strip() for value in raw]
    if not keys or not all(_PROJECT_KEY.match(k) for k in keys):
        return None
    return frozenset(k.upper() for k in keys)


def _why_not_claimed(entry: LedgerEntry | None) -> str:
    if entry is None:
        return "ledger refused the claim"
    if entry.state == "done":
        return f"already done at {_text(entry.done_at)}"
    if entry.state == "pending":
        return f"claimed by {entry.holder} at {_text(entry.claimed_at)}"
    if entry.retry_at is None:
        return f"given up after {entry.attempts} attempts: {entry.error}"
    return f"failed, next attempt at {_text(entry.retry_at)}"


def _retryable(error: Exception) -> bool:
    return isinstance(error, JiraError) and error.retryable


def _seconds(value: Any) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value
    try:
        return timedelta(seconds=float(value))
    except (TypeError, ValueError):
        return None


def _snapshot(ticket: Ticket, checked_at: datetime) -> dict[str, Any]:
    """What the cache keeps of a ticket: enough for reports without asking Jira again."""
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "tier": ticket.tier,
        "assignee": ticket.assignee,
        "labels": sorted(ticket.labels),
        "checked_at": checked_at.astimezone(UTC).isoformat(),
    }


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: the event name, then key=value pairs (quoted when they hold spaces)."""
    parts = [event]
    for name, value in fields.items():
        if value is None:
            continue
        text = _text(value)
        if not text or any(c.isspace() or c in '"=' for c in text):
            text = json.dumps(text)
        parts.append(f"{name}={text}")
    log.log(level, " ".join(parts))


__all__ = [
    "ALIVE_LEASE_PREFIX",
    "Backoff",
    "Outcome",
    "ProcessResult",
    "ReconcileResult",
    "TicketProcessor",
    "scope_projects",
]
