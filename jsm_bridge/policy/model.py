"""A loaded policy: the validated spec plus what running it needs (calendars, priority order, templates).

The decision core reads policies only through this class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsm_bridge.calendar import BusinessCalendar, always
from jsm_bridge.policy.durations import Limit
from jsm_bridge.policy.schema import PolicySpec, TierDef
from jsm_bridge.policy.templates import TemplateSet


@dataclass(frozen=True, eq=False)
class Policy:
    """A validated policy ready to run. `calendars[name]` has `add(start, duration)` and `between(start, end)`."""

    spec: PolicySpec
    calendars: Mapping[str, BusinessCalendar]
    templates: TemplateSet
    path: Path | None = None
    wall_clock: BusinessCalendar = field(default_factory=always)

    @property
    def name(self) -> str:
        return self.spec.policy

    @property
    def priorities(self) -> list[str]:
        """Policy priority names, highest first."""
        return list(self.spec.priorities)

    def priority_rank(self, name: str | None) -> int:
        """0 for the highest priority; unknown or missing priorities rank below all known ones."""
        try:
            return self.priorities.index(name) if name is not None else len(self.priorities)
        except ValueError:
            return len(self.priorities)

    def priority_from_jira(self, jira_name: str | None) -> str | None:
        """The policy name for a Jira priority name (case-insensitive), or None when it has none."""
        if jira_name is None:
            return None
        lowered = jira_name.lower()
        for name, definition in self.spec.priorities.items():
            if definition.jira.lower() == lowered or name.lower() == lowered:
                return name
        return None

    def jira_priority(self, name: str) -> str:
        return self.spec.priorities[name].jira

    def goal(self, clock: str, priority: str | None) -> Limit | None:
        """The target for a clock (`first_response` or `resolution`) at a priority, or None when there is none."""
        goals: Mapping[str, Limit] = getattr(self.spec.targets, clock)
        if priority is not None and priority in goals:
            return goals[priority]
        return goals.get("default")

    def calendar(self, name: str | None) -> BusinessCalendar:
        """A calendar by name; None (a wall-clock duration) gives the 24x7 calendar."""
        if name is None:
            return self.wall_clock
        return self.calendars[name]

    @property
    def tiers(self) -> list[TierDef]:
        return list(self.spec.tiers)

    def tier(self, name: str) -> TierDef | None:
        for tier in self.spec.tiers:
            if tier.name == name:
                return tier
        return None

    def tier_rank(self, name: str | None) -> int:
        """0 for the first tier; a ticket without a tier is in the first tier."""
        if name is None:
            return 0
        for i, tier in enumerate(self.spec.tiers):
            if tier.name == name:
                return i
        return 0

    def is_resolved(self, status: str) -> bool:
        lowered = status.lower()
        return any(lowered == s.lower() for s in self.spec.workflow.resolved)

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        return self.templates.render(template, context)
