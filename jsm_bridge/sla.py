"""SLA clocks from a ticket's history: first response, resolution, time in tier, since the last update, waiting.

A Timeline of intervals (status, priority, tier, paused) is built once from the ticket's changes; every
clock is measured over its running intervals with the calendars of its goal, never minute by minute."""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from jsm_bridge.actions import BOT_AUTHOR
from jsm_bridge.policy.durations import Duration, Limit
from jsm_bridge.policy.model import Policy
from jsm_bridge.ticket import PRIORITY, STATUS, TIER, Change, Comment, Ticket

ZERO = timedelta()

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
TIER_CLOCK = "tier"
UPDATE = "update"
WAITING = "waiting"
CLOCK_NAMES = (FIRST_RESPONSE, RESOLUTION, TIER_CLOCK, UPDATE, WAITING)


class Segment(NamedTuple):
    """A stretch of the ticket's life in which status, priority and tier stayed the same."""

    start: datetime
    end: datetime
    status: str
    priority: str | None
    tier: str | None
    paused: bool


@dataclass(frozen=True)
class Clock:
    """One clock at `now`. Durations are working time on the calendar of the goal's deciding part.

    `breach_at` is when it will breach if nothing changes: None while paused, stopped or already breached.
    `breached_at` is when it did breach (None if it has not)."""

    name: str
    goal: Limit | None
    elapsed: timedelta
    paused: timedelta
    remaining: timedelta | None
    breached: bool
    breached_by: timedelta | None
    paused_now: bool
    started: datetime | None
    stopped: datetime | None
    breach_at: datetime | None
    breached_at: datetime | None = None
    cycle: int = 1
    calendar: str | None = None  # the calendar of the goal part the figures are measured on

    @property
    def running(self) -> bool:
        return self.started is not None and self.stopped is None and not self.paused_now


@dataclass(frozen=True)
class Target:
    """One amount of working time on one calendar; a Limit is a list of them (the first reached counts)."""

    calendar: str | None
    amount: timedelta


@dataclass(frozen=True)
class Reach:
    """When a set of targets was or will be reached over a clock's running time.

    `reached_at` is set when reached by the end of the window; otherwise `due_at` is the projection
    from now (None while paused or stopped)."""

    reached_at: datetime | None
    due_at: datetime | None
    part: int  # index of the target that decides


@dataclass
class PolicyFacts:
    """What the clocks ask of a policy on every decision, worked out once per loaded policy."""

    resolved: frozenset[str]
    paused: frozenset[str]
    first_tier: str | None
    always: frozenset[str]  # names of the policy's 24x7 calendars, where working time is elapsed time
    targets: dict[tuple[Limit, float], list[Target]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # other derived values, by the name of their use

    priority_ranks: dict[str, int] = field(default_factory=dict)
    tier_ranks: dict[str, int] = field(default_factory=dict)

    def priority_rank(self, name: str | None) -> int:
        """As Policy.priority_rank: 0 for the highest; unknown or missing below all known ones."""
        return (
            self.priority_ranks.get(name, len(self.priority_ranks))
            if name is not None
            else len(self.priority_ranks)
        )

    def tier_rank(self, name: str | None) -> int:
        """As Policy.tier_rank: 0 for the first tier; no tier or an unknown one is the first."""
        return self.tier_ranks.get(name, 0) if name is not None else 0

    def is_resolved(self, status: str | None) -> bool:
        return status is not None and status.lower() in self.resolved

    def is_paused(self, status: str | None) -> bool:
        return status is not None and status.lower() in self.paused


_FACTS: weakref.WeakKeyDictionary[Policy, PolicyFacts] = weakref.WeakKeyDictionary()


def policy_facts(policy: Policy) -> PolicyFacts:
    """The cached facts of a policy (a loaded policy is immutable, so they never go stale)."""
    found = _FACTS.get(policy)
    if found is None:
        spec = policy.spec
        found = PolicyFacts(
            resolved=frozenset(s.lower() for s in spec.workflow.resolved),
            paused=frozenset(s.lower() for s in spec.targets.pause.status),
            first_tier=spec.tiers[0].name if spec.tiers else None,
            always=frozenset(name for name, calendar in policy.calendars.items() if calendar.is_24x7),
            priority_ranks={name: i for i, name in enumerate(spec.priorities)},
            tier_ranks={tier.name: i for i, tier in reversed(list(enumerate(spec.tiers)))},
        )
        _FACTS[policy] = found
    return found


def targets_of(limit: Limit, policy: Policy, scale: float = 1.0) -> list[Target]:
    """The parts of a limit as working-time amounts, each on its own calendar, optionally scaled (50%)."""
    cache = policy_facts(policy).targets
    found = cache.get((limit, scale))
    if found is not None:
        return found
    out = []
    for part in limit.parts:
        calendar = policy.calendar(part.calendar)
        amount = part.amount(calendar)
        if scale != 1.0:
            amount = timedelta(seconds=round(amount.total_seconds() * scale))
        out.append(Target(part.calendar, amount))
    cache[(limit, scale)] = out
    return out


def duration_target(duration: Duration, policy: Policy) -> Target:
    return Target(duration.calendar, duration.amount(policy.calendar(duration.calendar)))


@dataclass
class Timeline:
    """The ticket's history as segments from creation to `now`, plus what the clocks need to know.

    Working-time measurements are memoised per (calendar, start, end) for the life of one decide()."""

    ticket: Ticket
    policy: Policy
    now: datetime
    segments: list[Segment]
    cycle: int
    cycle_start: datetime
    resolved_at: datetime | None
    tier_since: datetime
    _between: dict[tuple[str | None, datetime, datetime], timedelta] = field(default_factory=dict)
    _windows: dict[tuple[datetime, datetime, bool], list[tuple[datetime, datetime, bool]]] = field(
        default_factory=dict
    )
    _starts: list[datetime] = field(default_factory=list)

    _always: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._starts = [seg.start for seg in self.segments]
        self._always = policy_facts(self.policy).always

    # --- measuring -------------------------------------------------------------------------------
    def between(self, calendar: str | None, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return ZERO
        if calendar is None or calendar in self._always:
            return end - start
        key = (calendar, start, end)
        cached = self._between.get(key)
        if cached is None:
            cached = self._between[key] = self.policy.calendar(calendar).between(start, end)
        return cached

    def add(self, calendar: str | None, start: datetime, amount: timedelta) -> datetime:
        """`calendar.add`, with wall-clock calendars answered by plain arithmetic."""
        if calendar is None or calendar in self._always:
            return start + amount
        return self.policy.calendar(calendar).add(start, amount)

    def windows(
        self, start: datetime, end: datetime, honour_pauses: bool = True
    ) -> list[tuple[datetime, datetime, bool]]:
        """(start, end, paused) pieces of [start, end], adjacent pieces of the same kind merged."""
        key = (start, end, honour_pauses)
        found = self._windows.get(key)
        if found is not None:
            return found
        out: list[tuple[datetime, datetime, bool]] = []
        segments = self.segments
        for index in range(max(bisect.bisect_right(self._starts, start) - 1, 0), len(segments)):
            seg = segments[index]
            if seg.start >= end:
                break
            lo = seg.start if seg.start > start else start
            hi = seg.end if seg.end < end else end
            if hi <= lo:
                continue
            paused = seg.paused and honour_pauses
            if out and out[-1][2] == paused and out[-1][1] == lo:
                out[-1] = (out[-1][0], hi, paused)
            else:
                out.append((lo, hi, paused))
        self._windows[key] = out
        return out

    def reach(
        self,
        targets: Sequence[Target],
        start: datetime,
        stop: datetime | None,
        honour_pauses: bool = True,
    ) -> Reach:
        """When running time since `start` (until `stop` or now) reaches the first of `targets`."""
        end = stop if stop is not None else self.now
        pieces = self.windows(start, end, honour_pauses)
        running_now = stop is None and not (honour_pauses and self.paused_now)
        best: Reach | None = None
        for index, target in enumerate(targets):
            reached = _reached_at(self, target, pieces)
            if reached is not None:
                candidate = Reach(reached, None, index)
            elif running_now:
                elapsed = self.running_time(target.calendar, pieces)
                candidate = Reach(None, self.add(target.calendar, self.now, target.amount - elapsed), index)
            else:
                candidate = Reach(None, None, index)
            best = _earlier(best, candidate)
        return best if best is not None else Reach(None, None, 0)

    def running_time(
        self, calendar: str | None, pieces: Iterable[tuple[datetime, datetime, bool]]
    ) -> timedelta:
        return sum((self.between(calendar, s, e) for s, e, paused in pieces if not paused), ZERO)

    def paused_time(
        self, calendar: str | None, pieces: Iterable[tuple[datetime, datetime, bool]]
    ) -> timedelta:
        return sum((self.between(calendar, s, e) for s, e, paused in pieces if paused), ZERO)

    @property
    def paused_now(self) -> bool:
        return self.segments[-1].paused

    def status_at(self, at: datetime) -> str:
        for seg in self.segments:
            if seg.start <= at < seg.end:
                return seg.status
        return self.ticket.status

    def priority_at(self, at: datetime) -> str | None:
        for seg in reversed(self.segments):
            if seg.start <= at:
                return seg.priority
        return self.ticket.priority

    def pause_reasons(self, start: datetime, end: datetime) -> list[str]:
        """The statuses (or 'pause condition') the clock was paused in between start and end."""
        names: list[str] = []
        for seg in self.segments:
            if seg.paused and seg.end > start and seg.start < end:
                name = (
                    seg.status
                    if _in(seg.status, self.policy.spec.targets.pause.status)
                    else "pause condition"
                )
                if name not in names:
                    names.append(name)
        return names

    # --- the clocks ------------------------------------------------------------------------------
    def measure(
        self,
        name: str,
        goal: Limit | None,
        start: datetime | None,
        stop: datetime | None,
        honour_pauses: bool = True,
        cycle: int = 1,
    ) -> Clock:
        """A clock over [start, stop or now] against `goal`."""
        if start is None:
            return Clock(name, goal, ZERO, ZERO, None, False, None, False, None, None, None, cycle=cycle)
        end = stop if stop is not None else self.now
        pieces = self.windows(start, end, honour_pauses)
        paused_now = stop is None and self.paused_now and honour_pauses
        if goal is None:
            return Clock(
                name,
                None,
                self.running_time(None, pieces),
                self.paused_time(None, pieces),
                None,
                False,
                None,
                paused_now,
                start,
                stop,
                None,
                cycle=cycle,
            )
        targets = targets_of(goal, self.policy)
        reach = self.reach(targets, start, stop, honour_pauses)
        target = targets[reach.part]
        elapsed = self.running_time(target.calendar, pieces)
        paused = self.paused_time(target.calendar, pieces)
        # Reaching the goal is a breach, except exactly at the stop instant (answered on the dot).
        breached = reach.reached_at is not None and (stop is None or reach.reached_at < stop)
        over = elapsed - target.amount
        return Clock(
            name=name,
            goal=goal,
            elapsed=elapsed,
            paused=paused,
            remaining=max(target.amount - elapsed, ZERO),
            breached=breached,
            breached_by=over if breached and over > ZERO else (ZERO if breached else None),
            paused_now=paused_now,
            started=start,
            stopped=stop,
            breach_at=reach.due_at,
            breached_at=reach.reached_at if breached else None,
            cycle=cycle,
            calendar=target.calendar,
        )

    def first_response(self) -> Clock:
        policy = self.policy
        stop = first_response_at(self.ticket, policy)
        if stop is not None and stop > self.now:
            stop = None
        start = self.ticket.created
        priority = self.priority_at(stop) if stop is not None else self.ticket.priority
        if policy.spec.targets.on_priority_change == "restart":
            start = self.last_priority_change(start, stop) or start
        return self.measure(FIRST_RESPONSE, policy.goal(FIRST_RESPONSE, priority), start, stop)

    def resolution(self) -> Clock:
        policy = self.policy
        stop = self.resolved_at
        start = self.cycle_start
        priority = self.priority_at(stop) if stop is not None else self.ticket.priority
        if policy.spec.targets.on_priority_change == "restart":
            start = self.last_priority_change(start, stop) or start
        return self.measure(RESOLUTION, policy.goal(RESOLUTION, priority), start, stop, cycle=self.cycle)

    def tier_clock(self, goal: Limit | None = None) -> Clock:
        return self.measure(TIER_CLOCK, goal, self.tier_since, self.resolved_at, cycle=self.cycle)

    def last_public_update(self) -> datetime:
        """The last public comment by an agent or the bridge in this cycle, else the cycle's start."""
        last = self.cycle_start
        for comment in self.ticket.comments:
            if comment.public and comment.role == "agent" and last <= comment.at <= self.now:
                last = comment.at
        return last

    def update_clock(self, goal: Limit | None) -> Clock:
        return self.measure(UPDATE, goal, self.last_public_update(), self.resolved_at, cycle=self.cycle)

    def waiting_since(self, statuses: Sequence[str]) -> datetime | None:
        """When the current wait on the customer began: entering the status or their last reply, if later."""
        if not _in(self.ticket.status, statuses) or not self.segments:
            return None
        entered = self.ticket.created
        for seg in reversed(self.segments):
            if not _in(seg.status, statuses):
                break
            entered = seg.start
        since = entered
        for comment in self.ticket.comments:
            if comment.role == "customer" and since < comment.at <= self.now:
                since = comment.at
        return since

    def waiting_clock(self, statuses: Sequence[str], goal: Limit | None) -> Clock:
        return self.measure(WAITING, goal, self.waiting_since(statuses), None, honour_pauses=False)

    def last_priority_change(self, start: datetime, stop: datetime | None) -> datetime | None:
        end = stop if stop is not None else self.now
        last = None
        for change in self.ticket.changes:
            if change.field == PRIORITY and start < change.at <= end and change.old != change.new:
                last = change.at
        return last

    def clock(self, name: str) -> Clock:
        """One of the five clocks with the policy's own goals (the tier clock's goal is the shortest `after`
        of the rules that escalate from the current tier)."""
        spec = self.policy.spec
        if name == FIRST_RESPONSE:
            return self.first_response()
        if name == RESOLUTION:
            return self.resolution()
        if name == TIER_CLOCK:
            tier = self.ticket.tier or policy_facts(self.policy).first_tier
            goals = [r.after for r in spec.escalate if r.after is not None and tier in (r.from_ or [])]
            return self.tier_clock(goals[0] if goals else None)
        if name == UPDATE:
            every = _goal_for(spec.updates.every, self.ticket.priority) if spec.updates is not None else None
            return self.update_clock(every)
        if name == WAITING:
            if spec.stale is None:
                return self.waiting_clock([], None)
            return self.waiting_clock(spec.stale.status, Limit((spec.stale.close_after,)))
        raise KeyError(f"no clock named {name!r}; the clocks are {', '.join(CLOCK_NAMES)}")

    def clocks(self) -> dict[str, Clock]:
        """All five clocks, measured now."""
        return {name: self.clock(name) for name in CLOCK_NAMES}

    def lazy_clocks(self) -> Clocks:
        """All five clocks, each measured the first time it is read."""
        return Clocks(self)


class Clocks(Mapping[str, Clock]):
    """The clocks of one decision, each measured on first access: most decisions read one or none, and
    measuring all five is most of a decision's cost. Reading them all gives exactly `Timeline.clocks()`."""

    def __init__(self, timeline: Timeline) -> None:
        self._timeline = timeline
        self._measured: dict[str, Clock] = {}

    def __getitem__(self, name: str) -> Clock:
        found = self._measured.get(name)
        if found is None:
            found = self._measured[name] = self._timeline.clock(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(CLOCK_NAMES)

    def __len__(self) -> int:
        return len(CLOCK_NAMES)

    def __repr__(self) -> str:
        return f"Clocks({dict(self)!r})"


def _goal_for(goals: Mapping[str, Limit], priority: str | None) -> Limit | None:
    if priority is not None and priority in goals:
        return goals[priority]
    return goals.get("default")


def _earlier(best: Reach | None, candidate: Reach) -> Reach:
    if best is None:
        return candidate

    def when(r: Reach) -> datetime | None:
        return r.reached_at or r.due_at

    b, c = when(best), when(candidate)
    if c is not None and (b is None or c < b):
        return candidate
    return best


def _reached_at(
    timeline: Timeline,
    target: Target,
    pieces: Sequence[tuple[datetime, datetime, bool]],
) -> datetime | None:
    cumulative = ZERO
    for start, end, paused in pieces:
        if paused:
            continue
        length = timeline.between(target.calendar, start, end)
        if cumulative + length >= target.amount and length > ZERO or target.amount == ZERO:
            return timeline.add(target.calendar, start, target.amount - cumulative)
        cumulative += length
    return None


def _in(status: str | None, statuses: Sequence[str]) -> bool:
    if status is None:
        return False
    lowered = status.lower()
    return any(lowered == s.lower() for s in statuses)


def is_human_response(comment: Comment) -> bool:
    """A public comment by a person on the support side. The bridge's own comments (acknowledgements,
    reminders) are not a response: an automatic reply must not stop the first-response clock."""
    return comment.public and comment.role == "agent" and comment.author != BOT_AUTHOR


def first_response_at(ticket: Ticket, policy: Policy) -> datetime | None:
    """When the first response was given: a human agent's public comment, or entering a `met_by` status."""
    met_by = policy.spec.targets.first_response_met_by
    instants: list[datetime] = []
    if met_by.public_comment:
        for comment in ticket.comments:
            if is_human_response(comment) and comment.at >= ticket.created:
                instants.append(comment.at)
                break
    if met_by.status:
        for change in ticket.changes:
            if change.field == STATUS and _in(change.new, met_by.status):
                instants.append(change.at)
                break
    return min(instants) if instants else None


def initial_values(ticket: Ticket, names: Iterable[str]) -> dict[str, Any]:
    """Each field's value at creation: the `old` of its first change, else its current value."""
    out: dict[str, Any] = {}
    pending = set(names)
    for change in ticket.changes:
        if change.field in pending:
            out[change.field] = change.old
            pending.discard(change.field)
            if not pending:
                break
    for name in pending:
        out[name] = ticket.field_value(name)
    return out


def state_at_creation(ticket: Ticket, include_own_changes: bool = False) -> Ticket:
    """The ticket as it was created (its snapshot rewound through its changes); with `include_own_changes`,
    plus the bridge's own changes made before any person changed anything (its classification)."""
    touched = {c.field for c in ticket.changes}
    if not touched:
        return replace(ticket, changes=(), comments=())
    state = _rewind(ticket, initial_values(ticket, touched))
    if include_own_changes:
        for change in ticket.changes:
            if change.author != BOT_AUTHOR:
                break
            state = _set(state, change)
    return state


def replay(ticket: Ticket) -> list[tuple[datetime, Ticket]]:
    """The ticket's state after creation and after each instant with changes, for conditions over history."""
    state = _rewind(ticket, initial_values(ticket, {c.field for c in ticket.changes}))
    out = [(ticket.created, state)]
    for change in ticket.changes:
        state = _set(state, change)
        if out and out[-1][0] == change.at:
            out[-1] = (change.at, state)
        else:
            out.append((change.at, state))
    return out


_SNAPSHOT = {STATUS: "status", PRIORITY: "priority", TIER: "tier", "labels": "labels", "assignee": "assignee"}


def _rewind(ticket: Ticket, values: Mapping[str, Any]) -> Ticket:
    state = replace(ticket, changes=(), comments=())
    for name, value in values.items():
        state = _set(state, Change(ticket.created, name, None, value))
    return state


def _set(state: Ticket, change: Change) -> Ticket:
    attr = _SNAPSHOT.get(change.field)
    if attr == "labels":
        return replace(state, labels=frozenset(change.new or ()))
    if attr is not None:
        return replace(state, **{attr: change.new})
    fields = dict(state.fields)
    fields[change.field] = change.new
    return replace(state, fields=fields)


def build_timeline(ticket: Ticket, policy: Policy, now: datetime) -> Timeline:
    """Segments from creation to `now`, with pauses, the current resolution cycle and the tier's start."""
    pause = policy.spec.targets.pause
    facts = policy_facts(policy)
    first_tier = facts.first_tier
    start = initial_values(ticket, (STATUS, PRIORITY, TIER))
    status = start[STATUS] or ticket.status
    priority = start[PRIORITY]
    tier = start[TIER] or first_tier
    pause_states: list[tuple[datetime, bool]] = []
    if pause.when is not None:
        condition = pause.when
        pause_states = [(at, condition.matches(state)) for at, state in replay(ticket)]

    segments: list[Segment] = []
    cursor = ticket.created
    cycle, cycle_start = 1, ticket.created
    resolved_at: datetime | None = ticket.created if facts.is_resolved(status) else None
    tier_since = ticket.created
    pause_index = 0
    condition_paused = False

    def paused_for(at: datetime, current_status: str) -> bool:
        nonlocal pause_index, condition_paused
        while pause_index < len(pause_states) and pause_states[pause_index][0] <= at:
            condition_paused = pause_states[pause_index][1]
            pause_index += 1
        return facts.is_paused(current_status) or condition_paused

    for change in ticket.changes:
        if change.at > now:
            break
        if change.field not in (STATUS, PRIORITY, TIER) and pause.when is None:
            continue
        if change.at > cursor:
            segments.append(Segment(cursor, change.at, status, priority, tier, paused_for(cursor, status)))
            cursor = change.at
        if change.field == STATUS:
            was_resolved = facts.is_resolved(status)
            status = str(change.new)
            now_resolved = facts.is_resolved(status)
            if now_resolved and not was_resolved:
                resolved_at = change.at
            elif was_resolved and not now_resolved:
                # The bridge undoing a resolution it refused (validation `before`) is not a reopen:
                # the cycle goes on as if the ticket had never been resolved.
                if change.author != BOT_AUTHOR:
                    cycle += 1
                    cycle_start = change.at
                resolved_at = None
        elif change.field == PRIORITY:
            priority = change.new
        elif change.field == TIER:
            if change.new != tier:
                tier_since = change.at
            tier = change.new or first_tier
    # The last segment may be empty (a change at `now`): it still says what state the ticket is in.
    segments.append(Segment(cursor, max(now, cursor), status, priority, tier, paused_for(cursor, status)))
    return Timeline(
        ticket=ticket,
        policy=policy,
        now=now,
        segments=segments,
        cycle=cycle,
        cycle_start=cycle_start,
        resolved_at=resolved_at,
        tier_since=tier_since,
    )


def clocks(ticket: Ticket, policy: Policy, now: datetime) -> dict[str, Clock]:
    """The ticket's clocks at `now` under `policy`."""
    return build_timeline(in_time_order(ticket), policy, now).clocks()


def in_time_order(ticket: Ticket) -> Ticket:
    """The ticket with its changes and comments sorted by time (stable), as the clocks expect them.
    Histories usually arrive sorted, and then the ticket is returned as it is."""

    def ordered(instants: Sequence[datetime]) -> bool:
        return all(a <= b for a, b in zip(instants, instants[1:], strict=False))

    if ordered([c.at for c in ticket.changes]) and ordered([c.at for c in ticket.comments]):
        return ticket
    return replace(
        ticket,
        changes=tuple(sorted(ticket.changes, key=lambda c: c.at)),
        comments=tuple(sorted(ticket.comments, key=lambda c: c.at)),
    )


__all__ = [
    "CLOCK_NAMES",
    "Clock",
    "Clocks",
    "FIRST_RESPONSE",
    "RESOLUTION",
    "Reach",
    "Segment",
    "TIER_CLOCK",
    "Target",
    "Timeline",
    "UPDATE",
    "WAITING",
    "build_timeline",
    "clocks",
    "duration_target",
    "first_response_at",
    "in_time_order",
    "policy_facts",
    "is_human_response",
    "replay",
    "state_at_creation",
    "targets_of",
]
