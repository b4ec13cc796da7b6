"""Business-hours calendars: working hours per weekday, a time zone, holidays; working-time arithmetic.

A straightforward day-by-day implementation of the calendar API."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

Interval = tuple[time, time]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    """A calendar that cannot be built or used; the message says what to write instead."""


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    timezone: str
    week: Mapping[int, tuple[Interval, ...]]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    extra_days: Mapping[date, tuple[Interval, ...]] = field(default_factory=dict)
    twenty_four_seven: bool = False

    def __hash__(self) -> int:
        return hash((self.name, self.timezone, self.holiday_country, self.holiday_subdivision))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_24x7(self) -> bool:
        return self.twenty_four_seven

    @property
    def working_day(self) -> timedelta:
        if self.twenty_four_seven:
            return timedelta(days=1)
        lengths = Counter(
            sum(_seconds(end) - _seconds(start) for start, end in intervals)
            for intervals in self.week.values()
            if intervals
        )
        best = max(lengths.items(), key=lambda item: (item[1], item[0]))[0]
        return timedelta(seconds=best)

    def describe(self) -> str:
        if self.twenty_four_seven:
            return "24x7"
        days = ", ".join(
            f"{DAYS[d].title()} " + ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in self.week[d])
            for d in sorted(self.week)
            if self.week[d]
        )
        hols = f", holidays {self.holiday_country}" if self.holiday_country else ""
        if self.holiday_subdivision:
            hols += f"-{self.holiday_subdivision}"
        return f"{days} {self.timezone}{hols}"

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.extra_days:
            intervals = self.extra_days[day]
        elif self.holiday_country and day in _holidays(
            self.holiday_country, self.holiday_subdivision, day.year
        ):
            intervals = ()
        else:
            intervals = self.week.get(day.weekday(), ())
        zone = self.zone
        out = []
        for start, end in intervals:
            s = datetime.combine(day, start, zone).astimezone(UTC)
            end_day = day + timedelta(days=1) if end == time(0) else day
            e = datetime.combine(end_day, end, zone).astimezone(UTC)
            if e > s:
                out.append((s, e))
        return out

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _aware(start)
        if duration < timedelta():
            raise CalendarError("add() takes a duration of zero or more")
        if duration == timedelta() or self.twenty_four_seven:
            return start + duration
        remaining = duration
        cursor = start.astimezone(UTC)
        day = cursor.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(366 * 200):
            for s, e in self._day_intervals(day):
                if e <= cursor:
                    continue
                s = max(s, cursor)
                if e - s >= remaining:
                    return (s + remaining).astimezone(start.tzinfo)
                remaining -= e - s
            day += timedelta(days=1)
        raise CalendarError(f"calendar {self.name!r} has no working time")

    def between(self, start: datetime, end: datetime) -> timedelta:
        _aware(start)
        _aware(end)
        if end < start:
            return -self.between(end, start)
        if self.twenty_four_seven:
            return end - start
        total = timedelta()
        s_utc, e_utc = start.astimezone(UTC), end.astimezone(UTC)
        day = s_utc.astimezone(self.zone).date() - timedelta(days=1)
        last = e_utc.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last:
            for s, e in self._day_intervals(day):
                lo, hi = max(s, s_utc), min(e, e_utc)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def is_working(self, at: datetime) -> bool:
        _aware(at)
        if self.twenty_four_seven:
            return True
        at_utc = at.astimezone(UTC)
        day = at_utc.astimezone(self.zone).date()
        for d in (day - timedelta(days=1), day):
            for s, e in self._day_intervals(d):
                if s <= at_utc < e:
                    return True
        return False

    def next_working_instant(self, at: datetime) -> datetime:
        if self.is_working(at):
            return at
        at_utc = at.astimezone(UTC)
        day = at_utc.astimezone(self.zone).date()
        for _ in range(366 * 10):
            for s, _e in self._day_intervals(day):
                if s >= at_utc:
                    return s.astimezone(at.tzinfo)
            day += timedelta(days=1)
        raise CalendarError(f"calendar {self.name!r} has no working time")


def _seconds(t: time) -> int:
    if t == time(0):
        return 86400
    return t.hour * 3600 + t.minute * 60 + t.second


def _aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(f"{value!r} has no time zone; pass time-zone-aware datetimes")


_HOLIDAY_CACHE: dict[tuple[str, str | None, int], Any] = {}


def _holidays(country: str, subdivision: str | None, year: int) -> Any:
    key = (country, subdivision, year)
    if key not in _HOLIDAY_CACHE:
        _HOLIDAY_CACHE[key] = holidays_lib.country_holidays(country, subdiv=subdivision, years=year)
    return _HOLIDAY_CACHE[key]


def always(name: str = "always") -> BusinessCalendar:
    return BusinessCalendar(
        name=name, timezone="UTC", week={d: ((time(0), time(0)),) for d in range(7)}, twenty_four_seven=True
    )


_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _parse_time(h: str, m: str) -> time:
    hour, minute = int(h), int(m)
    if hour == 24 and minute == 0:
        return time(0)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise CalendarError(f"{h}:{m} is not a time of day; use HH:MM from 00:00 to 24:00")
    return time(hour, minute)


def _parse_hours(text: Any) -> tuple[Interval, ...]:
    if text is None or str(text).strip().lower() in ("", "closed"):
        return ()
    out = []
    for part in str(text).split(","):
        m = _RANGE.match(part)
        if not m:
            raise CalendarError(
                f"{part.strip()!r} is not a range of hours; write HH:MM-HH:MM such as 08:00-17:00"
            )
        start, end = _parse_time(m.group(1), m.group(2)), _parse_time(m.group(3), m.group(4))
        if _seconds(end) <= _seconds(start) and not (start == time(0) and end == time(0)):
            raise CalendarError(f"{part.strip()!r} ends before it starts")
        out.append((start, end))
    out.sort(key=lambda iv: _seconds(iv[0]))
    for (_s1, e1), (s2, _e2) in zip(out, out[1:], strict=False):
        if _seconds(s2) < _seconds(e1):
            raise CalendarError(f"working hours {text!r} overlap")
    return tuple(out)


def _parse_days(key: str) -> list[int]:
    out: list[int] = []
    for part in str(key).lower().split(","):
        part = part.strip()
        if "-" in part:
            a, b = (p.strip()[:3] for p in part.split("-", 1))
            if a not in DAYS or b not in DAYS:
                raise CalendarError(f"{part!r} is not a range of days; write mon-fri")
            i, j = DAYS.index(a), DAYS.index(b)
            out.extend(range(i, j + 1) if i <= j else list(range(i, 7)) + list(range(0, j + 1)))
        else:
            if part[:3] not in DAYS:
                raise CalendarError(f"{part!r} is not a day; use mon, tue, wed, thu, fri, sat, sun")
            out.append(DAYS.index(part[:3]))
    return out


def calendar_from_config(name: str, config: object) -> BusinessCalendar:
    if isinstance(config, str) and config.strip().lower() == "24x7":
        return always(name)
    if not isinstance(config, Mapping):
        raise CalendarError("a calendar is `24x7` or a mapping with timezone, week and holidays")
    tz = config.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"unknown time zone {tz!r}; use an IANA name such as Europe/London") from exc
    week: dict[int, tuple[Interval, ...]] = {}
    for key, hours in dict(config.get("week", {})).items():
        for day in _parse_days(key):
            if day in week:
                raise CalendarError(f"{DAYS[day]} is named twice in the week")
            week[day] = _parse_hours(hours)
    if not any(week.values()):
        raise CalendarError("the week has no working hours")
    hols = config.get("holidays") or {}
    country = hols.get("country")
    subdivision = hols.get("subdivision")
    if country:
        try:
            holidays_lib.country_holidays(country, subdiv=subdivision, years=2026)
        except NotImplementedError as exc:
            raise CalendarError(
                f"unknown holiday country or subdivision {country!r}/{subdivision!r}"
            ) from exc
    extra: dict[date, tuple[Interval, ...]] = {}
    dates = hols.get("dates") or {}
    items = dates.items() if isinstance(dates, Mapping) else ((d, "closed") for d in dates)
    for day, hours in items:
        extra[day if isinstance(day, date) else date.fromisoformat(str(day))] = _parse_hours(hours)
    return BusinessCalendar(
        name=name,
        timezone=str(tz),
        week=week,
        holiday_country=country,
        holiday_subdivision=subdivision,
        extra_days=extra,
    )
