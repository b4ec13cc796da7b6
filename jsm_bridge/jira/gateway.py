"""What the rest of jsm-bridge may ask of Jira: the Gateway protocol that JiraGateway and
DryRunGateway both satisfy, so the executor, ledger and sweeper depend on this and not on a class."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from jsm_bridge.jira.config import Flavor
from jsm_bridge.jira.models import ServerInfo, SlaMetric
from jsm_bridge.policy.model import Policy
from jsm_bridge.ticket import Ticket


class Gateway(Protocol):
    @property
    def flavor(self) -> Flavor: ...

    @property
    def is_cloud(self) -> bool: ...

    def server_info(self) -> ServerInfo: ...

    def field_ids(self) -> dict[str, str]: ...

    def search(
        self,
        jql: str,
        fields: Sequence[str] | None = None,
        page_size: int = 100,
        *,
        expand: Sequence[str] = (),
        properties: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]: ...

    def search_keys(self, jql: str, page_size: int = 100) -> Iterator[str]: ...

    def fetch_issue(self, key: str) -> dict[str, Any]: ...

    def fetch_ticket(self, key: str, policy: Policy) -> Ticket: ...

    def get_property(self, key: str, name: str) -> Any: ...

    def done_keys(self, key: str) -> frozenset[str]: ...

    def comment_action_keys(self, key: str) -> frozenset[str]: ...

    def request_sla(self, key: str) -> list[SlaMetric]: ...

    # writes
    def set_priority(self, key: str, jira_priority_name: str) -> None: ...

    def transition(
        self, key: str, to: str, resolution: str | None = None, fields: Mapping[str, Any] | None = None
    ) -> bool: ...

    def edit_fields(self, key: str, values: Mapping[str, Any]) -> None: ...

    def add_labels(self, key: str, labels: Iterable[str]) -> None: ...

    def remove_labels(self, key: str, labels: Iterable[str]) -> None: ...

    def assign(self, key: str, user: str | None) -> None: ...

    def add_comment(
        self,
        key: str,
        body: str,
        public: bool,
        mentions: Sequence[str] = (),
        *,
        action_key: str | None = None,
    ) -> str | None: ...

    def set_property(self, key: str, name: str, value: Any) -> None: ...

    def record_done(self, key: str, action_key: str) -> None: ...
