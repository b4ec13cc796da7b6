"""Small values the gateway returns from Jira: server information and JSM's own SLA cycles.

Parsed from JSON once here, so callers never read Jira's dictionaries for these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jsm_bridge.jira.adapter import parse_time
from jsm_bridge.jira.config import CLOUD, DATA_CENTER, Flavor


@dataclass(frozen=True)
class ServerInfo:
    """From /rest/api/2/serverInfo: `deployment_type` is "Cloud", "Server" or "DataCenter"."""

    base_url: str
    version: str
    deployment_type: str
    title: str = ""

    @property
    def flavor(self) -> Flavor:
        return CLOUD if self.deployment_type.lower() == "cloud" else DATA_CENTER

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerInfo:
        return cls(
            base_url=str(data.get("baseUrl") or ""),
            version=str(data.get("version") or ""),
            deployment_type=str(data.get("deploymentType") or "Server"),
            title=str(data.get("serverTitle") or ""),
        )


@dataclass(frozen=True)
class SlaCycle:
    """One cycle of a JSM SLA: when it started (and stopped), its goal, elapsed and remaining time."""

    start: datetime | None
    stop: datetime | None
    breach_time: datetime | None
    breached: bool
    paused: bool
    within_calendar_hours: bool
    goal: timedelta | None
    elapsed: timedelta | None
    remaining: timedelta | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlaCycle:
        return cls(
            start=parse_time(data.get("startTime")),
            stop=parse_time(data.get("stopTime")),
            breach_time=parse_time(data.get("breachTime")),
            breached=bool(data.get("breached")),
            paused=bool(data.get("paused")),
            within_calendar_hours=bool(data.get("withinCalendarHours", True)),
            goal=_duration(data.get("goalDuration")),
            elapsed=_duration(data.get("elapsedTime")),
            remaining=_duration(data.get("remainingTime")),
        )


@dataclass(frozen=True)
class SlaMetric:
    """One SLA of a request (e.g. "Time to first response"): its running cycle and the completed ones."""

    id: str
    name: str
    ongoing: SlaCycle | None
    completed: tuple[SlaCycle, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlaMetric:
        ongoing = data.get("ongoingCycle")
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or ""),
            ongoing=SlaCycle.from_json(ongoing) if isinstance(ongoing, Mapping) else None,
            completed=tuple(
                SlaCycle.from_json(c) for c in data.get("completedCycles") or [] if isinstance(c, Mapping)
            ),
        )


def _duration(value: Any) -> timedelta | None:
    if isinstance(value, Mapping) and value.get("millis") is not None:
        return timedelta(milliseconds=int(value["millis"]))
    return None
