"""A gateway that reads from Jira but only records the writes it would make (JSM_BRIDGE_DRY_RUN).

Each write is kept as a RecordedWrite and logged as `jira.dry_run`; no write request is sent."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsm_bridge.jira.config import Flavor
from jsm_bridge.jira.gateway import Gateway
from jsm_bridge.jira.logline import log_event
from jsm_bridge.jira.models import ServerInfo, SlaMetric
from jsm_bridge.jira.paths import DONE_PROPERTY
from jsm_bridge.policy.model import Policy
from jsm_bridge.ticket import Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordedWrite:
    """A write the dry run did not make: the gateway method and its arguments by name."""

    method: str
    ticket: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


class DryRunGateway:
    """Wraps a gateway: reads go through, writes are recorded in `writes`. Keys passed to record_done
    are remembered, so done_keys answers as if they had been written."""

    def __init__(self, inner: Gateway) -> None:
        self.inner = inner
        self.writes: list[RecordedWrite] = []
        self._done: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def _record(self, method: str, ticket: str, **arguments: Any) -> None:
        with self._lock:
            self.writes.append(RecordedWrite(method, ticket, arguments))
        log_event(
            log, "jira.dry_run", method=method, ticket=ticket, **{k: _short(v) for k, v in arguments.items()}
        )

    def observe(self, on_request: Any = None, on_retry: Any = None) -> None:
        """Observers go to the wrapped gateway, which makes the calls."""
        observe = getattr(self.inner, "observe", None)
        if observe is not None:
            observe(on_request=on_request, on_retry=on_retry)

    # reads
    @property
    def flavor(self) -> Flavor:
        return self.inner.flavor

    @property
    def is_cloud(self) -> bool:
        return self.inner.is_cloud

    def server_info(self) -> ServerInfo:
        return self.inner.server_info()

    def field_ids(self) -> dict[str, str]:
        return self.inner.field_ids()

    def search(
        self,
        jql: str,
        fields: Sequence[str] | None = None,
        page_size: int = 100,
        *,
        expand: Sequence[str] = (),
        properties: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        return self.inner.search(jql, fields, page_size, expand=expand, properties=properties)

    def search_keys(self, jql: str, page_size: int = 100) -> Iterator[str]:
        return self.inner.search_keys(jql, page_size)

    def fetch_issue(self, key: str) -> dict[str, Any]:
        return self.inner.fetch_issue(key)

    def fetch_ticket(self, key: str, policy: Policy) -> Ticket:
        ticket = self.inner.fetch_ticket(key, policy)
        with self._lock:
            recorded = tuple(self._done.get(key, ()))
        return ticket.with_done(*recorded) if recorded else ticket

    def get_property(self, key: str, name: str) -> Any:
        return self.inner.get_property(key, name)

    def done_keys(self, key: str) -> frozenset[str]:
        with self._lock:
            recorded = frozenset(self._done.get(key, ()))
        return self.inner.done_keys(key) | recorded

    def comment_action_keys(self, key: str) -> frozenset[str]:
        return self.inner.comment_action_keys(key)

    def request_sla(self, key: str) -> list[SlaMetric]:
        return self.inner.request_sla(key)

    # writes, recorded only
    def set_priority(self, key: str, jira_priority_name: str) -> None:
        self._record("set_priority", key, priority=jira_priority_name)

    def transition(
        self, key: str, to: str, resolution: str | None = None, fields: Mapping[str, Any] | None = None
    ) -> bool:
        self._record("transition", key, to=to, resolution=resolution, fields=dict(fields or {}))
        return True

    def edit_fields(self, key: str, values: Mapping[str, Any]) -> None:
        self._record("edit_fields", key, values=dict(values))

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        self._record("add_labels", key, labels=list(labels))

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        self._record("remove_labels", key, labels=list(labels))

    def assign(self, key: str, user: str | None) -> None:
        self._record("assign", key, user=user)

    def add_comment(
        self,
        key: str,
        body: str,
        public: bool,
        mentions: Sequence[str] = (),
        *,
        action_key: str | None = None,
    ) -> str | None:
        self._record(
            "add_comment", key, body=body, public=public, mentions=list(mentions), action_key=action_key
        )
        return None

    def set_property(self, key: str, name: str, value: Any) -> None:
        self._record("set_property", key, name=name, value=value)

    def record_done(self, key: str, action_key: str) -> None:
        with self._lock:
            self._done.setdefault(key, []).append(action_key)
        self._record("record_done", key, property=DONE_PROPERTY, action_key=action_key)


def _short(value: Any, limit: int = 80) -> Any:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
