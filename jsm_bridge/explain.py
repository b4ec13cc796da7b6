"""`jsm-bridge explain KEY`: one ticket's clocks, JSM's own SLAs beside them, what is due now and next, and why.

`explanation()` is pure (a ticket, a policy, an instant); the command adds Jira, the ledger and printing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jsm_bridge.actions import Action, apply_all
from jsm_bridge.policy.durations import format_duration
from jsm_bridge.policy.model import Policy
from jsm_bridge.ticket import Ticket

LOOKAHEAD_STEPS = 12  # instants looked at ahead of now; enough for a ticket's next few escalations
ROUNDS_PER_INSTANT = 20  # actions that cause further actions at the same instant, as the simulator allows


@dataclass(frozen=True)
class Upcoming:
    """An action that will become due at `at` if nothing else happens to the ticket."""

    at: datetime
    action: Action


@dataclass(frozen=True)
class Explanation:
    """Everything `explain` shows about one ticket at one instant."""

    ticket: Ticket
    policy: str
    now: datetime
    tier: str | None
    clocks: Mapping[str, Any]
    due_now: tuple[Action, ...]
    upcoming: tuple[Upcoming, ...]
    jsm_slas: tuple[Any, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.key,
            "policy": self.policy,
            "now": self.now.isoformat(),
            "status": self.ticket.status,
            "priority": self.ticket.priority,
            "tier": self.tier,
            "clocks": {name: clock_json(clock) for name, clock in self.clocks.items()},
            "jsm_slas": [sla_json(metric) for metric in self.jsm_slas],
            "due_now": [action.to_dict() for action in self.due_now],
            "upcoming": [{**u.action.to_dict(), "at": u.at.isoformat()} for u in self.upcoming],
        }


Decide = Callable[[Ticket, Policy, datetime], Any]


def explanation(
    ticket: Ticket,
    policy: Policy,
    now: datetime,
    *,
    decide: Decide | None = None,
    steps: int = LOOKAHEAD_STEPS,
    jsm_slas: Sequence[Any] = (),
) -> Explanation:
    """The ticket's clocks and due actions at `now`, and the actions after it: decided at each next_due
    in turn on a copy of the ticket with the earlier actions applied, as the simulator does, for at
    most `steps` instants."""
    if decide is None:
        from jsm_bridge.engine import decide as engine_decide

        decide = engine_decide
    decision = decide(ticket, policy, now)
    due_now = tuple(decision.actions)
    upcoming: list[Upcoming] = []
    future = apply_all(ticket, list(due_now), now)
    at = decision.next_due
    for _ in range(steps):
        if at is None:
            break
        next_at = None
        for _round in range(ROUNDS_PER_INSTANT):
            step = decide(future, policy, at)
            next_at = step.next_due
            new = [a for a in step.actions if a.key not in future.done]
            if not new:
                break
            upcoming.extend(Upcoming(at, a) for a in new)
            future = apply_all(future, new, at)
        if next_at is None or next_at <= at:
            break
        at = next_at
    tier = ticket.tier or (policy.tiers[0].name if policy.tiers else None)
    return Explanation(
        ticket=ticket,
        policy=policy.name,
        now=now,
        tier=tier,
        clocks=dict(decision.clocks),
        due_now=due_now,
        upcoming=tuple(upcoming),
        jsm_slas=tuple(jsm_slas),
    )


# -- presenting ------------------------------------------------------------------------------------


def clock_json(clock: Any) -> dict[str, Any]:
    return {
        "goal": str(clock.goal) if clock.goal is not None else None,
        "calendar": clock.calendar,
        "started": _iso(clock.started),
        "stopped": _iso(clock.stopped),
        "elapsed_seconds": clock.elapsed.total_seconds(),
        "paused_seconds": clock.paused.total_seconds(),
        "remaining_seconds": None if clock.remaining is None else clock.remaining.total_seconds(),
        "paused_now": clock.paused_now,
        "breached": clock.breached,
        "breach_at": _iso(clock.breach_at),
        "breached_at": _iso(clock.breached_at),
    }


def sla_json(metric: Any) -> dict[str, Any]:
    cycle = metric.ongoing or (metric.completed[-1] if metric.completed else None)
    out: dict[str, Any] = {"name": metric.name, "ongoing": metric.ongoing is not None}
    if cycle is not None:
        out.update(
            goal_seconds=_seconds(cycle.goal),
            elapsed_seconds=_seconds(cycle.elapsed),
            remaining_seconds=_seconds(cycle.remaining),
            breach_time=_iso(cycle.breach_time),
            breached=cycle.breached,
            paused=cycle.paused,
        )
    return out


def format_explanation(ex: Explanation) -> str:
    t = ex.ticket
    lines = [
        f"{t.key} under policy {ex.policy}, at {_when(ex.now)}",
        f"  status {t.status}, priority {t.priority or '(none)'}, tier {ex.tier or '(none)'}",
        "",
        "Clocks",
    ]
    shown = [(n, c) for n, c in ex.clocks.items() if c.goal is not None or c.started is not None]
    if not shown:
        lines.append("  (none: the policy sets no target that applies)")
    for name, clock in shown:
        state = _clock_state(clock)
        lines.append(
            f"  {name:<15} goal {str(clock.goal) if clock.goal is not None else '-':<12} "
            f"elapsed {format_duration(clock.elapsed):<9} paused {format_duration(clock.paused):<9} "
            f"remaining {format_duration(clock.remaining) if clock.remaining is not None else '-':<9} {state}"
        )
    if ex.jsm_slas:
        lines += ["", "JSM's own SLAs"]
        for metric in ex.jsm_slas:
            data = sla_json(metric)
            lines.append(
                f"  {metric.name:<30} goal {_dur(data.get('goal_seconds')):<9} "
                f"elapsed {_dur(data.get('elapsed_seconds')):<9} "
                f"remaining {_dur(data.get('remaining_seconds')):<9} "
                + ("breached" if data.get("breached") else f"breach {_when(_parse(data.get('breach_time')))}")
                + (" (paused)" if data.get("paused") else "")
            )
    lines += ["", "Due now"]
    lines += [_action_line(a) for a in ex.due_now] or ["  nothing"]
    lines += ["", "Upcoming (if nothing else happens)"]
    lines += [_action_line(u.action, u.at) for u in ex.upcoming] or ["  nothing scheduled"]
    return "\n".join(lines)


def _clock_state(clock: Any) -> str:
    if clock.stopped is not None:
        return f"stopped {_when(clock.stopped)}" + (" (breached)" if clock.breached else "")
    if clock.breached:
        return f"breached {_when(clock.breached_at)}" if clock.breached_at else "breached"
    if clock.paused_now:
        return "paused now"
    return f"breach at {_when(clock.breach_at)}" if clock.breach_at else ""


def _action_line(action: Action, at: datetime | None = None) -> str:
    params = action.params()
    what = params.get("to") or params.get("status") or params.get("priority") or params.get("field") or ""
    if action.kind == "comment":
        what = "public" if params.get("public") else "internal"
    when = f"{_when(at)}  " if at is not None else ""
    return f"  {when}{action.kind:<12} {str(what):<20} rule {action.rule}: {action.reason}"


def _when(instant: datetime | None) -> str:
    if instant is None:
        return "-"
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value.total_seconds())


def _dur(seconds: float | None) -> str:
    from datetime import timedelta

    return "-" if seconds is None else format_duration(timedelta(seconds=seconds))


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# -- the command -----------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", metavar="KEY", help="the ticket's key, e.g. SUP-12")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--steps", type=int, default=LOOKAHEAD_STEPS, help="instants to look ahead (default %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    from jsm_bridge.runtime import ConfigurationError, Runtime

    try:
        runtime = Runtime.from_env()
    except (ConfigurationError, ValueError) as error:
        print(f"jsm-bridge explain: {error}", file=sys.stderr)
        return 2
    runtime.store.migrate()
    key = args.key.strip().upper()
    policy = runtime.processor.policy_for(key)
    if policy is None:
        names = ", ".join(p.name for p in runtime.policies)
        print(f"{key} is outside the scope of every loaded policy ({names})", file=sys.stderr)
        return 1
    try:
        ticket = runtime.gateway.fetch_ticket(key, policy)
    except Exception as error:
        print(f"jsm-bridge explain: cannot read {key}: {error}", file=sys.stderr)
        return 1
    ticket = ticket.with_done(*runtime.store.ledger_done_keys(key))
    try:
        slas = runtime.gateway.request_sla(key)
    except Exception:  # not a JSM request, or the site has no SLAs: show ours alone
        slas = []
    ex = explanation(ticket, policy, runtime.clock.now(), steps=args.steps, jsm_slas=slas)
    if args.json:
        print(json.dumps(ex.to_json(), indent=2))
    else:
        print(format_explanation(ex))
    return 0
