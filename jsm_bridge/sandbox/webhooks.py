"""Webhooks as Jira sends them: matched by event and JQL filter, signed, delivered from a background thread,
retried with backoff on 408/409/425/429/5xx or a failed connection, under one identifier per delivery."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from jsm_bridge.sandbox.faults import FaultInjector
from jsm_bridge.sandbox.jql import JqlError, compile_jql
from jsm_bridge.sandbox.model import Delivery, Webhook
from jsm_bridge.sandbox.render import CLOUD, Renderer, epoch_millis
from jsm_bridge.sandbox.state import Event, SandboxState

log = logging.getLogger("jsm_bridge.sandbox.webhooks")

RETRY_STATUSES = {408, 409, 425, 429}
ISSUE_FILTER = "issue-related-events-section"
EVENTS = (
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
)
# Older servers report comments as jira:issue_updated with these type names.
LEGACY_COMMENT_TYPES = {
    "comment_created": "issue_commented",
    "comment_updated": "issue_comment_edited",
    "comment_deleted": "issue_comment_deleted",
}


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature value Jira sends: sha256=<hex HMAC of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class _Job:
    webhook_id: int
    url: str
    event: str
    body: bytes
    secret: str | None
    identifier: str
    attempt: int = 0  # 0 for the first try, then the retry number


class WebhookSender:
    """Turns state events into deliveries. `retry_delays` (seconds) bounds the retries and spaces them."""

    def __init__(
        self,
        state: SandboxState,
        renderer: Renderer,
        injector: FaultInjector,
        retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0),
        timeout: float = 5.0,
        legacy_comment_events: bool = False,
    ) -> None:
        self.state = state
        self.renderer = renderer
        self.injector = injector
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.legacy_comment_events = legacy_comment_events
        self._queue: list[tuple[float, int, _Job]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._busy = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    # --- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)
        self._session.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery (retries included) has ended; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(min(remaining, 0.05))
        return True

    # --- events ------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Called by the state, under its lock, so bodies show the issue as it was at the event."""
        for webhook in list(self.state.webhooks.values()):
            name = self._event_name(webhook, event)
            if name is None or not self._passes_filter(webhook, event):
                continue
            body = self.body(webhook, event, name)
            self.enqueue(webhook, name, json.dumps(body).encode(), event)

    def _event_name(self, webhook: Webhook, event: Event) -> str | None:
        if not webhook.enabled:
            return None
        if event.name in webhook.events:
            return event.name
        if (
            self.legacy_comment_events
            and event.name in LEGACY_COMMENT_TYPES
            and "jira:issue_updated" in webhook.events
        ):
            return "jira:issue_updated"
        return None

    def _passes_filter(self, webhook: Webhook, event: Event) -> bool:
        if not webhook.jql.strip():
            return True
        try:
            query = compile_jql(webhook.jql, self.state.catalog)
        except JqlError:
            log.warning("webhook_filter_invalid webhook=%s jql=%r", webhook.id, webhook.jql)
            return False
        return query.matches(event.issue, self.state.now())

    def body(self, webhook: Webhook, event: Event, name: str) -> dict[str, Any]:
        r = self.renderer
        issue = event.issue
        project_id, project_name = self.state.project_info(issue.project)
        body: dict[str, Any] = {"timestamp": epoch_millis(self.state.now()), "webhookEvent": name}
        if webhook.exclude_body:
            return body
        if event.comment is not None and name.startswith("comment_"):
            body["comment"] = r.comment(issue, event.comment)
            if r.flavor == CLOUD:
                body["issue"] = r.comment_issue(issue, project_name, project_id)
            return body
        body["issue_event_type_name"] = LEGACY_COMMENT_TYPES.get(event.name, event.type_name)
        body["user"] = r.user(event.user)
        body["issue"] = r.webhook_issue(issue, project_name, project_id)
        if event.history is not None:
            body["changelog"] = {
                "id": str(event.history.id),
                "items": [r.change_item(item) for item in event.history.items],
            }
        if event.comment is not None:
            body["comment"] = r.comment(issue, event.comment)
        return body

    def enqueue(self, webhook: Webhook, name: str, body: bytes, event: Event) -> None:
        url = (
            webhook.url.replace("${issue.key}", event.issue.key)
            .replace("${issue.id}", str(event.issue.id))
            .replace("${project.key}", event.issue.project)
        )
        job = _Job(webhook.id, url, name, body, webhook.secret, str(uuid.uuid4()))
        copies = self.injector.webhook_copies()
        if copies == 0:
            self._record(job, None, "dropped", "dropped by fault injection")
        for _ in range(copies):
            self._push(0.0, _Job(**job.__dict__))

    def _push(self, delay: float, job: _Job) -> None:
        with self._condition:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._sequence), job))
            self._condition.notify_all()

    # --- delivery ----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else 0.5
                    self._condition.wait(max(0.001, min(wait, 0.5)))
                if self._stopping:
                    return
                _, _, job = heapq.heappop(self._queue)
                self._busy += 1
            try:
                self._deliver(job)
            finally:
                with self._condition:
                    self._busy -= 1
                    self._condition.notify_all()

    def headers(self, job: _Job) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
        }
        if self.renderer.flavor == CLOUD:
            headers["X-Atlassian-Webhook-Identifier"] = job.identifier
            if job.attempt:
                headers["X-Atlassian-Webhook-Retry"] = str(job.attempt)
        if job.secret:
            headers["X-Hub-Signature"] = signature(job.secret, job.body)
        return headers

    def _deliver(self, job: _Job) -> None:
        status: int | None = None
        error: str | None = None
        try:
            response = self._session.post(
                job.url, data=job.body, headers=self.headers(job), timeout=self.timeout
            )
            status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        retryable = status is None or status in RETRY_STATUSES or status >= 500
        if status is not None and not retryable:
            outcome = "delivered" if 200 <= status < 300 else "failed"
            self._record(job, status, outcome, None)
            return
        if job.attempt < len(self.retry_delays) and not self._stopping:
            self._record(job, status, "retry", error)
            delay = self.retry_delays[job.attempt]
            job.attempt += 1
            self._push(delay, job)
            return
        self._record(job, status, "failed", error or "retries exhausted")

    def _record(self, job: _Job, status: int | None, outcome: str, error: str | None) -> None:
        log.info(
            "webhook_%s webhook=%s event=%s status=%s attempt=%s identifier=%s",
            outcome,
            job.webhook_id,
            job.event,
            status,
            job.attempt,
            job.identifier,
        )
        self.state.deliveries.append(
            Delivery(job.webhook_id, job.event, job.identifier, job.attempt, status, outcome, error)
        )
