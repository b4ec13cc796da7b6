"""How fast decide() is on realistic tickets (10-30 history events) under a full policy, on one core.

Run: `python bench/bench_decide.py [--tickets N] [--seconds S]`. The baseline loop builds the same
tickets and nothing else; the ratio says how much work a decision is compared with building its input."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jsm_bridge.actions import apply_all
from jsm_bridge.engine import decide
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.ticket import Change, Comment, Ticket

POLICY = Path(__file__).resolve().parent.parent / "tests" / "policies" / "full.yaml"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
STATUSES = ["In Progress", "Awaiting third party", "In Progress", "Waiting for customer", "In Progress"]


def recipe(rng: random.Random, index: int) -> dict[str, Any]:
    """The data of one ticket: creation, 10-30 events (status, priority, fields, comments)."""
    created = START + timedelta(hours=rng.randrange(0, 24 * 14), minutes=rng.randrange(60))
    at = created
    changes: list[tuple[datetime, str, Any, Any]] = []
    comments: list[tuple[datetime, str, str, bool, str]] = []
    status, priority = "Open", rng.choice(["P1", "P2", "P3", "P3", "P4", "P5"])
    for _ in range(rng.randrange(10, 31)):
        at += timedelta(minutes=rng.randrange(10, 600))
        kind = rng.random()
        if kind < 0.35:
            new = rng.choice(STATUSES)
            changes.append((at, "status", status, new))
            status = new
        elif kind < 0.45:
            new = rng.choice(["P1", "P2", "P3"])
            changes.append((at, "priority", priority, new))
            priority = new
        elif kind < 0.55:
            changes.append((at, "Business impact", None, f"impact {index}"))
        elif kind < 0.8:
            comments.append((at, "agent-1", "agent", rng.random() < 0.8, "Working on it."))
        else:
            comments.append((at, "alice", "customer", True, "Any news?"))
    if rng.random() < 0.3:
        at += timedelta(hours=2)
        changes.append((at, "status", status, "Resolved"))
    fields = {"summary": f"Ticket {index}", "Organisation": "Acme", "Users affected": "Some users"}
    return {
        "key": f"CB-{index}",
        "created": created,
        "status": status,
        "priority": priority,
        "changes": [(when, name, old, new, "agent-1") for when, name, old, new in changes],
        "comments": comments,
        "fields": fields,
        "end": at,
    }


def build(data: dict[str, Any]) -> Ticket:
    """A Ticket from plain data, as the gateway builds one from an issue and its changelog."""
    return Ticket(
        key=data["key"],
        created=data["created"],
        status=data["status"],
        priority=data["priority"],
        reporter="alice",
        tier=data.get("tier"),
        labels=frozenset(data.get("labels", ())),
        fields=dict(data["fields"]),
        changes=tuple(Change(at, name, old, new, author) for at, name, old, new, author in data["changes"]),
        comments=tuple(
            Comment(at, author, role, public, body) for at, author, role, public, body in data["comments"]
        ),
        done=frozenset(data.get("done", ())),
    )


def settled(data: dict[str, Any], policy: Policy, now: datetime) -> dict[str, Any]:
    """The ticket's data once everything due up to `now` has been carried out (the sweeper's usual case:
    most decisions find nothing new to do)."""
    ticket = build(data)
    for _ in range(10):
        decision = decide(ticket, policy, now)
        if not decision.actions:
            break
        ticket = apply_all(ticket, decision.actions, now)
    return {
        "key": ticket.key,
        "created": ticket.created,
        "status": ticket.status,
        "priority": ticket.priority,
        "tier": ticket.tier,
        "labels": sorted(ticket.labels),
        "fields": dict(ticket.fields),
        "changes": [(c.at, c.field, c.old, c.new, c.author) for c in ticket.changes],
        "comments": [(c.at, c.author, c.role, c.public, c.body) for c in ticket.comments],
        "done": sorted(ticket.done),
    }


def rate(loop: Callable[[], int], seconds: float) -> float:
    """Iterations per second of CPU time used by this process (other load on the machine does not count)."""
    count, began, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - began < seconds:
        count += loop()
    return count / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    policy = load_policy(POLICY)
    rng = random.Random(20261125)
    recipes = [recipe(rng, i) for i in range(args.tickets)]
    nows = [r["end"] + timedelta(minutes=30) for r in recipes]
    recipes = [settled(r, policy, now) for r, now in zip(recipes, nows, strict=True)]
    tickets = [build(r) for r in recipes]
    events = sum(len(r["changes"]) + len(r["comments"]) for r in recipes) / len(recipes)

    def baseline() -> int:
        for r in recipes:
            build(r)
        return len(recipes)

    def decisions() -> int:
        for r, now in zip(recipes, nows, strict=True):
            decide(build(r), policy, now)
        return len(recipes)

    def decide_only() -> int:
        for t, now in zip(tickets, nows, strict=True):
            decide(t, policy, now)
        return len(tickets)

    def decide_and_clocks() -> int:
        for t, now in zip(tickets, nows, strict=True):
            dict(decide(t, policy, now).clocks)
        return len(tickets)

    base = rate(baseline, args.seconds)
    full = rate(decisions, args.seconds)
    only = rate(decide_only, args.seconds)
    clocks = rate(decide_and_clocks, args.seconds)
    print(f"policy {policy.name}, {len(tickets)} tickets, {events:.1f} history events each on average")
    print(f"baseline (build the ticket):        {base:12,.0f} /s")
    print(f"build + decide:                     {full:12,.0f} /s")
    print(f"decide on a built ticket:           {only:12,.0f} /s")
    print(f"decide, then read all five clocks:  {clocks:12,.0f} /s")
    print(f"ratio (build + decide) / baseline:  {base / full:12.1f}x the time of building the input")


if __name__ == "__main__":
    main()
