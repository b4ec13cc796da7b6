"""Prometheus metrics for one app: a registry of its own (never the process-global one), so every app
and every test starts from zero. The processor and the gateway report through the `record_*` hooks.
Under a server of several processes, every scrape adds up all of them (webhooks/metrics_sharing.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webhooks.metrics_sharing import MULTIPROCESS_ENV

# Stable refusal reasons: the `reason` label of jsm_bridge_webhook_refused_total and the log field.
REFUSAL_REASONS = (
    "signature_missing",
    "signature_malformed",
    "signature_method",
    "signature_mismatch",
    "too_large",
    "content_type",
    "not_utf8",
    "invalid_json",
    "not_object",
    "invalid_payload",
    "store_unavailable",
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _DepthCollector(Collector):
    """Reads the inbox depth from the store at scrape time, so the gauge is never stale."""

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("jsm_bridge_inbox_depth", "Inbox events by state", labels=["state"])
        try:
            depth = self._read()
        except Exception:  # a scrape must not fail because the store is down; /healthz reports that
            depth = {}
        for state, count in sorted(depth.items()):
            family.add_metric([state], count)
        yield family


class Metrics:
    """The receiver's metrics. Create one per app; pass `registry` to share one with other components."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "jsm_bridge_webhook_received", "Webhook deliveries received (every POST)", registry=r
        )
        self.accepted = Counter(
            "jsm_bridge_webhook_accepted", "Webhook deliveries stored in the inbox", ["event"], registry=r
        )
        self.duplicates = Counter(
            "jsm_bridge_webhook_duplicates",
            "Webhook deliveries already seen (same id or same content)",
            registry=r,
        )
        self.ignored = Counter(
            "jsm_bridge_webhook_ignored", "Valid webhook deliveries of events not handled", registry=r
        )
        self.refused = Counter(
            "jsm_bridge_webhook_refused", "Webhook deliveries refused, by reason", ["reason"], registry=r
        )
        self.ack_seconds = Histogram(
            "jsm_bridge_webhook_ack_seconds",
            "Time from request to 202 for stored deliveries",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.processing_seconds = Histogram(
            "jsm_bridge_inbox_processing_seconds",
            "Time to process one inbox event, by outcome (done, retry, dead, forgotten)",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.actions = Counter(
            "jsm_bridge_actions", "Actions carried out, by kind and outcome", ["kind", "outcome"], registry=r
        )
        self.jira_calls = Counter(
            "jsm_bridge_jira_calls",
            "Calls to Jira, by operation and outcome",
            ["operation", "outcome"],
            registry=r,
        )
        self.jira_retries = Counter(
            "jsm_bridge_jira_retries", "Retried calls to Jira, by reason", ["reason"], registry=r
        )
        self.workers_alive = Gauge(
            "jsm_bridge_inbox_workers_alive",
            "Inbox worker threads alive",
            registry=r,
            multiprocess_mode="livesum",  # several server processes: the sum over the live ones
        )
        for reason in REFUSAL_REASONS:
            self.refused.labels(reason)
        self._accepted: dict[str, Any] = {}  # event -> its child of `accepted` (handled events: a few)
        self._depth: _DepthCollector | None = None

    def record_accepted(self, event: str) -> None:
        """One delivery of `event` stored: counted on a child looked up once per event type, not at
        every request (`labels()` costs more than the increment)."""
        child = self._accepted.get(event)
        if child is None:
            child = self._accepted[event] = self.accepted.labels(event)
        child.inc()

    def watch_inbox(self, read_depth: Callable[[], dict[str, int]]) -> None:
        """Report the inbox depth (store.inbox_depth) at every scrape."""
        if self._depth is None:
            self._depth = _DepthCollector(read_depth)
            self.registry.register(self._depth)

    # Hooks for the processor and the gateway: plain callables, so jsm_bridge needs no import of this module.

    def record_action(self, kind: str, outcome: str) -> None:
        """One action carried out (outcome: done, skipped, failed, dry_run, ...)."""
        self.actions.labels(kind, outcome).inc()

    def record_jira_call(self, operation: str, outcome: str) -> None:
        """One call to Jira (outcome: ok, or the error class name)."""
        self.jira_calls.labels(operation, outcome).inc()

    def record_jira_retry(self, reason: str) -> None:
        """One retry of a call to Jira (reason: rate_limited, unavailable, ...)."""
        self.jira_retries.labels(reason).inc()

    def watch_jira(self, gateway: object) -> None:
        """Count a gateway's calls and retries: it must offer `observe(on_request, on_retry)` (the Jira
        gateway does; anything else is left alone). Operation is `METHOD path-template`, outcome the
        HTTP status, or `no_answer` when none came."""
        observe = getattr(gateway, "observe", None)
        if observe is None:
            return

        def on_request(method: str, template: str, status: int | None, seconds: float) -> None:
            self.record_jira_call(f"{method} {template}", "no_answer" if status is None else str(status))

        def on_retry(reason: str, template: str) -> None:
            self.record_jira_retry(reason)

        observe(on_request=on_request, on_retry=on_retry)

    def record_processed(self, seconds: float, outcome: str) -> None:
        """One inbox event processed by a worker (the inbox workers' observer hook)."""
        self.processing_seconds.labels(outcome).observe(seconds)

    def exposition(self) -> bytes:
        if not os.environ.get(MULTIPROCESS_ENV):
            return generate_latest(self.registry)
        # Every process's values, added up, and the inbox depth (the same store for all of them).
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if self._depth is not None:
            registry.register(self._depth)
        return generate_latest(registry)
