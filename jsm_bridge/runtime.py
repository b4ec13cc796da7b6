"""The running system built from configuration: policies, store, gateway, processor, sweeper, scheduler.

`serve`, `sweep` and `explain` build one Runtime from the JSM_BRIDGE_* environment; tests pass parts in."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from jsm_bridge.clock import Clock, SystemClock
from jsm_bridge.policy.model import Policy

log = logging.getLogger("jsm_bridge.runtime")

POLICIES_ENV = "JSM_BRIDGE_POLICIES"
CLOCK_ENV = "JSM_BRIDGE_CLOCK"
INSTANCE_ENV = "JSM_BRIDGE_INSTANCE"
PAGE_SIZE_ENV = "JSM_BRIDGE_SWEEP_PAGE_SIZE"
INBOX_RETENTION_ENV = "JSM_BRIDGE_INBOX_RETENTION"
DEFAULT_INBOX_RETENTION = timedelta(days=7)
MIN_INBOX_RETENTION = timedelta(hours=1)
_KEEP_FOREVER = {"off", "never", "0"}
DEFAULT_POLICIES = "policies"
_TRUE = {"1", "true", "yes", "on"}


class ConfigurationError(ValueError):
    """The environment does not describe a system that can run; the message says which variable to fix."""


@dataclass(frozen=True)
class Settings:
    """What the Configuration contract's variables say, read once.

    `clock` is `system` (the default) or `sandbox`: follow the clock of the sandbox at the Jira URL
    (GET /_sandbox/clock), so a demo or test can move time forward for the bridge too."""

    policies: str
    database_url: str | None
    webhook_secret: str | None = field(default=None, repr=False)
    dry_run: bool = False
    clock: str = "system"
    instance: str = ""
    page_size: int = 100
    inbox_retention: timedelta | None = DEFAULT_INBOX_RETENTION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        clock = (env.get(CLOCK_ENV) or "system").strip().lower()
        if clock not in ("system", "sandbox"):
            raise ConfigurationError(f"{CLOCK_ENV}={clock!r} is not known: use system or sandbox")
        page_text = (env.get(PAGE_SIZE_ENV) or "100").strip()
        if not page_text.isdigit() or not 1 <= int(page_text) <= 1000:
            raise ConfigurationError(f"{PAGE_SIZE_ENV}={page_text!r}: give a whole number from 1 to 1000")
        return cls(
            policies=env.get(POLICIES_ENV) or DEFAULT_POLICIES,
            database_url=env.get("JSM_BRIDGE_DATABASE_URL") or None,
            webhook_secret=env.get("JSM_BRIDGE_WEBHOOK_SECRET") or None,
            dry_run=(env.get("JSM_BRIDGE_DRY_RUN") or "").strip().lower() in _TRUE,
            clock=clock,
            instance=env.get(INSTANCE_ENV) or f"{socket.gethostname()}:{os.getpid()}",
            page_size=int(page_text),
            inbox_retention=inbox_retention(env.get(INBOX_RETENTION_ENV)),
        )


def inbox_retention(text: str | None) -> timedelta | None:
    """How long done webhook events stay in the inbox (JSM_BRIDGE_INBOX_RETENTION): a duration such as
    `7d` (the default) or `36h`, at least an hour; `off` keeps every event."""
    value = (text or "").strip().lower()
    if not value:
        return DEFAULT_INBOX_RETENTION
    if value in _KEEP_FOREVER:
        return None
    from jsm_bridge.policy.durations import DurationError, parse_wall_clock

    try:
        retention = parse_wall_clock(value)
    except DurationError:
        retention = None
    if retention is None or retention < MIN_INBOX_RETENTION:
        raise ConfigurationError(
            f"{INBOX_RETENTION_ENV}={text!r}: give a duration such as 7d or 36h (at least 1h), "
            "or off to keep every event"
        )
    return retention


def load_policies(spec: str | Sequence[str]) -> list[Policy]:
    """Every policy named by a `:`-separated list of files and folders (JSM_BRIDGE_POLICIES)."""
    from jsm_bridge.policy.loader import load_policies as load

    policies = load(spec)
    if not policies:
        raise ConfigurationError(f"no policy files found in {spec!r}: set {POLICIES_ENV} to files or folders")
    return policies


class Runtime:
    """One instance of the bridge: everything but the HTTP server, which `serve` adds.

    Built once per process (per gunicorn worker after the fork). `start()` migrates the store, settles
    claims a crash left pending, and starts the scheduler; `stop()` lets the sweep or action in
    flight finish and gives the leader lease up."""

    def __init__(
        self,
        *,
        policies: Sequence[Policy],
        store: Any,
        gateway: Any,
        clock: Clock,
        holder: str,
        dry_run: bool = False,
        page_size: int = 100,
        webhook_secret: str | None = None,
        decide: Any = None,
        lease_ttl: timedelta | None = None,
        inbox_retention: timedelta | None = DEFAULT_INBOX_RETENTION,
    ) -> None:
        from jsm_bridge.jira.sweep_search import search_tickets
        from jsm_bridge.process import TicketProcessor
        from jsm_bridge.sweeper import Sweeper, SweepScheduler

        self.policies = list(policies)
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.holder = holder
        self.dry_run = dry_run
        self.webhook_secret = webhook_secret
        self.processor = TicketProcessor(
            gateway=gateway,
            store=store,
            policies=self.policies,
            clock=clock,
            holder=holder,
            dry_run=dry_run,
            decide=decide,
        )
        self.sweeper = Sweeper(
            partial(search_tickets, gateway),
            store,
            self.processor,
            self.policies,
            clock,
            decide=decide,
            page_size=page_size,
            dry_run=dry_run,
        )
        self.scheduler = SweepScheduler(
            self.sweeper, store, holder, lease_ttl=lease_ttl, inbox_retention=inbox_retention
        )
        self._started = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Runtime:
        """The runtime the Configuration contract describes: JSM_BRIDGE_JIRA_URL/_USER/_TOKEN,
        JSM_BRIDGE_POLICIES, JSM_BRIDGE_DATABASE_URL, JSM_BRIDGE_WEBHOOK_SECRET, JSM_BRIDGE_DRY_RUN,
        and the optional JSM_BRIDGE_CLOCK, JSM_BRIDGE_INSTANCE, JSM_BRIDGE_SWEEP_PAGE_SIZE and
        JSM_BRIDGE_INBOX_RETENTION."""
        from jsm_bridge.jira import JiraConfig, gateway_from_config
        from jsm_bridge.jira.config import ConfigError
        from jsm_bridge.store import Store

        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        try:
            jira = JiraConfig.from_env(env)
        except ConfigError as error:
            raise ConfigurationError(str(error)) from None
        clock: Clock = overrides.pop("clock", None) or clock_for(settings, jira.url)
        policies = overrides.pop("policies", None) or load_policies(settings.policies)
        store = overrides.pop("store", None) or Store(settings.database_url, clock=clock)
        gateway = overrides.pop("gateway", None) or gateway_from_config(jira)
        return cls(
            policies=policies,
            store=store,
            gateway=gateway,
            clock=clock,
            holder=overrides.pop("holder", None) or settings.instance,
            dry_run=settings.dry_run or bool(overrides.pop("dry_run", False)),
            page_size=settings.page_size,
            webhook_secret=settings.webhook_secret,
            inbox_retention=settings.inbox_retention,
            **overrides,
        )

    def policy(self, name: str) -> Policy:
        for policy in self.policies:
            if policy.name == name:
                return policy
        known = ", ".join(p.name for p in self.policies)
        raise ConfigurationError(f"no policy named {name!r}; loaded: {known}")

    def prepare(self) -> None:
        """Bring the schema up to date and settle claims a crash left pending (asking Jira)."""
        self.store.migrate()
        if self.dry_run:
            return
        try:
            result = self.processor.reconcile()
        except Exception as error:  # Jira down at start-up: the next start or sweep settles them
            log.warning("reconcile.failed error=%s: %s", type(error).__name__, error)
            return
        log.info(
            "reconcile.finished done=%d released=%d unresolved=%d",
            len(result.done),
            len(result.released),
            len(result.unresolved),
        )

    def start(self, sweep_now: bool = True) -> None:
        """Prepare, then start this instance's scheduler (sweeps and due-checks, leader only)."""
        self.prepare()
        self.scheduler.start(sweep_now=sweep_now)
        self._started = True
        log.info(
            "runtime.started holder=%s policies=%s dry_run=%s",
            self.holder,
            ",".join(p.name for p in self.policies),
            self.dry_run,
        )

    def stop(self) -> None:
        """Stop the scheduler: a sweep in flight stops after the ticket it is on."""
        if self._started:
            self.sweeper.stop.set()
            self.scheduler.stop(wait=True)
            self._started = False

    def receiver_settings(self) -> dict[str, Any]:
        """What the receiver's create_app needs from this runtime (a ReceiverConfig mapping)."""
        return {
            "store": self.store,
            "webhook_secret": self.webhook_secret,
            "clock": self.clock,
            "processor": self.processor,
        }


def clock_for(settings: Settings, jira_url: str) -> Clock:
    if settings.clock == "sandbox":
        from jsm_bridge.sandbox.remote_clock import RemoteClock

        return RemoteClock(jira_url)
    return SystemClock()


def describe(policies: Iterable[Policy]) -> str:
    return ", ".join(p.name for p in policies)
