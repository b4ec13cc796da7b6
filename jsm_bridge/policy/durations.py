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

EXAMPLES = "30m, 4h, 2d@office"
MAX_PERCENT = 1000.0


class DurationError(ValueError):
    """A duration, limit or share that cannot be parsed; `path` is where inside the value (a list index)."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


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

    @property
    def is_zero(self) -> bool:
        return self.days == 0 and self.exact == timedelta()

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
    """Parse `30m`, `4h`, `2d`, `1d4h`, `2d@office`; raises DurationError saying what is accepted.

    A bare number is refused: the unit is what tells minutes from days."""
    if not isinstance(value, str):
        raise DurationError(f"expected a duration such as {EXAMPLES}; got {value!r}")
    text = value
    match = _DURATION.match(text)
    if not match:
        raise DurationError(f"expected a duration such as {EXAMPLES}; got {text!r}")
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


def parse_wall_clock(value: Any) -> timedelta:
    """A duration without a calendar (`36h`, `7d`) as a timedelta, for settings and command options;
    raises DurationError for anything else."""
    duration = parse_duration(value)
    if duration.calendar is not None:
        raise DurationError(f"expected a duration in wall-clock time such as 36h or 7d; got {value!r}")
    return duration.exact


def parse_limit(value: Any) -> Limit:
    """A duration, or a list of durations of which the first reached counts: `[1d@office, 12h]`.

    Every part must be longer than zero: a limit of nothing would be reached at once."""
    if isinstance(value, Limit):
        return value
    if isinstance(value, str) and " or " in value:
        return Limit(tuple(_limit_part(v.strip(), ()) for v in value.split(" or ")))
    if isinstance(value, list | tuple):
        if not value:
            raise DurationError(f"expected at least one duration, such as {EXAMPLES}")
        return Limit(tuple(_limit_part(v, (i,)) for i, v in enumerate(value)))
    return Limit((_limit_part(value, ()),))


def _limit_part(value: Any, path: tuple[str | int, ...]) -> Duration:
    try:
        duration = parse_duration(value)
    except DurationError as exc:
        raise DurationError(exc.message, path) from exc
    if duration.is_zero:
        raise DurationError(f"a limit must be longer than zero; got {duration.text!r}", path)
    return duration


def parse_percent(value: Any) -> Percent:
    """`50%` is 0.5 of a target; a share is more than 0% and at most 1000%."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            amount = float(match.group(1))
            if not 0 < amount <= MAX_PERCENT:
                raise DurationError(f"a share of a target is more than 0% and at most 1000%; got {value!r}")
            return Percent(text=value.strip(), fraction=amount / 100)
    raise DurationError(f"expected a share of a target such as 50% or 100%; got {value!r}")


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


_UNIT_WORDS = {"w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}


def human_duration(duration: Duration, working: bool) -> str:
    """A duration in words for customers: `4 working hours`, `5 working days`, `24 hours`, `1 day and
    4 hours`. `working` says whether it is counted on a business calendar (not around the clock)."""
    match = _DURATION.match(duration.text)
    parts = _PART.findall(match.group(1)) if match else []
    words = []
    for number, unit in parts:
        amount = float(number)
        name = _UNIT_WORDS[unit] + ("" if amount == 1 else "s")
        words.append(f"{amount:g} {'working ' if working else ''}{name}")
    return " and ".join(words) if words else duration.text


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
