"""Durations, limits and shares as policies write them, and how they turn into time on a calendar."""

from datetime import UTC, datetime, timedelta

import pytest

from jsm_bridge.calendar import always, calendar_from_config
from jsm_bridge.policy.durations import (
    Duration,
    DurationError,
    Percent,
    format_duration,
    limit_deadline,
    parse_duration,
    parse_limit,
    parse_percent,
    parse_share_or_duration,
)

OFFICE = calendar_from_config("office", {"timezone": "UTC", "week": {"mon-fri": "09:00-17:00"}})
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(days=7)),
        ("1d4h", timedelta(days=1, hours=4)),
        ("1.5h", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_wall_clock_duration_is_exact_time(text, exact):
    assert parse_duration(text) == Duration(text=text, days=0, exact=exact, calendar=None)


def test_days_on_a_calendar_are_working_days():
    assert parse_duration("2d@office") == Duration(
        text="2d@office", days=2, exact=timedelta(), calendar="office"
    )


def test_a_week_on_a_calendar_is_five_working_days():
    assert parse_duration("1w@office").days == 5


def test_amount_on_a_calendar_counts_its_working_day():
    assert parse_duration("2d4h@office").amount(OFFICE) == timedelta(hours=20)


def test_amount_of_a_wall_clock_duration_ignores_the_calendar():
    assert parse_duration("2d").amount(OFFICE) == timedelta(days=2)


@pytest.mark.parametrize("value", ["soon", "4", "4 hours", "h4", "", "2d@", True, 4, None, ["4h"]])
def test_things_that_are_not_durations_are_refused_with_examples(value):
    with pytest.raises(DurationError, match="expected a duration such as 30m, 4h, 2d@office"):
        parse_duration(value)


def test_limit_of_one_duration():
    assert parse_limit("4h@office").parts == (parse_duration("4h@office"),)


def test_limit_of_several_durations_from_a_list_or_or():
    assert parse_limit(["1d@office", "12h"]) == parse_limit("1d@office or 12h")


def test_limit_reaches_its_deadline_at_the_first_part_reached():
    limit = parse_limit(["1d@office", "12h"])
    deadline = limit_deadline(limit, MONDAY_9, {"office": OFFICE}, always())
    assert deadline == MONDAY_9 + timedelta(hours=8)


def test_limit_on_a_calendar_skips_nights():
    deadline = limit_deadline(parse_limit("10h@office"), MONDAY_9, {"office": OFFICE}, always())
    assert deadline == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)


def test_limit_of_zero_is_refused():
    with pytest.raises(DurationError, match="a limit must be longer than zero; got '0h'"):
        parse_limit("0h")


def test_bad_part_of_a_limit_names_its_index():
    with pytest.raises(DurationError) as caught:
        parse_limit(["1d", "soon"])
    assert caught.value.path == (1,)


def test_empty_limit_is_refused():
    with pytest.raises(DurationError, match="at least one duration"):
        parse_limit([])


@pytest.mark.parametrize(
    ("text", "fraction"), [("50%", 0.5), ("100%", 1.0), ("12.5%", 0.125), ("1000%", 10.0)]
)
def test_percent_is_a_fraction_of_a_target(text, fraction):
    assert parse_percent(text) == Percent(text=text, fraction=fraction)


@pytest.mark.parametrize("text", ["0%", "1001%"])
def test_percent_outside_0_to_1000_is_refused(text):
    with pytest.raises(DurationError, match="more than 0% and at most 1000%"):
        parse_percent(text)


@pytest.mark.parametrize("value", ["50", "half", 0.5])
def test_percent_needs_a_percent_sign(value):
    with pytest.raises(DurationError, match="such as 50% or 100%"):
        parse_percent(value)


def test_share_or_duration_tells_them_apart():
    assert isinstance(parse_share_or_duration("50%"), Percent)
    assert isinstance(parse_share_or_duration("4h@office"), Duration)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(), "0m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=3, minutes=20), "3h 20m"),
        (timedelta(days=2, hours=4), "2d 4h"),
        (timedelta(hours=-2), "-2h"),
    ],
)
def test_format_duration_for_people(delta, text):
    assert format_duration(delta) == text
