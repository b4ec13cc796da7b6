"""Business-hours calendars: working hours per weekday in a time zone, public holidays and special days.
Answers "when has this much working time passed?" and "how much working time lies between two instants?".
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from difflib import get_close_matches
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

__all__ = [
    "BusinessCalendar",
    "CalendarError",
    "Hours",
    "always",
    "calendar_from_config",
]

Hours = tuple[tuple[time, time], ...]
"""Working intervals of one day: sorted, non-overlapping; an end of time(0, 0) means midnight (24:00)."""

_K = TypeVar("_K")
_V = TypeVar("_V")

# All arithmetic is on integer microseconds since the Unix epoch (UTC), so results are exact.
_US = 1_000_000
_DAY_US = 86_400 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIDNIGHT = time(0, 0)
_FULL_DAY: Hours = ((_MIDNIGHT, _MIDNIGHT),)
# The index of year y needs the first instant of year y + 1, so the last year datetime can hold is left out.
_MIN_YEAR = 2
_MAX_YEAR = 9998

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NUMBERS = {name: number for number, name in enumerate(_DAY_NAMES)} | {
    full: number
    for number, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_DAYS_HINT = "write mon, tue, wed, thu, fri, sat or sun, a range such as mon-fri, or a list such as sat,sun"
_HOURS_HINT = 'write "HH:MM-HH:MM" (24:00 may end a day), several separated by commas, or "closed"'
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_LONGEST_LISTED = 20


class CalendarError(ValueError):
    """A calendar is misconfigured or used wrongly; the message says what is wrong and what to write instead.

    `path` holds the config keys leading to the bad value (e.g. ("week", "mon-fri")), so a policy loader
    can point at the file line; it is empty when the problem is not in a config value.
    """

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class _FrozenMap(Mapping[_K, _V]):
    """An immutable, hashable mapping, so a frozen calendar can hold its week and special days."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Iterable[tuple[_K, _V]] = ()) -> None:
        self._data: dict[_K, _V] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: _K) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return repr(self._data)


@dataclass(frozen=True, eq=False)
class _YearIndex:
    """The working intervals of one local calendar year as UTC microseconds, with running totals.

    Interval i is [starts[i], ends[i]); cum_start[i] is the working time before it in the year and
    cum_end[i] the working time up to its end. Intervals are non-empty, sorted and never touch.
    """

    year: int
    begin: int
    end: int
    starts: list[int]
    ends: list[int]
    cum_start: list[int]
    cum_end: list[int]
    total: int

    def worked_before(self, t: int) -> int:
        """Working microseconds in this year before instant t (t within [begin, end])."""
        i = bisect_right(self.ends, t)
        if i == len(self.ends):
            return self.total
        start = self.starts[i]
        return self.cum_start[i] + (t - start if t > start else 0)

    def instant_after(self, worked: int) -> int:
        """The instant when `worked` (0 < worked <= total) microseconds of the year's work have passed."""
        j = bisect_left(self.cum_end, worked)
        return self.starts[j] + worked - self.cum_start[j]

    def locate(self, t: int) -> tuple[int, bool]:
        """The interval holding t and True, or the next interval (possibly len(starts)) and False."""
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.ends[i]:
            return i, True
        return i + 1, False


class _Cache:
    """Per-calendar derived data: the zone, per-weekday bounds and one index per year, built on first use."""

    __slots__ = ("day_bounds", "extra_bounds", "is_24x7", "years", "zone")

    def __init__(self, calendar: BusinessCalendar, zone: ZoneInfo) -> None:
        self.zone = zone
        self.day_bounds = tuple(_bounds(calendar.week.get(day, ())) for day in range(7))
        self.extra_bounds = {day: _bounds(hours) for day, hours in calendar.extra_days.items()}
        self.is_24x7 = (
            calendar.holiday_country is None
            and all(calendar.week.get(day) == _FULL_DAY for day in range(7))
            and all(hours == _FULL_DAY for hours in calendar.extra_days.values())
        )
        self.years: dict[int, _YearIndex] = {}


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday in one time zone, minus public holidays, with explicit special days.

    Working hours are wall-clock times in `timezone`; each day's bounds are placed on the time line with
    zoneinfo (fold=0, the first of two repeated readings; a bound inside a spring-forward gap means the
    moment the clocks jump) and working time is real elapsed time, so DST days count their true length.
    """

    name: str
    timezone: str
    week: Mapping[int, Hours]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    extra_days: Mapping[date, Hours] = field(default_factory=dict)
    _cache: _Cache = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        where = f"calendar {self.name!r}"
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise CalendarError(
                f"{where}: unknown time zone {self.timezone!r}; {_zone_hint(self.timezone)}",
                ("timezone",),
            ) from None
        for value, key in ((self.week, "week"), (self.extra_days, "extra_days")):
            if not isinstance(value, Mapping):
                raise CalendarError(f"{where}: {key} must be a mapping, got {type(value).__name__}", (key,))
        week: dict[int, Hours] = {}
        for day, hours in self.week.items():
            if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
                raise CalendarError(
                    f"{where}: unknown weekday {day!r} in week; use 0 (Monday) to 6 (Sunday)", ("week",)
                )
            week[day] = _checked_hours(f"{where}: {_DAY_NAMES[day]}", hours, ("week", _DAY_NAMES[day]))
        if not any(week.values()):
            raise CalendarError(
                f"{where}: the week has no working time, so no deadline would ever arrive; "
                'give at least one day hours, e.g. mon-fri: "08:00-17:00"',
                ("week",),
            )
        extra: dict[date, Hours] = {}
        for special, hours in self.extra_days.items():
            if not isinstance(special, date) or isinstance(special, datetime):
                raise CalendarError(
                    f"{where}: special day {special!r} is not a date; write it as YYYY-MM-DD",
                    ("holidays", "dates"),
                )
            text = special.isoformat()
            extra[special] = _checked_hours(f"{where}: {text}", hours, ("holidays", "dates", text))
        country, subdivision = _checked_holiday_region(where, self.holiday_country, self.holiday_subdivision)
        object.__setattr__(self, "week", _FrozenMap(sorted(week.items())))
        object.__setattr__(self, "extra_days", _FrozenMap(sorted(extra.items())))
        object.__setattr__(self, "holiday_country", country)
        object.__setattr__(self, "holiday_subdivision", subdivision)
        object.__setattr__(self, "_cache", _Cache(self, zone))

    # Public operations

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of working time has passed after `start`, in start's time zone.

        A zero duration returns `start` unchanged. A positive one never ends in non-working time, except
        exactly at the close of a working interval (work that finishes at 17:00 is due at 17:00).
        """
        t = _to_us(start, "start")
        if not isinstance(duration, timedelta):
            raise CalendarError(f"duration must be a timedelta, not {type(duration).__name__}")
        d = _td_us(duration)
        if d < 0:
            raise CalendarError(f"duration {duration} is negative; add a duration of zero or more")
        if d == 0:
            return start
        if self._cache.is_24x7:
            return _from_us(t + d, start)
        index = self._index_at(t)
        worked = index.worked_before(t) + d
        while worked > index.total:
            worked -= index.total
            index = self._index(index.year + 1)
        return _from_us(index.instant_after(worked), start)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); negative (minus between(end, start)) when end is before start."""
        a = _to_us(start, "start")
        b = _to_us(end, "end")
        if self._cache.is_24x7:
            return timedelta(microseconds=b - a)
        if b < a:
            return -timedelta(microseconds=self._worked_between(b, a))
        return timedelta(microseconds=self._worked_between(a, b))

    def is_working(self, at: datetime) -> bool:
        """Whether `at` falls in working time (an interval's start is working, its end is not)."""
        t = _to_us(at, "at")
        if self._cache.is_24x7:
            return True
        return self._index_at(t).locate(t)[1]

    def next_working_instant(self, at: datetime) -> datetime:
        """`at` itself when it is working time, else the start of the next working interval (in at's zone)."""
        t = _to_us(at, "at")
        if self._cache.is_24x7:
            return at
        index = self._index_at(t)
        i, inside = index.locate(t)
        if inside:
            return at
        while i >= len(index.starts):
            index = self._index(index.year + 1)
            i = 0
        return _from_us(index.starts[i], at)

    @property
    def working_day(self) -> timedelta:
        """One working day, for durations like "2d@office": the most common non-zero weekday length.

        Ties go to the longest; lengths are wall-clock hours (24h for a 24x7 calendar).
        """
        lengths = [_hours_us(hours) for hours in self.week.values()]
        counts: dict[int, int] = {}
        for length in lengths:
            if length:
                counts[length] = counts.get(length, 0) + 1
        best = max(counts, key=lambda length: (counts[length], length))
        return timedelta(microseconds=best)

    @property
    def is_24x7(self) -> bool:
        """Whether every instant is working time (add and between are then plain arithmetic)."""
        return self._cache.is_24x7

    def describe(self) -> str:
        """One line for humans, e.g. "Mon-Fri 08:00-17:00 Europe/London, holidays GB-ENG"."""
        if self.is_24x7:
            return f"24x7 {self.timezone}"
        groups: dict[Hours, list[int]] = {}
        for day in range(7):
            hours = self.week.get(day, ())
            if hours:
                groups.setdefault(hours, []).append(day)
        text = "; ".join(f"{_describe_days(days)} {_describe_hours(hours)}" for hours, days in groups.items())
        text += f" {self.timezone}"
        if self.holiday_country is not None:
            region = self.holiday_country
            if self.holiday_subdivision is not None:
                region += f"-{self.holiday_subdivision}"
            text += f", holidays {region}"
        if self.extra_days:
            closed = sum(1 for hours in self.extra_days.values() if not hours)
            partial = len(self.extra_days) - closed
            parts = [
                f"{count} {kind} day{'s' if count != 1 else ''}"
                for count, kind in ((closed, "closed"), (partial, "special"))
                if count
            ]
            text += ", " + " and ".join(parts)
        return text

    # Index machinery

    def _worked_between(self, a: int, b: int) -> int:
        first = self._index_at(a)
        last = self._index_at(b)
        if first.year == last.year:
            return last.worked_before(b) - first.worked_before(a)
        worked = first.total - first.worked_before(a) + last.worked_before(b)
        for year in range(first.year + 1, last.year):
            worked += self._index(year).total
        return worked

    def _index_at(self, t: int) -> _YearIndex:
        """The index of the local year that holds instant t."""
        day = t // _DAY_US + _EPOCH_ORDINAL
        if not 1 <= day <= date.max.toordinal():
            raise CalendarError(
                f"calendar {self.name!r}: instant is outside the years {_MIN_YEAR}-{_MAX_YEAR}"
            )
        index = self._index(date.fromordinal(day).year)
        # The UTC year and the local year differ only within a day of New Year.
        if t < index.begin:
            return self._index(index.year - 1)
        if t >= index.end:
            return self._index(index.year + 1)
        return index

    def _index(self, year: int) -> _YearIndex:
        cache = self._cache
        index = cache.years.get(year)
        if index is None:
            index = cache.years[year] = self._build_index(year)
        return index

    def _build_index(self, year: int) -> _YearIndex:
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            raise CalendarError(
                f"calendar {self.name!r}: year {year} is outside the supported years {_MIN_YEAR}-{_MAX_YEAR}"
            )
        cache = self._cache
        zone = cache.zone
        closed: frozenset[date] = frozenset()
        if self.holiday_country is not None:
            closed = _holiday_dates(self.holiday_country, self.holiday_subdivision, year)
        starts: list[int] = []
        ends: list[int] = []
        cum_start: list[int] = []
        cum_end: list[int] = []
        total = 0
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        for ordinal in range(first, last + 1):
            day = date.fromordinal(ordinal)
            bounds = cache.extra_bounds.get(day)
            if bounds is None:
                bounds = () if day in closed else cache.day_bounds[day.weekday()]
            midnight = (ordinal - _EPOCH_ORDINAL) * _DAY_US
            for wall_start, wall_end in bounds:
                start = _wall_to_utc(zone, midnight + wall_start)
                end = _wall_to_utc(zone, midnight + wall_end)
                if ends and start < ends[-1]:
                    start = ends[-1]  # defensive: the mapping is monotonic, so this should never happen
                if end <= start:
                    continue  # wholly inside a spring-forward gap
                if ends and start == ends[-1]:
                    # Touching intervals (a day ending at 24:00, the next starting at 00:00) merge into one.
                    total += end - start
                    ends[-1] = end
                    cum_end[-1] = total
                    continue
                starts.append(start)
                ends.append(end)
                cum_start.append(total)
                total += end - start
                cum_end.append(total)
        begin = _wall_to_utc(zone, (first - _EPOCH_ORDINAL) * _DAY_US)
        stop = _wall_to_utc(zone, (last + 1 - _EPOCH_ORDINAL) * _DAY_US)
        return _YearIndex(year, begin, stop, starts, ends, cum_start, cum_end, total)


def always(name: str = "always") -> BusinessCalendar:
    """A calendar where every instant is working time (UTC, no holidays): add and between are arithmetic."""
    return BusinessCalendar(name=name, timezone="UTC", week={day: _FULL_DAY for day in range(7)})


def calendar_from_config(name: str, config: object) -> BusinessCalendar:
    """Build a calendar from its policy-file form: the string "24x7", or a mapping like

        timezone: Europe/London
        week: {mon-fri: "08:00-17:00", sat: "09:00-12:00"}
        holidays: {country: GB, subdivision: ENG, dates: {2026-12-24: "09:00-12:00", 2026-12-29: closed}}

    `holidays.dates` may also be a list of dates, each closed all day.
    Raises CalendarError naming the bad part.
    """
    where = f"calendar {name!r}"
    if isinstance(config, str):
        if config.strip().lower() == "24x7":
            return always(name)
        raise CalendarError(
            f"{where}: {config!r} is not a calendar; write 24x7, or a mapping with timezone, week and "
            "optionally holidays"
        )
    if not isinstance(config, Mapping):
        raise CalendarError(
            f"{where}: expected 24x7 or a mapping with timezone, week and optionally holidays, "
            f"got {type(config).__name__}"
        )
    _refuse_unknown_keys(where, config, ("timezone", "week", "holidays"), ())
    zone_name = config.get("timezone")
    if not isinstance(zone_name, str) or not zone_name.strip():
        raise CalendarError(
            f"{where}: timezone is missing or not text; write an IANA name such as timezone: Europe/London",
            ("timezone",),
        )
    week = _parse_week(where, config.get("week"))
    holiday_config = config.get("holidays")
    country: str | None = None
    subdivision: str | None = None
    extra: dict[date, Hours] = {}
    if holiday_config is not None:
        if not isinstance(holiday_config, Mapping):
            raise CalendarError(
                f"{where}: holidays must be a mapping with country, subdivision and dates, "
                f"e.g. holidays: {{country: GB, subdivision: ENG}}; got {type(holiday_config).__name__}",
                ("holidays",),
            )
        _refuse_unknown_keys(where, holiday_config, ("country", "subdivision", "dates"), ("holidays",))
        country = _optional_code(where, holiday_config.get("country"), "country", "GB")
        subdivision = _optional_code(where, holiday_config.get("subdivision"), "subdivision", "ENG")
        extra = _parse_dates(where, holiday_config.get("dates"))
    return BusinessCalendar(
        name=name,
        timezone=zone_name.strip(),
        week=week,
        holiday_country=country,
        holiday_subdivision=subdivision,
        extra_days=extra,
    )


# Config parsing


def _refuse_unknown_keys(
    where: str, config: Mapping[object, object], known: tuple[str, ...], path: tuple[str, ...]
) -> None:
    unknown = [key for key in config if key not in known]
    if unknown:
        prefix = ".".join(path) + "." if path else ""
        raise CalendarError(
            f"{where}: unknown key {prefix}{unknown[0]}; valid keys are {', '.join(known)}",
            (*path, str(unknown[0])),
        )


def _optional_code(where: str, value: object, key: str, example: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads unquoted numeric subdivision codes (e.g. 57) as numbers
    if not isinstance(value, str) or not value.strip():
        raise CalendarError(
            f"{where}: holidays.{key} must be a code such as {example}, got {value!r}", ("holidays", key)
        )
    return value.strip()


def _parse_week(where: str, config: object) -> dict[int, Hours]:
    if isinstance(config, str) and config.strip().lower() == "24x7":
        return {day: _FULL_DAY for day in range(7)}
    if not isinstance(config, Mapping) or not config:
        raise CalendarError(
            f'{where}: week must map days to hours, e.g. week: {{mon-fri: "08:00-17:00"}}; got {config!r}',
            ("week",),
        )
    week: dict[int, Hours] = {}
    named_by: dict[int, str] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise CalendarError(f"{where}: week key {key!r} is not a day; {_DAYS_HINT}", ("week", str(key)))
        path = ("week", key)
        hours = _parse_hours(f"{where}: week.{key}", value, path)
        for day in _parse_days(where, key):
            if day in named_by:
                raise CalendarError(
                    f"{where}: {_DAY_NAMES[day]} is named in both week.{named_by[day]} and week.{key}; "
                    "name each day once",
                    path,
                )
            named_by[day] = key
            week[day] = hours
    return week


def _parse_days(where: str, key: str) -> list[int]:
    days: list[int] = []
    for item in key.split(","):
        part = item.strip().lower()
        ends = [end.strip() for end in part.split("-")]
        for end in ends:
            if end not in _DAY_NUMBERS:
                raise CalendarError(
                    f"{where}: unknown weekday {end!r} in week key {key!r}; {_DAYS_HINT}", ("week", key)
                )
        if len(ends) == 1:
            days.append(_DAY_NUMBERS[ends[0]])
        elif len(ends) == 2:
            # A range may wrap past Sunday (sun-thu is Sunday to Thursday).
            first, last = _DAY_NUMBERS[ends[0]], _DAY_NUMBERS[ends[1]]
            days.extend((first + step) % 7 for step in range((last - first) % 7 + 1))
        else:
            raise CalendarError(
                f"{where}: week key {key!r} is not a day or range; {_DAYS_HINT}", ("week", key)
            )
    duplicates = sorted({day for day in days if days.count(day) > 1})
    if duplicates:
        raise CalendarError(
            f"{where}: week key {key!r} names {_DAY_NAMES[duplicates[0]]} twice; name each day once",
            ("week", key),
        )
    return days


def _parse_hours(where: str, value: object, path: tuple[str, ...]) -> Hours:
    if value is None:
        return ()
    if isinstance(value, bool):
        raise CalendarError(
            f"{where}: got {str(value).lower()} (YAML reads off, no and yes as booleans); "
            f'write "closed" or hours such as "08:00-17:00"',
            path,
        )
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise CalendarError(f"{where}: {value!r} is not hours; {_HOURS_HINT}", path)
    if len(items) == 1 and items[0].strip().lower() in ("", "closed"):
        return ()
    intervals: list[tuple[time, time]] = []
    for item in items:
        text = item.strip()
        match = _INTERVAL.match(text)
        if match is None:
            raise CalendarError(f"{where}: {text!r} is not an interval; {_HOURS_HINT}", path)
        start = _parse_clock(where, text, int(match[1]), int(match[2]), path, is_end=False)
        end = _parse_clock(where, text, int(match[3]), int(match[4]), path, is_end=True)
        intervals.append((start, end))
    # Written order does not matter; overlaps are refused by the calendar itself.
    intervals.sort(key=lambda interval: _clock_us(interval[0], is_end=False))
    return _checked_hours(where, tuple(intervals), path)


def _parse_clock(
    where: str, text: str, hour: int, minute: int, path: tuple[str, ...], *, is_end: bool
) -> time:
    if is_end and hour == 24 and minute == 0:
        return _MIDNIGHT
    if hour > 23 or minute > 59:
        allowed = "00:00 to 24:00" if is_end else "00:00 to 23:59"
        raise CalendarError(f"{where}: {text!r} has a time out of range; use {allowed}", path)
    return time(hour, minute)


def _parse_dates(where: str, config: object) -> dict[date, Hours]:
    if config is None:
        return {}
    entries: list[tuple[object, object]]
    if isinstance(config, Mapping):
        entries = list(config.items())
    elif isinstance(config, list | tuple):
        entries = [(day, "closed") for day in config]
    else:
        raise CalendarError(
            f'{where}: holidays.dates must map dates to hours (2026-12-24: "09:00-12:00", '
            "2026-12-29: closed) "
            f"or list closed dates ([2026-12-29, 2026-12-30]); got {type(config).__name__}",
            ("holidays", "dates"),
        )
    days: dict[date, Hours] = {}
    for key, value in entries:
        day = _parse_date(where, key)
        path = ("holidays", "dates", day.isoformat())
        if day in days:
            raise CalendarError(
                f"{where}: holidays.dates names {day.isoformat()} twice; name each date once", path
            )
        days[day] = _parse_hours(f"{where}: holidays.dates.{day.isoformat()}", value, path)
    return days


def _parse_date(where: str, value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise CalendarError(
        f"{where}: {value!r} in holidays.dates is not a date; write it as YYYY-MM-DD, e.g. 2026-12-24",
        ("holidays", "dates", str(value)),
    )


# Validation shared by config parsing and direct construction


def _checked_hours(where: str, hours: object, path: tuple[str, ...]) -> Hours:
    if not isinstance(hours, tuple | list):
        raise CalendarError(f"{where}: hours must be a tuple of (start, end) times, got {hours!r}", path)
    checked: list[tuple[time, time]] = []
    previous_end = -1
    for interval in hours:
        if (
            not isinstance(interval, tuple | list)
            or len(interval) != 2
            or not all(isinstance(bound, time) and bound.tzinfo is None for bound in interval)
        ):
            raise CalendarError(f"{where}: {interval!r} is not a pair of naive times (start, end)", path)
        start, end = interval[0], interval[1]
        start_us, end_us = _clock_us(start, is_end=False), _clock_us(end, is_end=True)
        label = f"{_clock_text(start, is_end=False)}-{_clock_text(end, is_end=True)}"
        if end_us <= start_us:
            raise CalendarError(
                f"{where}: interval {label} ends before it starts; working hours run forward within a day "
                '(an overnight shift is split: "22:00-24:00" on one day and "00:00-06:00" on the next)',
                path,
            )
        if start_us < previous_end:
            raise CalendarError(
                f"{where}: interval {label} overlaps or precedes the one before it; list intervals in order "
                'without overlap, e.g. "08:00-12:00, 13:00-17:00"',
                path,
            )
        previous_end = end_us
        checked.append((start, end))
    return tuple(checked)


def _checked_holiday_region(
    where: str, country: str | None, subdivision: str | None
) -> tuple[str | None, str | None]:
    if country is None:
        if subdivision is not None:
            raise CalendarError(
                f"{where}: holiday subdivision {subdivision!r} needs a country; "
                "add holidays.country, e.g. GB",
                ("holidays", "subdivision"),
            )
        return None, None
    supported = holidays.list_supported_countries()
    code = country.strip().upper()
    if code not in supported:
        raise CalendarError(
            f"{where}: unknown holiday country {country!r}; write an ISO 3166-1 country code "
            "that the holidays package supports, such as GB, US, DE or FR",
            ("holidays", "country"),
        )
    if subdivision is None:
        return code, None
    subdivision = _canonical_subdivision(code, subdivision.strip(), supported[code])
    try:
        holidays.country_holidays(code, subdiv=subdivision, years=[])
    except NotImplementedError:
        valid = supported[code]
        if not valid:
            hint = f"{code} has no subdivisions in the holidays package; leave subdivision out"
        elif len(valid) <= _LONGEST_LISTED:
            hint = f"write one of {', '.join(valid)}"
        else:
            hint = (
                f"write one of the {len(valid)} codes the holidays package lists for {code}, e.g. "
                + ", ".join(valid[:5])
            )
        raise CalendarError(
            f"{where}: unknown holiday subdivision {subdivision!r} for {code}; {hint}",
            ("holidays", "subdivision"),
        ) from None
    return code, subdivision


def _zone_hint(written: object) -> str:
    """What to write instead of an unknown zone name: the name in its right case, close names or common ones."""
    by_folded = {name.casefold(): name for name in available_timezones()}
    text = str(written).strip().casefold()
    if text in by_folded:
        return f"write {by_folded[text]} (zone names are case-sensitive)"
    close = [by_folded[match] for match in get_close_matches(text, sorted(by_folded), n=3, cutoff=0.75)]
    if not close:
        close = ["Europe/London", "America/New_York", "UTC"]
    listed = close[0] if len(close) == 1 else ", ".join(close[:-1]) + " or " + close[-1]
    return f"write an IANA name such as {listed}"


def _canonical_subdivision(country: str, subdivision: str, codes: list[str]) -> str:
    """The package's own code for a subdivision written in another case or as a name ("England" -> "ENG")."""
    by_folded = {code.casefold(): code for code in codes}
    aliases: Mapping[str, str] = getattr(holidays.country_holidays(country), "subdivisions_aliases", {})
    by_folded.update({alias.casefold(): code for alias, code in aliases.items()})
    return by_folded.get(subdivision.casefold(), subdivision)


@lru_cache(maxsize=1024)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


# Time conversion


def _to_us(moment: datetime, what: str) -> int:
    if not isinstance(moment, datetime):
        raise CalendarError(f"{what} must be a time-zone-aware datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(
            f"{what} {moment.isoformat()} has no time zone; pass an aware datetime, "
            "e.g. datetime(..., tzinfo=ZoneInfo('Europe/London'))"
        )
    return _td_us(moment - _EPOCH)


def _from_us(t: int, like: datetime) -> datetime:
    """Instant t as a datetime in the time zone of `like`."""
    try:
        moment = _EPOCH + timedelta(microseconds=t)
    except OverflowError:
        raise CalendarError("the result is beyond the range of datetime") from None
    zone: tzinfo | None = like.tzinfo
    return moment.astimezone(zone)


def _td_us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _wall_to_utc(zone: ZoneInfo, wall: int) -> int:
    """The first instant (UTC microseconds) at which clocks in `zone` read `wall`.

    `wall` is a local clock reading in microseconds since 1970-01-01 00:00. A reading that occurs twice
    (fall-back) means the first (fold=0); a reading skipped by a spring-forward gap means the moment the
    clocks jump, the first instant that reads later than it.
    """
    naive = datetime(1970, 1, 1) + timedelta(microseconds=wall)
    before = naive.replace(tzinfo=zone).utcoffset()
    after = naive.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    if after <= before:
        return wall - _td_us(before)
    # In a gap: the jump lies between the two readings; find it to the second.
    low, high = (wall - _td_us(after)) // _US, (wall - _td_us(before)) // _US
    while low < high:
        mid = (low + high) // 2
        offset = (_EPOCH + timedelta(seconds=mid)).astimezone(zone).utcoffset()
        if offset == after:
            high = mid
        else:
            low = mid + 1
    return low * _US


def _clock_us(moment: time, *, is_end: bool) -> int:
    if is_end and moment == _MIDNIGHT:
        return _DAY_US
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * _US + moment.microsecond


def _bounds(hours: Hours) -> tuple[tuple[int, int], ...]:
    return tuple((_clock_us(start, is_end=False), _clock_us(end, is_end=True)) for start, end in hours)


def _hours_us(hours: Hours) -> int:
    return sum(end - start for start, end in _bounds(hours))


# Descriptions


def _clock_text(moment: time, *, is_end: bool) -> str:
    if is_end and moment == _MIDNIGHT:
        return "24:00"
    text = f"{moment.hour:02d}:{moment.minute:02d}"
    if moment.second or moment.microsecond:
        text += f":{moment.second:02d}"
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text


def _describe_hours(hours: Hours) -> str:
    return ", ".join(
        f"{_clock_text(start, is_end=False)}-{_clock_text(end, is_end=True)}" for start, end in hours
    )


def _describe_days(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = [
        _DAY_NAMES[run[0]].title() + (f"-{_DAY_NAMES[run[-1]].title()}" if len(run) > 1 else "")
        for run in runs
    ]
    return ",".join(names)
