"""Properties of business-hours calendars, and agreement with a brute-force model that steps day by day.
Calendars cover DST in London and New York, weekend holidays with substitute days, partial and closed days.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jsm_bridge.calendar import BusinessCalendar, Hours, calendar_from_config

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CALENDARS = {
    # The office of the policy examples, with Christmas Eve half days and a bank holiday opened for two hours.
    "london-office": calendar_from_config(
        "london-office",
        {
            "timezone": "Europe/London",
            "week": {"mon-fri": "08:00-17:00"},
            "holidays": {
                "country": "GB",
                "subdivision": "ENG",
                "dates": {
                    "2026-12-24": "09:00-12:00",
                    "2027-12-24": "09:00-12:00",
                    "2026-12-31": "09:00-13:00",
                    "2026-12-28": "10:00-12:00",
                    "2027-01-04": "closed",
                    "2028-12-27": "closed",
                },
            },
        },
    ),
    # Sundays cover both DST changes (01:00 UTC); Saturday night holds the spring-forward example 01:00-03:00.
    "london-dst": calendar_from_config(
        "london-dst",
        {
            "timezone": "Europe/London",
            "week": {"mon-fri": "07:00-12:00, 13:00-19:00", "sat": "01:00-03:00", "sun": "00:00-24:00"},
            "holidays": {
                "country": "GB",
                "subdivision": "ENG",
                "dates": {"2027-03-28": "00:30-01:00, 02:00-05:00"},
            },
        },
    ),
    # US changes clocks at 02:00 on Sundays; Independence Day 2026 is a Saturday (observed Friday 3 July).
    "new-york": calendar_from_config(
        "new-york",
        {
            "timezone": "America/New_York",
            "week": {"mon-thu": "09:00-17:30", "fri": "09:00-12:00, 12:30-16:00", "sun": "00:00-24:00"},
            "holidays": {"country": "US", "subdivision": "NY"},
        },
    ),
    # Far from UTC, so local New Year is a day away from UTC New Year.
    "kiritimati": calendar_from_config(
        "kiritimati",
        {
            "timezone": "Pacific/Kiritimati",
            "week": {"mon-sun": "06:00-22:00"},
        },
    ),
}
DST_CALENDARS = ["london-office", "london-dst", "new-york"]
INPUT_ZONES = [UTC, ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]

FIRST = datetime(2025, 10, 1, tzinfo=UTC)
LAST = datetime(2029, 4, 1, tzinfo=UTC)
TRANSITIONS = [  # UTC instants when clocks change, 2026-2028
    *(
        datetime(y, m, d, 1, tzinfo=UTC)
        for y, m, d in [
            (2026, 3, 29),
            (2026, 10, 25),
            (2027, 3, 28),
            (2027, 10, 31),
            (2028, 3, 26),
            (2028, 10, 29),
        ]
    ),
    *(
        datetime(y, m, d, h, tzinfo=UTC)
        for y, m, d, h in [
            (2026, 3, 8, 7),
            (2026, 11, 1, 6),
            (2027, 3, 14, 7),
            (2027, 11, 7, 6),
            (2028, 3, 12, 7),
            (2028, 11, 5, 6),
        ]
    ),
]
YEAR_ENDS = [datetime(year, 12, 31, 12, tzinfo=UTC) for year in (2025, 2026, 2027, 2028)]


# A brute-force model: step through local days, place each working interval with zoneinfo, clip and count.


@cache
def country_holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision)


def model_hours(calendar: BusinessCalendar, day: date) -> Hours:
    if day in calendar.extra_days:
        return calendar.extra_days[day]
    if calendar.holiday_country and day in country_holidays(
        calendar.holiday_country, calendar.holiday_subdivision
    ):
        return ()
    return calendar.week.get(day.weekday(), ())


def model_intervals(calendar: BusinessCalendar, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals, as UTC datetimes, from the day before `after` onwards."""
    zone = ZoneInfo(calendar.timezone)
    day = after.astimezone(zone).date() - timedelta(days=1)
    while True:
        for start, end in model_hours(calendar, day):
            end_day = day + timedelta(days=1) if end == time(0) else day
            begin = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            finish = datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
            if finish > begin:
                yield begin, finish
        day += timedelta(days=1)


def utc(instant: datetime) -> datetime:
    """Compare instants in UTC: Python's == across zones is False for ambiguous wall times (PEP 495)."""
    return instant.astimezone(UTC)


def model_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    # In UTC: Python adds and subtracts datetimes of one zone by wall clock, across DST changes too.
    start, end = utc(start), utc(end)
    if end < start:
        return -model_between(calendar, end, start)
    total = timedelta(0)
    for begin, finish in model_intervals(calendar, start):
        if begin >= end:
            return total
        total += max(timedelta(0), min(finish, end) - max(begin, start))
    raise AssertionError("unreachable")


def model_add(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    if not duration:
        return start
    start = utc(start)  # see model_between
    left = duration
    for begin, finish in model_intervals(calendar, start):
        begin = max(begin, start)
        if finish <= begin:
            continue
        if left <= finish - begin:
            return begin + left
        left -= finish - begin
    raise AssertionError("unreachable")


def model_is_working(calendar: BusinessCalendar, at: datetime) -> bool:
    for begin, finish in model_intervals(calendar, at):
        if begin > at:
            return False
        if at < finish:
            return True
    raise AssertionError("unreachable")


# Strategies


def instants(first: datetime = FIRST, last: datetime = LAST) -> st.SearchStrategy[datetime]:
    span = int((last - first).total_seconds())
    return st.builds(
        lambda seconds, micros, zone: (first + timedelta(seconds=seconds, microseconds=micros)).astimezone(
            zone
        ),
        st.integers(0, span),
        st.one_of(st.just(0), st.integers(0, 999_999)),
        st.sampled_from(INPUT_ZONES),
    )


def near(moments: list[datetime], days: int = 4) -> st.SearchStrategy[datetime]:
    return st.sampled_from(moments).flatmap(
        lambda moment: instants(moment - timedelta(days=days), moment + timedelta(days=days))
    )


def round_to_quarter_hour(moment: datetime) -> datetime:
    return moment - timedelta(
        minutes=moment.minute % 15, seconds=moment.second, microseconds=moment.microsecond
    )


# Starts on the hour or quarter hour land exactly on openings and closings; others fall anywhere.
any_instant = st.one_of(instants(), instants().map(round_to_quarter_hour), near(TRANSITIONS), near(YEAR_ENDS))
durations = st.one_of(
    st.integers(0, 60 * 3600).map(lambda s: timedelta(seconds=s)),  # up to about a working week
    st.integers(0, 400 * 3600).map(lambda s: timedelta(seconds=s)),
    st.integers(0, 400 * 3600 * 1_000_000).map(lambda us: timedelta(microseconds=us)),
    st.integers(0, 60).map(lambda quarters: timedelta(minutes=15 * quarters)),
)
calendar_names = pytest.mark.parametrize("name", list(CALENDARS))
dst_calendar_names = pytest.mark.parametrize("name", DST_CALENDARS)


# Properties


@calendar_names
@PROPERTY
@given(start=any_instant, duration=durations)
def test_between_of_start_and_add_is_the_duration(name: str, start: datetime, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    assert calendar.between(start, calendar.add(start, duration)) == duration


@calendar_names
@PROPERTY
@given(start=any_instant, first=durations, second=durations)
def test_add_is_monotonic_in_the_duration(
    name: str, start: datetime, first: timedelta, second: timedelta
) -> None:
    calendar = CALENDARS[name]
    shorter, longer = sorted((first, second))
    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@calendar_names
@PROPERTY
@given(first=any_instant, second=any_instant, duration=durations)
def test_add_is_monotonic_in_the_start(
    name: str, first: datetime, second: datetime, duration: timedelta
) -> None:
    calendar = CALENDARS[name]
    earlier, later = sorted((first, second))
    assert calendar.add(earlier, duration) <= calendar.add(later, duration)


@calendar_names
@PROPERTY
@given(a=any_instant, b=any_instant, c=any_instant)
def test_between_is_additive(name: str, a: datetime, b: datetime, c: datetime) -> None:
    calendar = CALENDARS[name]
    assert calendar.between(a, b) + calendar.between(b, c) == calendar.between(a, c)


@calendar_names
@PROPERTY
@given(a=any_instant, b=any_instant)
def test_between_swapped_is_negated(name: str, a: datetime, b: datetime) -> None:
    calendar = CALENDARS[name]
    assert calendar.between(b, a) == -calendar.between(a, b)


@calendar_names
@PROPERTY
@given(start=any_instant, duration=durations)
def test_add_ends_in_working_time_or_exactly_at_a_close(
    name: str, start: datetime, duration: timedelta
) -> None:
    assume(duration > timedelta(0))
    calendar = CALENDARS[name]
    end = calendar.add(start, duration)
    just_before = end - timedelta(microseconds=1)
    assert calendar.is_working(end) or calendar.between(just_before, end) == timedelta(microseconds=1)


@calendar_names
@PROPERTY
@given(at=any_instant)
def test_next_working_instant_is_working_with_no_work_skipped(name: str, at: datetime) -> None:
    calendar = CALENDARS[name]
    found = calendar.next_working_instant(at)
    assert found >= at
    assert calendar.is_working(found)
    assert calendar.between(at, found) == timedelta(0)


@dst_calendar_names
@PROPERTY
@given(start=near(TRANSITIONS), duration=durations)
def test_between_inverts_add_across_dst_changes(name: str, start: datetime, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    assert calendar.between(start, calendar.add(start, duration)) == duration


@PROPERTY
@given(
    day=st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    minute=st.integers(8 * 60, 17 * 60 - 1),
    duration=durations,
)
def test_add_from_inside_working_hours_round_trips(day: date, minute: int, duration: timedelta) -> None:
    calendar = CALENDARS["london-office"]
    start = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=ZoneInfo("Europe/London"))
    assume(calendar.is_working(start))
    assert calendar.between(start, calendar.add(start, duration)) == duration
    assert utc(calendar.add(start, duration)) == utc(model_add(calendar, start, duration))


@PROPERTY
@given(
    day=st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    minute=st.one_of(st.integers(0, 8 * 60 - 1), st.integers(17 * 60, 24 * 60 - 1)),
    duration=durations,
)
def test_add_from_outside_working_hours_counts_from_the_next_opening(
    day: date, minute: int, duration: timedelta
) -> None:
    calendar = CALENDARS["london-office"]
    start = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=ZoneInfo("Europe/London"))
    assume(not calendar.is_working(start))
    assume(duration > timedelta(0))
    opening = calendar.next_working_instant(start)
    assert utc(calendar.add(start, duration)) == utc(calendar.add(opening, duration))


# Agreement with the brute-force model


@calendar_names
@PROPERTY
@given(start=any_instant, duration=durations)
def test_add_agrees_with_the_model(name: str, start: datetime, duration: timedelta) -> None:
    calendar = CALENDARS[name]
    assert utc(calendar.add(start, duration)) == utc(model_add(calendar, start, duration))


def test_the_model_counts_elapsed_time_across_the_start_zones_clock_change() -> None:
    # Found by the property above: a start given in New York's time, 19:00:01 EST on the eve of the US
    # change, plus 7:59:59 of London's open Sunday is 08:00 UTC. Python's wall-clock arithmetic on the
    # start's own zone would give 07:00 UTC (03:00 EDT), as the model did.
    calendar = CALENDARS["london-dst"]
    start = datetime(2026, 3, 7, 19, 0, 1, tzinfo=ZoneInfo("America/New_York"))
    expected = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    assert utc(calendar.add(start, timedelta(seconds=28799))) == expected
    assert utc(model_add(calendar, start, timedelta(seconds=28799))) == expected
    assert calendar.between(start, expected) == model_between(calendar, start, expected)


@calendar_names
@PROPERTY
@given(
    start=any_instant,
    seconds=st.one_of(st.integers(-7 * 86_400, 7 * 86_400), st.integers(-400 * 86_400, 400 * 86_400)),
)
def test_between_agrees_with_the_model(name: str, start: datetime, seconds: int) -> None:
    calendar = CALENDARS[name]
    end = (start.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(start.tzinfo)
    assert calendar.between(start, end) == model_between(calendar, start, end)


@calendar_names
@PROPERTY
@given(at=any_instant)
def test_is_working_agrees_with_the_model(name: str, at: datetime) -> None:
    calendar = CALENDARS[name]
    assert calendar.is_working(at) == model_is_working(calendar, at)


@pytest.mark.parametrize("name", ["london-office", "new-york"])
@PROPERTY
@given(
    start=near([datetime(year, 12, 24, tzinfo=UTC) for year in (2025, 2026, 2027, 2028)], days=6),
    duration=durations,
)
def test_add_over_christmas_and_new_year_agrees_with_the_model(
    name: str, start: datetime, duration: timedelta
) -> None:
    calendar = CALENDARS[name]
    end = calendar.add(start, duration)
    assert utc(end) == utc(model_add(calendar, start, duration))
    assert calendar.between(start, end) == model_between(calendar, start, end)


@pytest.mark.parametrize("name", DST_CALENDARS)
@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda moment: moment.strftime("%Y-%m-%dT%H"))
def test_every_minute_around_a_dst_change_agrees_with_the_model(name: str, transition: datetime) -> None:
    calendar = CALENDARS[name]
    minutes = [transition + timedelta(minutes=m) for m in range(-26 * 60, 26 * 60, 5)]
    assert [calendar.is_working(at) for at in minutes] == [model_is_working(calendar, at) for at in minutes]
    assert calendar.between(minutes[0], minutes[-1]) == model_between(calendar, minutes[0], minutes[-1])


@pytest.mark.parametrize("name", ["london-office", "new-york"])
@settings(PROPERTY, max_examples=25)
@given(start=instants(), years=st.integers(1, 6))
def test_spans_of_years_agree_with_the_model(name: str, start: datetime, years: int) -> None:
    calendar = CALENDARS[name]
    duration = timedelta(hours=years * 2000, seconds=17)
    end = calendar.add(start, duration)
    assert utc(end) == utc(model_add(calendar, start, duration))
    assert calendar.between(start, end) == duration
