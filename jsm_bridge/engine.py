"""decide(): the pure decision core. A ticket, a policy and an instant in; the actions due now out.

Each rule kind is a small handler in a table; handlers see the ticket as amended by earlier handlers'
actions, so one call returns a consistent set (a ticket classified P1 is then escalated as a P1)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jsm_bridge.actions import (
    BOT_AUTHOR,
    Action,
    AddComment,
    Assign,
    Label,
    MoveToTier,
    SetField,
    SetPriority,
    Transition,
    apply_all,
)
from jsm_bridge.policy.conditions import is_empty, ticket_texts
from jsm_bridge.policy.durations import Duration, Limit, Percent, format_duration, human_duration
from jsm_bridge.policy.model import Policy
from jsm_bridge.policy.schema import CommentSpec, EscalateRule, ValidationRule
from jsm_bridge.secrets import find_secrets
from jsm_bridge.sla import (
    CLOCK_NAMES,
    FIRST_RESPONSE,
    RESOLUTION,
    TIER_CLOCK,
    Clock,
    Clocks,
    Timeline,
    build_timeline,
    duration_target,
    in_time_order,
    policy_facts,
    state_at_creation,
    targets_of,
)
from jsm_bridge.ticket import PRIORITY, STATUS, Ticket

CLOCK_LABELS = {
    FIRST_RESPONSE: "first response",
    RESOLUTION: "resolution",
    TIER_CLOCK: "time in tier",
    "update": "update",
    "waiting": "waiting",
}


@dataclass(frozen=True)
class Decision:
    """What is due now (new actions only), when to look again, and the ticket's clocks at `now`."""

    actions: tuple[Action, ...]
    next_due: datetime | None
    clocks: Mapping[str, Clock]


@dataclass
class Outcome:
    """What one handler found: actions due now and future instants at which more could become due."""

    actions: list[Action] = field(default_factory=list)
    due: list[datetime] = field(default_factory=list)

    def wait_until(self, instant: datetime | None) -> None:
        if instant is not None:
            self.due.append(instant)


class Context:
    """The ticket under decision and everything derived from it once: timeline, clocks, template data."""

    def __init__(self, ticket: Ticket, policy: Policy, now: datetime) -> None:
        self.ticket = ticket
        self.policy = policy
        self.now = now
        self.timeline: Timeline = build_timeline(ticket, policy, now)
        self.clocks: Clocks = self.timeline.lazy_clocks()
        self._ticket_data: dict[str, Any] | None = None
        self._creation: dict[bool, Ticket] = {}

    def amended(self, actions: list[Action]) -> Context:
        return Context(apply_all(self.ticket, actions, self.now), self.policy, self.now)

    def after(self, actions: Sequence[Action]) -> Context:
        """The context of the ticket as changed by `actions` (earlier actions of the same handler), for
        comments that must speak of the ticket as it is once they are carried out."""
        pending = [a for a in actions if a.key not in self.ticket.done]
        return self.amended(pending) if pending else self

    # --- facts -------------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return self.ticket.key

    @property
    def cycle(self) -> int:
        return self.timeline.cycle

    @property
    def resolved(self) -> bool:
        return policy_facts(self.policy).is_resolved(self.ticket.status)

    @property
    def tier(self) -> str | None:
        return self.ticket.tier or policy_facts(self.policy).first_tier

    def creation_state(self, include_own_changes: bool = False) -> Ticket:
        if include_own_changes not in self._creation:
            self._creation[include_own_changes] = state_at_creation(self.ticket, include_own_changes)
        return self._creation[include_own_changes]

    def done(self, key: str) -> bool:
        return key in self.ticket.done

    def cycle_key(self, base: str) -> str:
        """Keys of things that happen once per resolution cycle carry `:c<n>` after the first cycle."""
        return base if self.cycle == 1 else f"{base}:c{self.cycle}"

    # --- building actions --------------------------------------------------------------------------
    def comment(
        self,
        key: str,
        rule: str,
        kind: str,
        reason: str,
        template: str,
        public: bool,
        mentions: Sequence[str] = (),
        **extra: Any,
    ) -> AddComment:
        body = self.policy.render(
            template, self.template_context(rule, kind, reason, mentions=mentions, **extra)
        )
        return AddComment(
            key=key,
            ticket=self.key,
            rule=rule,
            reason=reason,
            at=self.now,
            body=body,
            public=public,
            mentions=tuple(mentions),
        )

    def comment_from(
        self, spec: CommentSpec, key: str, rule: str, kind: str, reason: str, **extra: Any
    ) -> AddComment:
        return self.comment(key, rule, kind, reason, spec.template, spec.public, spec.mention, **extra)

    def common(self, key: str, rule: str, reason: str) -> dict[str, Any]:
        return {"key": key, "ticket": self.key, "rule": rule, "reason": reason, "at": self.now}

    def move_to_tier(self, to: str, rule: str, reason: str) -> MoveToTier:
        key = self.cycle_key(f"{self.key}:tier:{to}")
        effects: list[Action] = []
        definition = self.policy.tier(to)
        if definition is not None:
            for name, value in definition.set.items():
                effects.append(
                    SetField(**self.common(f"{key}:set:{name}", rule, reason), field=name, value=value)
                )
            if definition.transition:
                effects.append(
                    Transition(**self.common(f"{key}:transition", rule, reason), status=definition.transition)
                )
            if definition.assignee:
                effects.append(
                    Assign(**self.common(f"{key}:assign", rule, reason), assignee=definition.assignee)
                )
            if definition.labels:
                effects.append(
                    Label(**self.common(f"{key}:labels", rule, reason), add=tuple(definition.labels))
                )
        return MoveToTier(**self.common(key, rule, reason), to=to, effects=tuple(effects))

    # --- template data -----------------------------------------------------------------------------
    def ticket_data(self) -> dict[str, Any]:
        if self._ticket_data is None:
            t = self.ticket
            priority = self.policy.spec.priorities.get(t.priority or "")
            self._ticket_data = {
                "key": t.key,
                "summary": t.field_value("summary"),
                "status": t.status,
                "priority": t.priority,
                "priority_description": priority.description if priority else None,
                "tier": self.tier,
                "reporter": t.reporter,
                "assignee": t.assignee,
                "labels": sorted(t.labels),
                "fields": dict(t.fields),
                "created": t.created,
            }
        return self._ticket_data

    def template_context(self, rule: str, kind: str, reason: str, **extra: Any) -> dict[str, Any]:
        spec = self.policy.spec
        context: dict[str, Any] = {
            "ticket": self.ticket_data(),
            "policy": {
                "name": spec.policy,
                "description": spec.description,
                "organisation": spec.organisation,
            },
            "rule": {"id": rule, "kind": kind},
            "clocks": {name: clock_data(self.clocks[name], self.policy) for name in CLOCK_NAMES},
            "reason": reason,
            "now": self.now,
        }
        context.update(extra)
        return context


def clock_data(clock: Clock, policy: Policy | None = None) -> dict[str, Any]:
    """A clock as templates see it: durations formatted for people, every key present, and `breach_at`
    in the time zone of the goal's calendar (the one the customer's office hours are in)."""
    breach_at = clock.breach_at
    if breach_at is not None and policy is not None:
        breach_at = breach_at.astimezone(_zone(policy, clock.calendar))
    return {
        "goal": human_goal(clock.goal, policy) if clock.goal is not None else None,
        "goal_code": str(clock.goal) if clock.goal is not None else None,
        "elapsed": format_duration(clock.elapsed) if clock.started is not None else None,
        "remaining": format_duration(clock.remaining) if clock.remaining is not None else None,
        "breached_by": format_duration(clock.breached_by) if clock.breached_by is not None else None,
        "breached": clock.breached,
        "breach_at": breach_at,
    }


def human_goal(limit: Limit, policy: Policy | None = None) -> str:
    """A goal as customers read it: `4 working hours`, `24 hours`, `1 working day or 12 hours`. Parts on a
    business calendar are working time; wall-clock parts (no calendar, or a 24x7 one) are plain time."""

    def working(calendar: str | None) -> bool:
        if calendar is None:
            return False
        if policy is None:
            return True
        return not policy.calendar(calendar).is_24x7

    return " or ".join(human_duration(part, working(part.calendar)) for part in limit.parts)


def _zone(policy: Policy, calendar: str | None) -> ZoneInfo:
    """The zone of a business calendar; for wall-clock goals, the zone of the policy's first business calendar."""
    names = [calendar] if calendar is not None and not policy.calendar(calendar).is_24x7 else []
    names += [name for name, cal in policy.calendars.items() if not cal.is_24x7]
    return ZoneInfo(policy.calendar(names[0]).timezone) if names else ZoneInfo("UTC")


def working_phrase(amount: timedelta, calendar: str | None, policy: Policy) -> str:
    """`2 working days`, `1 working day 3h`, or `5h 30m` for wall-clock time and shorter spans."""
    if calendar is None or policy.calendar(calendar).is_24x7:
        return format_duration(amount)
    day = policy.calendar(calendar).working_day
    days, rest = divmod(amount, day)
    if not days:
        return format_duration(rest)
    text = f"{days} working day{'s' if days != 1 else ''}"
    return text if rest < timedelta(minutes=1) else f"{text} {format_duration(rest)}"


def stamp(instant: datetime) -> str:
    """An instant as it appears in keys: UTC, to the minute."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _in(value: str | None, names: Iterable[str]) -> bool:
    return value is not None and value.lower() in (n.lower() for n in names)


# ------------------------------------------------------------------------------------------------------
# flags
def _flags(ctx: Context) -> Outcome:
    """Each flag acts once per ticket: what it has done (its keys) it never does again."""
    out = Outcome()
    policy, ticket = ctx.policy, ctx.ticket
    facts = policy_facts(policy)
    priority, tier_rank = ticket.priority, facts.tier_rank(ctx.tier)
    for rule in policy.spec.flags:
        base = f"{ctx.key}:flag:{rule.id}"
        label_due = bool(rule.label) and rule.label not in ticket.labels and not ctx.done(f"{base}:label")
        priority_due = (
            rule.priority is not None
            and facts.priority_rank(rule.priority) < facts.priority_rank(priority)
            and not ctx.done(f"{base}:priority")
        )
        tier_due = rule.to is not None and facts.tier_rank(rule.to) > tier_rank
        comment_due = rule.comment is not None and not ctx.done(f"{base}:comment")
        if not (label_due or priority_due or tier_due or comment_due):
            continue  # everything this flag can do is done: no need to scan the ticket again
        state = ticket if "updated" in rule.on else ctx.creation_state()
        if not rule.when.matches(state):
            continue
        findings = sorted({f.kind for text in ticket_texts(state) for f in find_secrets(text)})
        reason = f"Flagged by {rule.id}: {rule.when.explain(state)}"
        if findings:
            reason += f" ({', '.join(findings)})"
        if label_due and rule.label:
            out.actions.append(Label(**ctx.common(f"{base}:label", rule.id, reason), add=(rule.label,)))
        if priority_due and rule.priority:
            out.actions.append(
                SetPriority(**ctx.common(f"{base}:priority", rule.id, reason), priority=rule.priority)
            )
            priority = rule.priority
        if tier_due and rule.to:
            out.actions.append(ctx.move_to_tier(rule.to, rule.id, reason))
            tier_rank = facts.tier_rank(rule.to)
        if comment_due and rule.comment:
            out.actions.append(
                ctx.after(out.actions).comment_from(
                    rule.comment, f"{base}:comment", rule.id, "flags", reason, findings=findings
                )
            )
    return out


# ------------------------------------------------------------------------------------------------------
# classify
def _classify(ctx: Context) -> Outcome:
    """On creation, the first matching rule on the ticket as created (with what flags did to it), unless
    a person changed the priority; on update, the highest priority of the matching rules, only upwards.
    A priority the bridge itself set (a flag, a raise on update) is never lowered."""
    out = Outcome()
    policy, ticket = ctx.policy, ctx.ticket
    facts = policy_facts(policy)
    rules = policy.spec.classify
    priority = ticket.priority
    key = f"{ctx.key}:classify"
    if not ctx.done(key) and not any(c.field == PRIORITY and c.author != BOT_AUTHOR for c in ticket.changes):
        # The ticket as created plus the bridge's own first changes: a flag that made it P1 is seen.
        created = ctx.creation_state(include_own_changes=True)
        rule = next((r for r in rules if "created" in r.on and r.when.matches(created)), None)
        # A priority the bridge already set (a flag, a raise on update) is never lowered by it.
        lowers_its_own = any(
            c.field == PRIORITY and c.author == BOT_AUTHOR for c in ticket.changes
        ) and facts.priority_rank(rule.priority if rule else None) >= facts.priority_rank(priority)
        if rule is not None and rule.priority != priority and not lowers_its_own:
            reason = f"Priority set to {rule.priority} by {rule.id}: {rule.when.explain(created)}"
            action = SetPriority(**ctx.common(key, rule.id, reason), priority=rule.priority)
            out.actions.append(action)
            if rule.comment:
                out.actions.append(
                    ctx.after([action]).comment_from(
                        rule.comment, f"{key}:comment", rule.id, "classify", reason
                    )
                )
            return out
    matching = [r for r in rules if "updated" in r.on and r.when.matches(ticket)]
    # The highest priority any matching rule gives (the first of them at a tie), not the first match:
    # a later rule that raises further must not be hidden by an earlier one that does not.
    rule = min(matching, key=lambda r: facts.priority_rank(r.priority), default=None)
    if rule is not None and facts.priority_rank(rule.priority) < facts.priority_rank(priority):
        raised = f"{ctx.key}:classify:{rule.id}:{rule.priority}"
        reason = f"Priority raised to {rule.priority} by {rule.id}: {rule.when.explain(ticket)}"
        action = SetPriority(**ctx.common(raised, rule.id, reason), priority=rule.priority)
        out.actions.append(action)
        if rule.comment:
            out.actions.append(
                ctx.after([action]).comment_from(
                    rule.comment, f"{raised}:comment", rule.id, "classify", reason
                )
            )
    return out


# ------------------------------------------------------------------------------------------------------
# validate
@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    rule: str = "required"


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def problems(rule: ValidationRule, ticket: Ticket) -> list[Problem]:
    """What is missing or wrong on the ticket according to one validation rule."""
    found: list[Problem] = []
    for name in rule.required:
        if is_empty(ticket.field_value(name)):
            found.append(Problem(name, f"{name} is missing", rule.id))
    for name, fmt in rule.formats.items():
        value = ticket.field_value(name)
        if is_empty(value):
            continue
        text = str(value).strip()
        wrong = None
        if fmt.regex is not None and not _regex(fmt.regex).fullmatch(text):
            wrong = f"{name} does not look right (expected {fmt.regex})"
        elif fmt.allowed is not None and text not in fmt.allowed:
            wrong = f"{name} must be one of: {', '.join(fmt.allowed)}"
        elif fmt.min_length is not None and len(text) < fmt.min_length:
            wrong = f"{name} must be at least {fmt.min_length} characters"
        if wrong is not None:
            found.append(Problem(name, f"{name}: {fmt.message}" if fmt.message else wrong, rule.id))
    return found


def _asked(ctx: Context, prefix: str) -> set[str]:
    """Fields already asked for, read back from the keys of earlier requests (`KEY:missing:A|B`)."""
    asked: set[str] = set()
    for key in ctx.ticket.done:
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            if ":" not in rest:
                asked.update(rest.split("|"))
    return asked


def _validate(ctx: Context) -> Outcome:
    out = Outcome()
    validation = ctx.policy.spec.validate_
    if validation is None:
        return out
    memo = policy_facts(ctx.policy).memo
    rules: list[ValidationRule] = memo.get("validation_rules") or memo.setdefault(
        "validation_rules", validation.all_rules()
    )
    for rule in rules:
        if rule.before:
            out.actions.extend(_enforce_before(ctx, rule))
    if ctx.resolved or out.actions:
        return out  # nothing is asked of the customer on a resolved ticket
    ticket = ctx.ticket
    state = ticket if "updated" in validation.check_on else ctx.creation_state()
    found: list[Problem] = []
    for rule in rules:
        if not rule.before and rule.when.matches(state):
            found.extend(p for p in problems(rule, state) if p.field not in {q.field for q in found})
    on_missing = validation.on_missing
    prefix = f"{ctx.key}:missing:"
    asked = _asked(ctx, prefix)
    new = [p for p in found if p.field not in asked]
    if new:
        key = prefix + "|".join(sorted(p.field for p in new))
        rule_id = new[0].rule
        reason = "Asked the customer for what is missing or wrong: " + "; ".join(p.message for p in new)
        if on_missing.comment is not None:
            out.actions.append(
                ctx.comment_from(
                    on_missing.comment, key, rule_id, "validate", reason, problems=[p.message for p in new]
                )
            )
        if on_missing.label and on_missing.label not in ticket.labels:
            out.actions.append(Label(**ctx.common(f"{key}:label", rule_id, reason), add=(on_missing.label,)))
        if on_missing.transition and not _in(ticket.status, [on_missing.transition]):
            out.actions.append(
                Transition(**ctx.common(f"{key}:transition", rule_id, reason), status=on_missing.transition)
            )
    elif not found and asked:
        key = f"{ctx.key}:fixed:" + "|".join(sorted(asked))
        if not ctx.done(key):
            reason = "The customer supplied the missing information: " + ", ".join(sorted(asked))
            if on_missing.label and on_missing.label in ticket.labels:
                out.actions.append(
                    Label(**ctx.common(f"{key}:label", "required", reason), remove=(on_missing.label,))
                )
            if on_missing.transition and _in(ticket.status, [on_missing.transition]):
                back = on_missing.return_to or _status_before(ticket, on_missing.transition)
                if back:
                    out.actions.append(
                        Transition(**ctx.common(f"{key}:transition", "required", reason), status=back)
                    )
            out.actions.append(
                ctx.after(out.actions).comment(
                    key, "required", "validate", reason, "missing-info-fixed", True
                )
            )
    return out


def _status_before(ticket: Ticket, status: str) -> str | None:
    """The status the ticket was in before it last entered `status`."""
    for change in reversed(ticket.changes):
        if change.field == STATUS and _in(change.new, [status]):
            return str(change.old) if change.old else None
    return None


def _enforce_before(ctx: Context, rule: ValidationRule) -> list[Action]:
    ticket = ctx.ticket
    if not _in(ticket.status, rule.before) or not rule.when.matches(ticket):
        return []
    found = problems(rule, ticket)
    entered = next((c for c in reversed(ticket.changes) if c.field == STATUS), None)
    if not found or entered is None or not entered.old or entered.author == BOT_AUTHOR:
        return []  # the bridge's own transitions (closing a stale ticket) are not refused
    key = f"{ctx.key}:before:{rule.id}:{stamp(entered.at)}"
    reason = (
        f"Moved back to {entered.old}: {ticket.status} needs "
        + "; ".join(p.message for p in found)
        + f" (rule {rule.id})"
    )
    body_lines = [reason] + [f"- {p.message}" for p in found]
    return [
        Transition(**ctx.common(key, rule.id, reason), status=str(entered.old)),
        AddComment(**ctx.common(f"{key}:comment", rule.id, reason), body="\n".join(body_lines), public=False),
    ]


# ------------------------------------------------------------------------------------------------------
# acknowledge
def _acknowledge(ctx: Context) -> Outcome:
    out = Outcome()
    ack = ctx.policy.spec.acknowledge
    key = f"{ctx.key}:ack"
    if ack is None or ctx.done(key) or ctx.resolved or not ack.when.matches(ctx.ticket):
        return out
    reason = "Acknowledged receipt of the request"
    out.actions.append(ctx.comment(key, ack.id, "acknowledge", reason, ack.template, ack.public))
    return out


# ------------------------------------------------------------------------------------------------------
# escalate
Trigger = Callable[[Context, EscalateRule, Outcome], str | None]


def _on_created(ctx: Context, rule: EscalateRule, out: Outcome) -> str | None:
    created = ctx.creation_state(include_own_changes=True)
    if ctx.cycle != 1 or not rule.when.matches(created):
        return None
    return f"Escalated to {rule.to} on creation: {rule.when.explain(created)}"


def _after_time_in_tier(ctx: Context, rule: EscalateRule, out: Outcome) -> str | None:
    assert rule.after is not None
    timeline = ctx.timeline
    reach = timeline.reach(
        targets_of(rule.after, ctx.policy), timeline.tier_since, timeline.resolved_at, skip_resolved=True
    )
    if reach.reached_at is None:
        out.wait_until(reach.due_at)
        return None
    part = rule.after.parts[reach.part]
    pieces = timeline.windows(timeline.tier_since, ctx.now, skip_resolved=True)
    elapsed = timeline.running_time(part.calendar, pieces)
    paused = timeline.paused_time(part.calendar, pieces)
    reason = (
        f"Escalated to {rule.to}: {working_phrase(elapsed, part.calendar, ctx.policy)} in {ctx.tier}"
        f" (limit {rule.after})"
    )
    if paused > timedelta():
        statuses = " or ".join(timeline.pause_reasons(timeline.tier_since, ctx.now))
        reason += f", {working_phrase(paused, part.calendar, ctx.policy)} paused while {statuses}"
    return reason


def _on_breach(ctx: Context, rule: EscalateRule, out: Outcome) -> str | None:
    assert rule.of is not None
    clock = ctx.clocks[rule.of]
    if clock.stopped is not None or clock.goal is None:
        return None
    if not clock.breached:
        out.wait_until(clock.breach_at)
        return None
    by = format_duration(clock.breached_by or timedelta())
    return f"Escalated to {rule.to}: the {CLOCK_LABELS[rule.of]} target ({clock.goal}) is breached by {by}"


def _at_share(ctx: Context, rule: EscalateRule, out: Outcome) -> str | None:
    assert rule.of is not None and rule.at is not None
    clock = ctx.clocks[rule.of]
    if clock.stopped is not None or clock.goal is None or clock.started is None:
        return None
    reach = ctx.timeline.reach(targets_of(clock.goal, ctx.policy, rule.at.fraction), clock.started, None)
    if reach.reached_at is None:
        out.wait_until(reach.due_at)
        return None
    return (
        f"Escalated to {rule.to}: {rule.at} of the {CLOCK_LABELS[rule.of]} target ({clock.goal}) has elapsed"
    )


def _trigger(rule: EscalateRule) -> Trigger:
    if rule.on == "created":
        return _on_created
    if rule.on == "breach":
        return _on_breach
    if rule.at is not None:
        return _at_share
    return _after_time_in_tier


def _escalate(ctx: Context) -> Outcome:
    out = Outcome()
    if ctx.resolved:
        return out
    policy = ctx.policy
    facts = policy_facts(policy)
    current = ctx.tier
    moved = False
    for rule in policy.spec.escalate:
        # Never down, never sideways: only rules that would raise the ticket above where it is now.
        if facts.tier_rank(rule.to) <= facts.tier_rank(current):
            continue
        if rule.from_ and not _in(current, rule.from_):
            continue
        if moved and rule.after is not None:
            continue  # time in the new tier has only just started
        if rule.on != "created" and not rule.when.matches(ctx.ticket):
            continue
        reason = _trigger(rule)(ctx, rule, out)
        if reason is None:
            continue
        move = ctx.move_to_tier(rule.to, rule.id, reason)
        out.actions.append(move)
        if rule.comment is not None:
            out.actions.append(
                ctx.after(out.actions).comment_from(
                    rule.comment, f"{move.key}:comment", rule.id, "escalate", reason, to=rule.to
                )
            )
        current, moved = rule.to, True
    return out


# ------------------------------------------------------------------------------------------------------
# notify
def _notify(ctx: Context) -> Outcome:
    out = Outcome()
    for rule in ctx.policy.spec.notify:
        if not rule.when.matches(ctx.ticket):
            continue
        clock = ctx.clocks[rule.of]
        if clock.started is None or clock.stopped is not None:
            continue
        for point in rule.at:
            key = f"{ctx.key}:notify:{rule.id}:{point}"
            if rule.of == RESOLUTION:
                key = ctx.cycle_key(key)
            if ctx.done(key):
                continue
            if isinstance(point, Percent):
                if clock.goal is None:
                    continue
                targets = targets_of(clock.goal, ctx.policy, point.fraction)
            else:
                targets = [duration_target(point, ctx.policy)]
            reach = ctx.timeline.reach(targets, clock.started, None)
            if reach.reached_at is None:
                out.wait_until(reach.due_at)
                continue
            label = CLOCK_LABELS[rule.of]
            reason = _notify_reason(ctx, clock, point, label)
            out.actions.append(
                ctx.comment(
                    key,
                    rule.id,
                    "notify",
                    reason,
                    rule.template,
                    rule.public,
                    rule.mention,
                    point=str(point),
                    clock=clock_data(clock, ctx.policy),
                    clock_name=label,
                )
            )
    return out


def _notify_reason(ctx: Context, clock: Clock, point: Percent | Duration, label: str) -> str:
    priority = ctx.ticket.priority or "no priority"
    if isinstance(point, Percent):
        return f"{priority} ticket reached {point} of its {label} target ({clock.goal})"
    return f"{priority} ticket has had {point} on its {label} clock"


# ------------------------------------------------------------------------------------------------------
# updates
def _updates(ctx: Context) -> Outcome:
    out = Outcome()
    updates = ctx.policy.spec.updates
    if updates is None or ctx.resolved or ctx.timeline.paused_now:
        return out
    stale = ctx.policy.spec.stale
    if stale is not None and _in(ctx.ticket.status, stale.status):
        return out  # waiting on the customer: the stale rule's reminders speak instead
    if not updates.when.matches(ctx.ticket):
        return out
    every = _goal_for(updates.every, ctx.ticket.priority)
    if every is None:
        return out
    since = max(ctx.timeline.last_public_update(), _last_update_due(ctx))
    reach = ctx.timeline.reach(targets_of(every, ctx.policy), since, None)
    if reach.reached_at is None:
        out.wait_until(reach.due_at)
        return out
    key = f"{ctx.key}:update:{stamp(reach.reached_at)}"
    reason = f"No public update for {every} (every {every} at {ctx.ticket.priority or 'this priority'})"
    out.actions.append(ctx.comment(key, updates.id, "updates", reason, updates.template, updates.public))
    return out


def _last_update_due(ctx: Context) -> datetime:
    """When the last update this rule posted was due (read from its keys), so that internal updates,
    which do not count as a public word to the customer, still come at the right rhythm."""
    prefix = f"{ctx.key}:update:"
    latest = ctx.timeline.cycle_start
    for key in ctx.ticket.done:
        if key.startswith(prefix):
            try:
                due = datetime.strptime(key[len(prefix) :], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
            except ValueError:
                continue
            latest = max(latest, due)
    return latest


def _goal_for(goals: Mapping[str, Limit], priority: str | None) -> Limit | None:
    if priority is not None and priority in goals:
        return goals[priority]
    return goals.get("default")


# ------------------------------------------------------------------------------------------------------
# stale
def _stale(ctx: Context) -> Outcome:
    out = Outcome()
    stale = ctx.policy.spec.stale
    if stale is None:
        return out
    since = ctx.timeline.waiting_since(stale.status)
    if since is None:
        return out
    policy = ctx.policy
    base = f"{ctx.key}:stale"
    close_at = _after(policy, since, stale.close_after)
    if stale.remind_after is not None:
        remind_at = _after(policy, since, stale.remind_after)
        key = f"{base}:remind:{stamp(since)}"
        if remind_at > ctx.now:
            out.wait_until(remind_at)
        elif not ctx.done(key) and close_at > ctx.now:
            reason = f"No reply from the customer for {stale.remind_after} since {_human(since, policy)} ({ctx.ticket.status})"
            out.actions.append(
                ctx.comment(
                    key,
                    stale.id,
                    "stale",
                    reason,
                    stale.remind_template,
                    stale.public,
                    close_at=close_at,
                    waited=str(stale.remind_after),
                )
            )
    if close_at > ctx.now:
        out.wait_until(close_at)
        return out
    key = f"{base}:close:{stamp(since)}"
    reason = f"Closed: no reply from the customer for {stale.close_after} since {_human(since, policy)} ({ctx.ticket.status})"
    out.actions.append(
        ctx.comment(
            f"{key}:comment",
            stale.id,
            "stale",
            reason,
            stale.close_template,
            stale.public,
            close_at=close_at,
            waited=str(stale.close_after),
        )
    )
    out.actions.append(
        Transition(**ctx.common(key, stale.id, reason), status=stale.transition, resolution=stale.resolution)
    )
    return out


def _human(instant: datetime, policy: Policy) -> str:
    """An instant in a reason: `Mon 23 Nov 10:00`, in the policy's office time zone."""
    return instant.astimezone(_zone(policy, None)).strftime("%a %d %b %H:%M")


def _after(policy: Policy, start: datetime, duration: Duration) -> datetime:
    target = duration_target(duration, policy)
    if target.calendar is None or target.calendar in policy_facts(policy).always:
        return start + target.amount
    return policy.calendar(target.calendar).add(start, target.amount)


# ------------------------------------------------------------------------------------------------------
# feedback
def _feedback(ctx: Context) -> Outcome:
    out = Outcome()
    feedback = ctx.policy.spec.feedback
    resolved_at = ctx.timeline.resolved_at
    if feedback is None or resolved_at is None or not _in(ctx.ticket.status, feedback.on):
        return out
    key = ctx.cycle_key(f"{ctx.key}:feedback")
    if ctx.done(key):
        return out
    due = _after(ctx.policy, resolved_at, feedback.delay)
    if due > ctx.now:
        out.wait_until(due)
        return out
    reason = f"Resolved ({ctx.ticket.status}): asking the customer for feedback"
    out.actions.append(ctx.comment(key, feedback.id, "feedback", reason, feedback.template, feedback.public))
    return out


# ------------------------------------------------------------------------------------------------------
# credits
def _credits(ctx: Context) -> Outcome:
    out = Outcome()
    credits = ctx.policy.spec.credits
    if credits is None or ctx.timeline.resolved_at is None:
        return out
    clock = ctx.clocks[RESOLUTION]
    if clock.stopped is None or not clock.breached or clock.breached_at is None:
        return out
    key = ctx.cycle_key(f"{ctx.key}:credits")
    priority = ctx.timeline.priority_at(clock.stopped)
    # No `priorities` listed means every priority earns credits.
    if ctx.done(key) or (credits.priorities and not _in(priority, credits.priorities)):
        return out
    if credits.exclude is not None and credits.exclude.matches(ctx.ticket):
        return out
    timeline = ctx.timeline
    breach = timeline.running_time(credits.hours, timeline.windows(clock.breached_at, clock.stopped))
    # Each hour in breach or part of one counts, on the `hours` calendar, paused time excluded.
    hours = math.ceil(breach / timedelta(hours=1) - 1e-9)
    uncapped = hours * credits.percent_per_hour
    percent = min(uncapped, credits.cap_percent)
    figure = _number(percent)
    reason = (
        f"Service credit {figure}%: {hours} hour{'s' if hours != 1 else ''} in breach of the"
        f" {clock.goal} resolution target at {priority}"
        + (f" (capped at {_number(credits.cap_percent)}%)" if uncapped > credits.cap_percent else "")
    )
    credit = {
        "percent": figure,
        "hours": hours,
        "capped": uncapped > credits.cap_percent,
        "cap": _number(credits.cap_percent),
    }
    out.actions.append(
        ctx.comment_from(
            credits.comment,
            key,
            credits.id,
            "credits",
            reason,
            credit=credit,
            clock=clock_data(clock, ctx.policy),
        )
    )
    if credits.field:
        out.actions.append(
            SetField(**ctx.common(f"{key}:field", credits.id, reason), field=credits.field, value=percent)
        )
    return out


def _number(value: float) -> str:
    return f"{value:g}"


# ------------------------------------------------------------------------------------------------------
Handler = Callable[[Context], Outcome]

#: rule kind -> handler, in the order they run (flags first: a security report outranks everything).
HANDLERS: dict[str, Handler] = {
    "flags": _flags,
    "classify": _classify,
    "acknowledge": _acknowledge,
    "validate": _validate,
    "escalate": _escalate,
    "notify": _notify,
    "updates": _updates,
    "stale": _stale,
    "feedback": _feedback,
    "credits": _credits,
}


def decide(ticket: Ticket, policy: Policy, now: datetime) -> Decision:
    """The actions due on `ticket` at `now` under `policy` that are not yet in `ticket.done`, the earliest
    future instant at which anything more could become due, and the ticket's clocks at `now`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"decide() needs a time-zone-aware `now`; got {now!r}")
    ctx = Context(in_time_order(ticket), policy, now)
    clocks = ctx.clocks
    actions: list[Action] = []
    due: list[datetime] = []
    for handler in HANDLERS.values():
        outcome = handler(ctx)
        due.extend(instant for instant in outcome.due if instant > now)
        new = [a for a in outcome.actions if a.key not in ctx.ticket.done]
        if new:
            actions.extend(new)
            ctx = ctx.amended(new)
    return Decision(actions=tuple(actions), next_due=min(due) if due else None, clocks=clocks)


__all__ = [
    "HANDLERS",
    "Context",
    "Decision",
    "Outcome",
    "clock_data",
    "decide",
    "human_goal",
    "problems",
    "stamp",
]
