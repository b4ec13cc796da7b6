"""`jsm-bridge demo`: the whole bridge against the sandbox on a fast clock, checked against the simulator.

The sandbox, the receiver (real Flask app behind a WSGI server), its inbox workers and the sweeper run
in this process on local ports and share one ManualClock. The packs' scenario files become tickets,
comments and transitions made over the sandbox's REST API at their scripted instants; the clock jumps
from one interesting instant to the next (a scripted event, or the earliest time the bridge said it must
look again) and waits, at each, until webhooks are delivered and the inbox is empty. At the end what
happened in the sandbox and in the action ledger is compared with `simulate` on the same scenarios."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import requests

from jsm_bridge.actions import Action
from jsm_bridge.clock import ManualClock
from jsm_bridge.policy import Policy
from jsm_bridge.process import scope_projects
from jsm_bridge.simulate import Event, Scenario, ScenarioTicket, load_scenario, simulate
from jsm_bridge.ticket import ASSIGNEE, LABELS, PRIORITY, STATUS, TIER

log = logging.getLogger("jsm_bridge.demo")

LONDON = ZoneInfo("Europe/London")
#: the demo's Monday morning and the end of its working week
START = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)
END = datetime(2026, 11, 27, 18, 0, tzinfo=LONDON)
DEFAULT_REPORT = "jsm-bridge-demo-report.html"
WEBHOOK_NAME = "jsm-bridge demo"
RECEIVER_MODULE = "webhooks.app"  # create_app(config) and shutdown(app)
BRIDGE_USER = "bridge"
AGENT_USER = "agent"
ADMIN_USER = "admin"
#: how long one instant may take to settle (webhooks delivered, inbox empty) before the demo gives up
SETTLE_TIMEOUT = 20.0

ROOT = Path(__file__).resolve().parent.parent
POLICIES_DIR = ROOT / "policies"
SCENARIOS_DIR = ROOT / "tests" / "scenarios"

#: The scenarios each policy plays: those of its pack that fit in the demo's week, one ticket each.
#: (Scenarios about Christmas or the clock change happen in other weeks and stay with the tests.)
SCENARIOS: dict[str, tuple[str, ...]] = {
    "capital-bytes": (
        "all-users-is-p1",
        "general-query-is-p5",
        "organisation-and-contract-requested",
        "p2-and-higher-straight-to-systems-engineering",
        "priority-raised-to-p1-recomputes-target",
        "se-to-dev-after-2-business-days",
        "se-to-dev-paused-awaiting-third-party",
        "service-credit-capped-at-25-percent",
        "customer-notified-of-ticket-number",
    ),
    "cfh-docmail": (
        "feedback-requested-after-resolution",
        "first-response-within-4-working-hours",
        "first-response-in-time-needs-no-escalation",
        "conclusion-overdue-escalated-to-senior-support",
        "conclusion-clock-stops-while-waiting-for-customer",
        "customer-reply-restarts-the-5-days",
        "secret-in-request-flagged",
        "unwanted-personal-data-flagged-for-removal",
    ),
    "cfts": (
        "client-side-issue-marked-for-scope-check",
        "guidance-request-is-advisory",
        "impact-greater-than-reported-raises-severity",
        "infrastructure-incident-labelled",
        "password-in-request-flagged",
        "planned-change-needs-coordination",
        "suspected-security-incident-flagged",
        "time-sensitive-reply-escalated",
        "what-to-include-requested",
    ),
    "cts": (
        "module-down-is-p2-updated-every-4-hours",
        "patch-delivery-date-before-resolving",
        "problem-exists-is-p3-by-default",
        "workaround-is-p3-updated-weekly",
        "minor-is-p4-deferred-maintenance",
    ),
    "tiered-helpdesk": (
        "awaiting-statuses-stop-the-clock",
        "first-line-at-most-1-working-day",
        "second-line-at-most-2-working-days",
        "project-or-testing-status-goes-to-project-manager",
        "reopened-call-keeps-its-first-line-time",
        "second-line-at-most-48-hours",
    ),
}


class DemoError(RuntimeError):
    """The demo could not run (a piece failed to start or an instant never settled)."""


# ------------------------------------------------------------------------------------------------------
# what is played


@dataclass
class DemoTicket:
    """One scenario ticket and the sandbox issue that plays it."""

    policy: Policy
    scenario: Scenario
    item: ScenarioTicket
    key: str = ""  # the sandbox's key, known once created

    @property
    def name(self) -> str:
        return f"{self.scenario.path.stem} ({self.item.ticket.key})"

    @property
    def project(self) -> str:
        return self.item.ticket.key.rsplit("-", 1)[0]


@dataclass(frozen=True)
class Step:
    """Something a person does in the sandbox at an instant: create a ticket, or play one event."""

    at: datetime
    order: int
    ticket: DemoTicket
    event: Event | None = None  # None: create the ticket


def load_plan(
    policy_names: Sequence[str] | None = None, scenarios_dir: Path = SCENARIOS_DIR
) -> list[DemoTicket]:
    """The tickets of every chosen policy's demo scenarios, in file order."""
    names = list(policy_names or SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise DemoError(f"no demo for policy {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if not scenarios_dir.is_dir():
        raise DemoError(
            f"no scenario files at {scenarios_dir}: the demo plays the packs' scenarios of a source "
            "checkout; install it with `pip install -e .` from the checkout"
        )
    tickets = []
    policies: dict[Path, Policy] = {}  # each pack's policy loaded once for all its scenarios
    for name in names:
        for stem in SCENARIOS[name]:
            scenario = load_scenario(scenarios_dir / name / f"{stem}.yaml", policies)
            for item in scenario.tickets:
                tickets.append(DemoTicket(scenario.policy, scenario, item))
    return tickets


def steps_of(tickets: Sequence[DemoTicket]) -> list[Step]:
    steps: list[Step] = []
    for ticket in tickets:
        steps.append(Step(ticket.item.ticket.created, len(steps), ticket))
        steps.extend(
            Step(event.at, len(steps) + i, ticket, event) for i, event in enumerate(ticket.item.events)
        )
    return sorted(steps, key=lambda s: (s.at, s.order))


def expected_actions(ticket: DemoTicket, until: datetime) -> list[Action]:
    """What the simulator says the policy does to this ticket up to `until`, under its sandbox key."""
    renamed = dataclasses.replace(ticket.item, ticket=dataclasses.replace(ticket.item.ticket, key=ticket.key))
    scenario = dataclasses.replace(ticket.scenario, tickets=(renamed,), until=until)
    return simulate(scenario).actions


ExpectFn = Callable[[DemoTicket, datetime], list[Action]]


# ------------------------------------------------------------------------------------------------------
# the sandbox as people at the site use it


class Site:
    """Customers and agents at the sandbox's Jira site, over its REST API."""

    def __init__(self, url: str, catalog: Any = None) -> None:
        self.url = url
        self.catalog = catalog  # the sandbox's workflow, to find a way to a status
        self.session = requests.Session()

    def call(self, method: str, path: str, user: str = AGENT_USER, **kw: Any) -> Any:
        response = self.session.request(method, f"{self.url}/{path}", auth=(user, "token"), timeout=10, **kw)
        if response.status_code >= 400:
            raise DemoError(f"{method} /{path} as {user}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    # -- writes --

    def create(self, ticket: DemoTicket) -> str:
        t = ticket.item.ticket
        policy = ticket.policy
        reporter = t.reporter or "customer"
        fields: dict[str, Any] = {
            "project": {"key": ticket.project},
            "summary": str(t.fields.get("summary") or ticket.name),
            "priority": {"name": policy.spec.priorities[t.priority].jira} if t.priority else None,
        }
        if t.labels:
            fields["labels"] = sorted(t.labels)
        if t.assignee:
            fields["assignee"] = {"name": t.assignee}
        if t.request_type:
            fields["customfield_10010"] = t.request_type
        for name, value in t.fields.items():
            if name == "summary":
                continue
            fields[field_id(policy, name)] = value
        if t.tier:
            fields.update(tier_fields(policy, t.tier))
        key = str(self.call("POST", "rest/api/2/issue", reporter, json={"fields": fields})["key"])
        if t.status and t.status.lower() != "open":
            self.transition(key, t.status)
        return key

    def play(self, key: str, ticket: DemoTicket, event: Event) -> None:
        policy = ticket.policy
        update: dict[str, Any] = {}
        for name, value in event.changes:
            if name == STATUS:
                self.transition(key, str(value))
            elif name == PRIORITY:
                update["priority"] = {"name": policy.spec.priorities[str(value)].jira}
            elif name == LABELS:
                update["labels"] = sorted(str(v) for v in value or ())
            elif name == ASSIGNEE:
                update["assignee"] = None if value is None else {"name": value}
            elif name == TIER:
                update.update(tier_fields(policy, str(value)))
            else:
                update[field_id(policy, name)] = value
        if update:
            self.call("PUT", f"rest/api/2/issue/{key}", AGENT_USER, json={"fields": update})
        comment = event.comment
        if comment is not None:
            body = {"body": comment.body, "public": comment.public}
            self.call("POST", f"rest/servicedeskapi/request/{key}/comment", comment.author, json=body)

    def transition(self, key: str, status: str) -> None:
        """Move an issue to a status: by the transition that leads there, else by the shortest way
        through the workflow (Resolved -> Reopen -> Open -> Start progress -> In Progress)."""
        current = str(self.issue(key)["fields"]["status"]["name"])
        for transition_id in self.path(current, status, key):
            body = {"transition": {"id": transition_id}}
            self.call("POST", f"rest/api/2/issue/{key}/transitions", AGENT_USER, json=body)

    def path(self, current: str, status: str, key: str) -> list[str]:
        if self.catalog is None or current.lower() == status.lower():
            return []
        seen = {current.lower()}
        queue: list[tuple[str, list[str]]] = [(current, [])]
        while queue:
            here, ids = queue.pop(0)
            for transition in self.catalog.transitions_from(here):
                if transition.to.lower() == status.lower():
                    return [*ids, transition.id]
                if transition.to.lower() not in seen:
                    seen.add(transition.to.lower())
                    queue.append((transition.to, [*ids, transition.id]))
        raise DemoError(f"{key}: no way from {current!r} to {status!r} in the sandbox's workflow")

    # -- reads --

    def issue(self, key: str) -> dict[str, Any]:
        return dict(self.call("GET", f"rest/api/2/issue/{key}", params={"expand": "changelog"}))

    def comments(self, key: str) -> list[dict[str, Any]]:
        data = self.call("GET", f"rest/api/2/issue/{key}/comment", params={"expand": "properties"})
        return list(data.get("comments", []))

    def done_keys(self, key: str) -> list[str]:
        try:
            data = self.call("GET", f"rest/api/2/issue/{key}/properties/jsm-bridge.actions")
        except DemoError:
            return []
        return [str(k) for k in data.get("value") or []]


def field_id(policy: Policy, name: str) -> str:
    """The Jira field id a scenario's field name stands for (the policy's `fields:` map, else itself)."""
    return policy.spec.fields.get(name, name)


def tier_fields(policy: Policy, tier: str) -> dict[str, Any]:
    for definition in policy.tiers:
        if definition.name == tier:
            return {field_id(policy, name): value for name, value in definition.set.items()}
    raise DemoError(f"policy {policy.name} has no tier {tier!r}")


def demo_catalog(policies: Sequence[Policy], statuses: Sequence[str] = ()) -> Any:
    """The sandbox's site with the custom fields the policies name (by the ids their `fields:` give)
    and the statuses the scenarios use (a status the default workflow lacks, such as Testing, is
    added as in progress, reachable from every open status)."""
    from jsm_bridge.sandbox.catalog import (
        DEFAULT_CUSTOM_FIELDS,
        Catalog,
        CustomField,
        Status,
        Transition,
        default_statuses,
        default_transitions,
    )

    named: dict[str, str] = {}
    for policy in policies:
        for name, fid in policy.spec.fields.items():
            if fid.startswith("customfield_"):
                named.setdefault(fid, name)
    kinds = {"Tier": "select", "Service credit": "number"}
    fields = [f for f in DEFAULT_CUSTOM_FIELDS if f.id not in named and f.name not in named.values()]
    fields += [CustomField(fid, name, kinds.get(name, "text")) for fid, name in sorted(named.items())]
    known = default_statuses()
    names = {s.name.lower() for s in known}
    missing = list(dict.fromkeys(n for n in statuses if n.lower() not in names))
    all_statuses = known + tuple(
        Status(str(10100 + i), name, "indeterminate") for i, name in enumerate(missing)
    )
    open_statuses = tuple(s.name for s in all_statuses if s.category != "done")
    done_statuses = tuple(s.name for s in all_statuses if s.category == "done")
    # The packs send a ticket back to Open once the missing information arrives, and back to
    # In Progress when it cannot be resolved yet: the demo's workflow has those transitions.
    extra = [
        Transition("901", "Back to open", "Open", tuple(s for s in open_statuses if s != "Open")),
        Transition("911", "Back to in progress", "In Progress", done_statuses, "issue_reopened"),
    ]
    extra += [
        Transition(str(921 + 10 * i), f"Move to {name}", name, tuple(s for s in open_statuses if s != name))
        for i, name in enumerate(missing)
    ]
    return Catalog(
        statuses=all_statuses,
        custom_fields=tuple(fields),
        transitions=default_transitions(all_statuses) + tuple(extra),
    )


# ------------------------------------------------------------------------------------------------------
# the running system


@dataclass
class Running:
    """The sandbox and one bridge instance, started in this process on local ports."""

    sandbox: Any
    runtime: Any
    app: Any
    server: Any
    thread: threading.Thread
    url: str
    folder: Path
    webhook: dict[str, str] = field(default_factory=dict)

    @property
    def clock(self) -> ManualClock:
        return self.sandbox.clock  # type: ignore[no-any-return]

    @property
    def store(self) -> Any:
        return self.runtime.store

    def stop(self) -> None:
        receiver_module().shutdown(self.app, timeout=10)
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()
        self.runtime.stop()
        self.store.close()
        self.sandbox.stop()

    # -- quiescence --

    def inbox_state(self) -> tuple[int, int]:
        """(events due or in hand, events ever received), from one query (one consistent snapshot);
        pending events waiting for a later retry do not count as due."""
        depth = self.store.inbox_depth()
        busy = int(depth.get("processing", 0))
        if depth.get("pending"):
            now = self.clock.now()
            busy += sum(1 for e in self.store.inbox_list("pending", limit=1000) if e.next_attempt_at <= now)
        return busy, sum(depth.values())

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until this instant is quiet: every webhook delivered, every inbox event processed, and
        the due-check and a sweep of the policies acted on finding nothing more to do."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain(deadline)
            if time.monotonic() > deadline:
                raise DemoError("the bridge kept finding work at one instant")
            if self.runtime.sweeper.run_due():
                continue
            # A ticket processed by the due-check and, at the same moment, by an inbox worker (for the
            # bridge's own change) can leave an action skipped until the next look: the sweep finds it.
            reports = [self.runtime.sweeper.sweep(policy) for policy in self.acted_now()]
            if any(r.actions for r in reports):
                continue
            # Such a ticket can also be left with a next_due that has passed; the due-check would look
            # again 30 seconds later, which on this clock is the next instant: look now, once all is quiet.
            if not self.recheck_passed_due():
                return

    def next_due_after(self, now: datetime, tickets: Sequence[DemoTicket]) -> datetime | None:
        """The soonest instant after `now` at which the bridge said it must look at a ticket again."""
        earliest: datetime | None = self.store.earliest_due()
        if earliest is None or earliest > now:
            return earliest
        due = []  # a next_due left in the past: look past it, ticket by ticket
        for ticket in tickets:
            cached = self.store.cache_get(ticket.key, ticket.policy.name) if ticket.key else None
            if cached is not None and cached[0] is not None and cached[0] > now:
                due.append(cached[0])
        return min(due, default=None)

    def acted_now(self) -> list[Policy]:
        """The policies of the tickets the bridge acted on at this instant (only those need a sweep)."""
        now = self.clock.now()
        projects = {e.ticket.rsplit("-", 1)[0] for e in self.store.ledger_entries() if e.claimed_at == now}
        if not projects:
            return []
        out = []
        for policy in self.runtime.policies:
            scope = scope_projects(policy.spec.scope.jql)
            if scope is None or scope & projects:  # a scope other than projects: sweep it to be sure
                out.append(policy)
        return out

    def recheck_passed_due(self) -> int:
        """Process the tickets whose cached next_due has passed; how many actions that took."""
        policies = {p.name: p for p in self.runtime.policies}
        actions = 0
        for key, name in self.store.cache_due(self.clock.now()):
            result = self.runtime.processor.process(key, policies[name])
            actions += len(result.done)
        return actions

    def drain(self, deadline: float) -> None:
        """Return when no delivery is on its way and no inbox event is due or in hand. Work moves from
        deliveries to the inbox and back (an event processed makes changes, which make deliveries), so
        quiet is two quiet looks around an idle sender with no new inbox event in between."""
        while True:
            if time.monotonic() > deadline:
                raise DemoError("webhook deliveries or the inbox did not settle in time")
            if not self.sandbox.wait_for_webhooks(max(deadline - time.monotonic(), 0.01)):
                continue
            busy, received = self.inbox_state()
            if busy == 0 and self.sandbox.wait_for_webhooks(0.01) and self.inbox_state() == (0, received):
                return
            time.sleep(0.005)

    def sweep(self) -> None:
        for policy in self.runtime.policies:
            self.runtime.sweeper.sweep(policy)
        self.settle()


def receiver_module() -> Any:
    """The receiver's app factory. The core never imports the Flask layer; like cli.py, which names
    `webhooks.serve` for `serve`, the demo names the module it assembles the running system from."""
    return importlib.import_module(RECEIVER_MODULE)


def scenario_statuses(tickets: Sequence[DemoTicket]) -> list[str]:
    """Every status the scenarios set, in order of appearance."""
    out = [t.item.ticket.status for t in tickets]
    for t in tickets:
        out += [str(value) for e in t.item.events for name, value in e.changes if name == STATUS]
    return list(dict.fromkeys(out))


DEMO_RECEIVER_SETTINGS: dict[str, Any] = {
    "worker_threads": 1,  # one worker: each ticket's events are handled in the order they came
    "worker_poll_interval": 0.02,
    "worker_backoff": timedelta(seconds=5),
}


def start(
    policies: Sequence[Policy],
    folder: Path,
    start_at: datetime = START,
    statuses: Sequence[str] = (),
    receiver_settings: dict[str, Any] | None = None,
) -> Running:
    """Start the sandbox and one bridge instance; `receiver_settings` overrides the demo's worker
    settings (None: the demo's, {}: the receiver's production defaults)."""
    from werkzeug.serving import make_server

    from jsm_bridge.jira import JiraGateway
    from jsm_bridge.runtime import Runtime
    from jsm_bridge.sandbox import SandboxServer, gateway_config
    from jsm_bridge.sandbox.server import QuietHandler
    from jsm_bridge.store import Store

    clock = ManualClock(start_at)
    sandbox = SandboxServer(
        flavor="cloud", clock=clock, catalog=demo_catalog(policies, statuses), webhook_retry_delays=(0.2, 0.5)
    )
    sandbox.start()
    gateway = JiraGateway(gateway_config(sandbox.url, user=BRIDGE_USER, requests_per_second=1000, burst=200))
    secret = secrets.token_hex(16)
    # A throwaway database in a temporary folder: surviving a power cut is not worth an fsync a commit.
    store = Store(f"sqlite:///{folder / 'jsm-bridge.db'}", clock=clock, synchronous="NORMAL")
    runtime = Runtime(
        policies=policies,
        store=store,
        gateway=gateway,
        clock=clock,
        holder="demo",
        webhook_secret=secret,
    )
    runtime.prepare()
    app = receiver_module().create_app(
        {
            **runtime.receiver_settings(),
            **(DEMO_RECEIVER_SETTINGS if receiver_settings is None else receiver_settings),
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="demo-receiver", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    running = Running(sandbox, runtime, app, server, thread, url, folder)
    running.webhook = register_webhook(sandbox.url, url, secret, policies)
    return running


def register_webhook(site: str, receiver: str, secret: str, policies: Sequence[Policy]) -> dict[str, str]:
    """Register the receiver with the sandbox as an operator would: `jsm-bridge register-webhook`,
    configured by the JSM_BRIDGE_* variables (the site, an admin's token, the secret, the policies)."""
    import io

    from jsm_bridge import webhook_admin

    env = {
        "JSM_BRIDGE_JIRA_URL": site,
        "JSM_BRIDGE_JIRA_USER": ADMIN_USER,
        "JSM_BRIDGE_JIRA_TOKEN": "token",
        "JSM_BRIDGE_WEBHOOK_SECRET": secret,
        "JSM_BRIDGE_POLICIES": ":".join(str(p.path) for p in policies if p.path is not None),
    }
    args = argparse.Namespace(url=receiver, name=WEBHOOK_NAME, policies=None, dry_run=False)
    out = io.StringIO()
    if webhook_admin.run(args, env=env, out=out) != 0:
        raise DemoError("register-webhook failed against the sandbox (see the message above)")
    return {"output": out.getvalue()}


# ------------------------------------------------------------------------------------------------------
# what happened


@dataclass(frozen=True)
class Done:
    """One action the bridge took, as the ledger recorded it, and whether the sandbox shows it."""

    at: datetime
    kind: str
    rule: str
    reason: str
    params: dict[str, Any]
    key: str
    state: str
    in_sandbox: bool


@dataclass
class TicketResult:
    ticket: DemoTicket
    expected: list[Action]
    done: list[Done]
    differences: list[str]
    status: str = ""
    priority: str | None = None
    clocks: dict[str, str] = field(default_factory=dict)
    credits: list[str] = field(default_factory=list)


@dataclass
class DemoResult:
    tickets: list[TicketResult]
    started: datetime
    ended: datetime
    seconds: float
    instants: int
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(not t.differences for t in self.tickets)

    def by_policy(self) -> dict[str, list[TicketResult]]:
        out: dict[str, list[TicketResult]] = {}
        for t in self.tickets:
            out.setdefault(t.ticket.policy.name, []).append(t)
        return out


def _effects(
    issue: dict[str, Any], comments: list[dict[str, Any]], account: str
) -> list[tuple[datetime, str]]:
    """What the bridge's account did to an issue, as (instant, text) pairs."""
    from jsm_bridge.jira.adapter import comment_is_public, parse_time

    out: list[tuple[datetime, str]] = []
    for c in comments:
        author = c.get("author") or {}
        if account in (author.get("accountId"), author.get("name")):
            at = parse_time(c.get("created"))
            assert at is not None
            visibility = "public" if comment_is_public(c) else "internal"
            out.append((at, f"comment {visibility}: {c.get('body')}"))
    for history in issue.get("changelog", {}).get("histories", []):
        author = history.get("author") or {}
        if account in (author.get("accountId"), author.get("name")):
            at = parse_time(history.get("created"))
            assert at is not None
            for item in history.get("items", []):
                out.append((at, f"{item.get('fieldId') or item.get('field')} -> {item.get('toString')}"))
    return out


@dataclass(frozen=True)
class Wanted:
    """One change an action should leave in the sandbox: `field -> value` as `_effects` writes it, or,
    for labels, the labels that must and must not be there afterwards."""

    text: str
    labels_in: frozenset[str] = frozenset()
    labels_out: frozenset[str] = frozenset()

    def matches(self, seen: str) -> bool:
        # On Cloud a mention is written with the account id: [~name] becomes [~accountid:name].
        seen = seen.replace("[~accountid:", "[~")
        if self.text == "labels -> ":
            if not seen.startswith(self.text):
                return False
            now = set(seen[len(self.text) :].split()) - {"None"}
            return self.labels_in <= now and not (self.labels_out & now)
        if self.text == "assignee -> ":  # the sandbox shows the display name, not the account
            return seen.startswith(self.text)
        return seen == self.text


def _value_text(value: Any) -> str:
    """A field value as the sandbox's changelog writes it (lists comma-separated, 25.0 as 25)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _expected_effects(action: Action, policy: Policy) -> list[Wanted]:
    """The sandbox changes an action should leave (comparable with `_effects`)."""
    p = action.params()
    kind = action.kind
    if kind == "comment":
        return [Wanted(f"comment {'public' if p['public'] else 'internal'}: {p['body']}")]
    if kind == "set_priority":
        return [Wanted(f"priority -> {policy.spec.priorities[p['priority']].jira}")]
    if kind == "transition":
        return [Wanted(f"status -> {p['status']}")]
    if kind == "tier":
        tier = next(t for t in policy.tiers if t.name == p["to"])
        wanted = [Wanted(f"{fid} -> {_value_text(v)}") for fid, v in tier_fields(policy, tier.name).items()]
        if tier.transition:
            wanted.append(Wanted(f"status -> {tier.transition}"))
        if tier.assignee:
            wanted.append(Wanted("assignee -> "))
        if tier.labels:
            wanted.append(Wanted("labels -> ", labels_in=frozenset(tier.labels)))
        return wanted
    if kind == "set_field":
        return [Wanted(f"{field_id(policy, p['field'])} -> {_value_text(p['value'])}")]
    if kind == "assign":
        return [Wanted("assignee -> ")]
    if kind == "label":
        return [Wanted("labels -> ", frozenset(p.get("add", ())), frozenset(p.get("remove", ())))]
    return []


def compare(
    ticket: DemoTicket, expected: list[Action], done: list[Done], effects: list[tuple[datetime, str]]
) -> list[str]:
    """Every difference between the expected timeline and what the ledger and the sandbox show."""
    differences: list[str] = []

    def line(at: datetime, kind: str, rule: str, params: dict[str, Any]) -> str:
        shown = {k: v for k, v in params.items() if k not in ("body", "effects")}
        text = json.dumps(shown, sort_keys=True, ensure_ascii=False, default=str)
        return f"{at.astimezone(LONDON):%a %d %b %H:%M} {kind} [{rule}] {text}"

    want = [line(a.at, a.kind, a.rule, a.params()) for a in expected]
    got = [line(d.at, d.kind, d.rule, d.params) for d in done]
    if want != got:
        import difflib

        diff = difflib.unified_diff(want, got, "expected (simulator)", "actual (ledger)", lineterm="", n=1)
        differences.extend(list(diff)[2:])
    else:
        for a, d in zip(expected, done, strict=True):
            if a.kind == "comment" and a.params().get("body") != d.params.get("body"):
                differences.append(
                    f"{line(d.at, d.kind, d.rule, {})}: comment text differs from the simulator's"
                )
    # A transition into or out of a done status sets or clears the resolution with it.
    transitions = {a.at for a in expected if a.kind == "transition"}
    remaining = [e for e in effects if not (e[0] in transitions and e[1].startswith("resolution -> "))]
    for action in expected:
        for wanted in _expected_effects(action, ticket.policy):
            hit = next((e for e in remaining if e[0] == action.at and wanted.matches(e[1])), None)
            if hit is None:
                differences.append(
                    f"sandbox does not show {line(action.at, action.kind, action.rule, {})}: {_short(wanted.text)}"
                )
            else:
                remaining.remove(hit)
    for at, text in remaining:
        differences.append(
            f"sandbox shows a change no action explains: {at.astimezone(LONDON):%a %d %b %H:%M} {_short(text)}"
        )
    return differences


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def observe(
    running: Running, tickets: Sequence[DemoTicket], expect: ExpectFn, until: datetime
) -> list[TicketResult]:
    from jsm_bridge.engine import decide
    from jsm_bridge.sandbox.catalog import User

    site = Site(running.sandbox.url)
    account = User(BRIDGE_USER, BRIDGE_USER).account_id
    results = []
    for ticket in tickets:
        order = {k: i for i, k in enumerate(site.done_keys(ticket.key))}
        entries = running.store.ledger_entries(ticket.key)
        entries.sort(key=lambda e: (datetime.fromisoformat(e.action["at"]), order.get(e.key, len(order))))
        done = [
            Done(
                at=datetime.fromisoformat(e.action["at"]),
                kind=e.kind,
                rule=e.rule,
                reason=str(e.action.get("reason", "")),
                params=dict(e.action.get("params") or {}),
                key=e.key,
                state=e.state,
                in_sandbox=e.key in order,
            )
            for e in entries
        ]
        expected = expect(ticket, until)
        issue = site.issue(ticket.key)
        effects = _effects(issue, site.comments(ticket.key), account)
        differences = compare(ticket, expected, done, effects)
        for d in done:
            if d.state != "done" or not d.in_sandbox:
                differences.append(
                    f"ledger entry {d.key} is {d.state}, recorded on the issue: {d.in_sandbox}"
                )
        result = TicketResult(ticket, expected, done, differences)
        fields = issue.get("fields", {})
        result.status = str((fields.get("status") or {}).get("name", ""))
        result.priority = (fields.get("priority") or {}).get("name")
        snapshot = running.runtime.gateway.fetch_ticket(ticket.key, ticket.policy)
        clocks = decide(snapshot, ticket.policy, until).clocks
        for name in ("first_response", "resolution"):
            try:
                result.clocks[name] = clock_outcome(clocks[name])
            except KeyError:
                result.clocks[name] = "no target"
        result.credits = [d.reason for d in done if "credit" in d.rule]
        results.append(result)
    return results


def clock_outcome(clock: Any) -> str:
    if clock.goal is None:
        return "no target"
    if clock.breached:
        return "breached"
    if clock.stopped is not None:
        return "met"
    return "running"


# ------------------------------------------------------------------------------------------------------
# playing


@dataclass
class Options:
    policies: list[str] | None = None
    report: Path = Path(DEFAULT_REPORT)
    keep_running: bool = False
    quiet: bool = False
    start: datetime = START
    end: datetime = END
    expect: ExpectFn = expected_actions  # the seam a test uses to plant a wrong expectation


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Warnings and errors of the bridge reach stderr (Python's last-resort handler when none is
    configured); the schedulers' and the WSGI servers' chatter does not."""
    root = logging.getLogger()
    before = root.level
    quieted = {name: logging.getLogger(name).level for name in ("apscheduler", "werkzeug")}
    root.setLevel(logging.WARNING)
    for name in quieted:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(before)
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)


def play(running: Running, tickets: Sequence[DemoTicket], until: datetime, out: TextIO | None) -> int:
    """Step the clock from instant to instant up to `until`; returns how many instants were visited."""
    site = Site(running.sandbox.url, running.sandbox.state.catalog)
    steps = steps_of(tickets)
    clock = running.clock
    instants = 0
    day = None
    running.sweep()
    while True:
        now = clock.now()
        upcoming = steps[0].at if steps else None
        due = running.next_due_after(now, tickets)
        candidates = [t for t in (upcoming, due) if t is not None and t <= until]
        if not candidates:
            break
        instant = min(candidates)
        local_day = instant.astimezone(LONDON).date()
        if local_day != day:
            if day is not None and out is not None:
                _progress(out, running, tickets, day)
            day = local_day
        clock.set(max(instant, now))
        instants += 1
        while steps and steps[0].at <= instant:
            step = steps.pop(0)
            if step.event is None:
                step.ticket.key = site.create(step.ticket)
            else:
                site.play(step.ticket.key, step.ticket, step.event)
        running.settle()
    clock.set(max(clock.now(), until))
    running.sweep()
    if out is not None and day is not None:
        _progress(out, running, tickets, day)
    return instants


def _progress(out: TextIO, running: Running, tickets: Sequence[DemoTicket], day: Any) -> None:
    keys = {t.key for t in tickets if t.key}
    entries = [e for e in running.store.ledger_entries() if e.ticket in keys]
    today = [e for e in entries if datetime.fromisoformat(e.action["at"]).astimezone(LONDON).date() == day]
    created = sum(1 for t in tickets if t.key and t.item.ticket.created.astimezone(LONDON).date() == day)
    out.write(
        f"  {day:%a %d %b}: {created} ticket{'s' if created != 1 else ''} opened, "
        f"{len(today)} action{'s' if len(today) != 1 else ''} taken ({len(entries)} so far)\n"
    )
    out.flush()


def run_demo(
    options: Options, out: TextIO = sys.stdout, played: Callable[[DemoResult], None] | None = None
) -> DemoResult:
    """Start everything, play the week, compare; `played` sees the result before --keep-running waits."""
    began = time.perf_counter()
    tickets = load_plan(options.policies)
    policies = list({t.policy.name: t.policy for t in tickets}.values())
    say = (lambda text: None) if options.quiet else (lambda text: (out.write(text + "\n"), out.flush()))
    with tempfile.TemporaryDirectory(prefix="jsm-bridge-demo-") as tmp, _quiet_logs():
        running = start(policies, Path(tmp), options.start, scenario_statuses(tickets))
        try:
            say(
                f"sandbox (Jira Cloud look-alike) at {running.sandbox.url}, clock at {options.start.isoformat()}"
            )
            say(f"receiver at {running.url}/webhooks/jira, webhook registered with a secret")
            say(
                f"playing {len(tickets)} tickets of {len(policies)} {'policy' if len(policies) == 1 else 'policies'} "
                f"({', '.join(p.name for p in policies)}) to {options.end.astimezone(LONDON):%a %d %b %H:%M}"
            )
            instants = play(running, tickets, options.end, None if options.quiet else out)
            results = observe(running, tickets, options.expect, options.end)
            result = DemoResult(
                results,
                options.start,
                options.end,
                time.perf_counter() - began,
                instants,
                {"sandbox": running.sandbox.url, "receiver": f"{running.url}/webhooks/jira"},
            )
            if played is not None:
                played(result)
            if options.keep_running:
                _keep_running(running, out)
        finally:
            running.stop()
    return result


def _keep_running(running: Running, out: TextIO) -> None:
    out.write(
        f"\nStill running (Ctrl-C to stop):\n  sandbox   {running.sandbox.url}  (user agent, any password)\n"
        f"  receiver  {running.url}/webhooks/jira  health {running.url}/healthz  metrics {running.url}/metrics\n"
        f"  clock     POST {running.sandbox.url}/_sandbox/clock\n"
    )
    out.flush()
    running.runtime.start(sweep_now=True)  # from here on the scheduler sweeps and checks what is due
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        out.write("stopping\n")


# ------------------------------------------------------------------------------------------------------
# CLI


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"play only this policy (repeatable): {', '.join(sorted(SCENARIOS))}",
    )
    parser.add_argument("--report", type=Path, default=Path(DEFAULT_REPORT), help="HTML report path")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the sandbox and the bridge up afterwards"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary")


def run(args: argparse.Namespace, expect: ExpectFn = expected_actions, out: TextIO = sys.stdout) -> int:
    from jsm_bridge import report

    options = Options(
        policies=args.policy,
        report=args.report,
        keep_running=args.keep_running,
        quiet=args.quiet,
        expect=expect,
    )

    def write(result: DemoResult) -> None:
        options.report.write_text(report.html(result), encoding="utf-8")
        out.write(report.summary(result, quiet=options.quiet))
        out.write(f"report: {options.report}\n")
        out.flush()

    try:
        result = run_demo(options, out, played=write)
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1
