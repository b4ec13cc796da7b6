"""Durations, limits and shares as a policy writes them: `4h`, `2d@office`, `[1d@office, 12h]`, `50%`.

A duration without `@calendar` is wall-clock time; a day on a business calendar is one working day."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

WALL_CLOCK = "24x7"

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_DURATION = re.compile(r"^\s*((?:\d+(?:\.\d+)?\s*[wdhms]\s*)+)(?:@\s*([A-Za-z0-9_.-]+))?\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")

EXAMPLES = "30m, 4h, 2d, 1d4h, 2d@office"


class WorkingCalendar(Protocol):
    """What durations need of a calendar (jsm_bridge.calendar.BusinessCalendar provides it)."""

    @property
    def working_day(self) -> timedelta: ...

    def add(self, start: datetime, duration: timedelta) -> datetime: ...

    def between(self, start: datetime, end: datetime) -> timedelta: ...


@dataclass(frozen=True)
class Duration:
    """An amount of time on a calendar. `days` count working days of that calendar; `exact` is the rest."""

    text: str
    days: float
    exact: timedelta
    calendar: str | None  # None: wall-clock time

    def amount(self, calendar: WorkingCalendar) -> timedelta:
        """The working time this duration stands for on `calendar` (days times its working day, plus the rest)."""
        day = calendar.working_day if self.calendar is not None else timedelta(days=1)
        return timedelta(seconds=round(self.days * day.total_seconds())) + self.exact

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Limit:
    """One or more durations; the limit is reached when the first of them is (e.g. 1 working day or 12 hours)."""

    parts: tuple[Duration, ...]

    def __str__(self) -> str:
        if len(self.parts) == 1:
            return str(self.parts[0])
        return " or ".join(str(p) for p in self.parts)

    @property
    def calendars(self) -> tuple[str | None, ...]:
        return tuple(p.calendar for p in self.parts)


@dataclass(frozen=True)
class Percent:
    """A share of a target, such as `50%` (0.5) or `100%` (1.0)."""

    text: str
    fraction: float

    def __str__(self) -> str:
        return self.text


def parse_duration(value: Any) -> Duration:
    """Parse `30m`, `4h`, `2d`, `1d4h`, `2d@office`; raises ValueError saying what is accepted."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a duration such as {EXAMPLES}; got {value!r}")
    text = str(value)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; write an amount and a unit (w, d, h, m, s), as in {EXAMPLES}"
        )
    days = 0.0
    exact = timedelta()
    for number, unit in _PART.findall(match.group(1)):
        amount = float(number)
        if unit == "w":
            days += amount * 5 if match.group(2) else amount * 7
        elif unit == "d":
            days += amount
        elif unit == "h":
            exact += timedelta(hours=amount)
        elif unit == "m":
            exact += timedelta(minutes=amount)
        else:
            exact += timedelta(seconds=amount)
    calendar = match.group(2)
    if calendar is None:
        exact += timedelta(days=days)
        days = 0.0
    return Duration(text=text.strip(), days=days, exact=exact, calendar=calendar)


def parse_limit(value: Any) -> Limit:
    """A duration, or a list of durations of which the first reached counts: `[1d@office, 12h]`."""
    if isinstance(value, Limit):
        return value
    if isinstance(value, str) and " or " in value:
        value = [v.strip() for v in value.split(" or ")]
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("expected at least one duration")
        return Limit(tuple(parse_duration(v) for v in value))
    return Limit((parse_duration(value),))


def parse_percent(value: Any) -> Percent:
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            return Percent(text=value.strip(), fraction=float(match.group(1)) / 100)
    raise ValueError(f"expected a share of a target such as 50% or 100%; got {value!r}")


def parse_share_or_duration(value: Any) -> Percent | Duration:
    """`50%` (a share of a target) or `4h@office` (elapsed time on the clock)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_percent(value)
    return parse_duration(value)


def limit_deadline(
    limit: Limit,
    start: datetime,
    calendars: Mapping[str, WorkingCalendar],
    wall_clock: WorkingCalendar,
) -> datetime:
    """The instant the limit is reached when counting from `start` with no pauses: the earliest of its parts."""
    ends = []
    for part in limit.parts:
        calendar = calendars[part.calendar] if part.calendar is not None else wall_clock
        ends.append(calendar.add(start, part.amount(calendar)))
    return min(ends)


def format_duration(value: timedelta) -> str:
    """A duration for people: `45m`, `3h 20m`, `2d 4h` (days of 24 hours), `0m` for nothing."""
    seconds = int(abs(value.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes = seconds // 60
    parts = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    sign = "-" if value < timedelta() else ""
    return sign + " ".join(parts)
