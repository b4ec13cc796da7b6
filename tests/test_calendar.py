"""Specification of business-hours calendars: working time, special days, DST, 24x7 and the policy-file form.
One behaviour per test; properties and the brute-force model comparison live in test_calendar_properties.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from jsm_bridge.calendar import BusinessCalendar, CalendarError, always, calendar_from_config

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
H = timedelta(hours=1)
OFFICE_CONFIG = {
    "timezone": "Europe/London",
    "week": {"mon-fri": "08:00-17:00"},
    "holidays": {"country": "GB", "subdivision": "ENG"},
}


def office(**changes: object) -> BusinessCalendar:
    return calendar_from_config("office", {**OFFICE_CONFIG, **changes})


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[arg-type, misc]


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)  # type: ignore[arg-type, misc]


def full_days(zone: str, **kwargs: object) -> BusinessCalendar:
    week = {day: ((time(0), time(0)),) for day in range(7)}
    return BusinessCalendar("full", zone, week, **kwargs)  # type: ignore[arg-type]


# add


def test_add_within_one_day_moves_by_working_hours() -> None:
    assert office().add(london(2026, 11, 24, 9), 4 * H) == london(2026, 11, 24, 13)


def test_add_that_ends_at_close_returns_close_not_next_morning() -> None:
    assert office().add(london(2026, 11, 24, 9), 8 * H) == london(2026, 11, 24, 17)


def test_add_one_second_past_close_continues_next_morning() -> None:
    result = office().add(london(2026, 11, 24, 9), 8 * H + timedelta(seconds=1))
    assert result == london(2026, 11, 25, 8, 0, 1)


def test_add_zero_returns_start_even_outside_working_hours() -> None:
    saturday_night = london(2026, 11, 28, 23, 30)
    assert office().add(saturday_night, timedelta(0)) is saturday_night


def test_add_from_outside_hours_starts_counting_at_next_opening() -> None:
    assert office().add(london(2026, 11, 24, 19), 2 * H) == london(2026, 11, 25, 10)


def test_add_from_exact_close_starts_counting_next_opening() -> None:
    assert office().add(london(2026, 11, 24, 17), H) == london(2026, 11, 25, 9)


def test_add_skips_the_weekend() -> None:
    assert office().add(london(2026, 11, 27, 16), 2 * H) == london(2026, 11, 30, 9)


def test_add_skips_country_holidays() -> None:
    # Friday 3 April and Monday 6 April 2026 are Good Friday and Easter Monday in England.
    assert office().add(london(2026, 4, 2, 16), 2 * H) == london(2026, 4, 7, 9)


def test_boxing_day_on_saturday_closes_the_following_monday() -> None:
    # 26 December 2026 is a Saturday, so England's substitute bank holiday is Monday 28 December.
    assert office().add(london(2026, 12, 24, 16), 2 * H) == london(2026, 12, 29, 9)


def test_christmas_and_boxing_day_on_a_weekend_close_monday_and_tuesday() -> None:
    assert office().add(london(2027, 12, 24, 16), 2 * H) == london(2027, 12, 29, 9)


def test_add_returns_the_time_zone_of_start() -> None:
    start = datetime(2026, 11, 24, 9, tzinfo=TOKYO)  # 00:00 in London
    result = office().add(start, H)
    assert result.tzinfo is TOKYO
    assert result == london(2026, 11, 24, 9)


def test_add_keeps_microseconds_exactly() -> None:
    start = london(2026, 11, 24, 16, 59, 59, 999_999)
    assert office().add(start, timedelta(microseconds=2)) == london(2026, 11, 25, 8, 0, 0, 1)


def test_add_negative_duration_is_refused() -> None:
    with pytest.raises(CalendarError, match="negative"):
        office().add(london(2026, 11, 24, 9), -H)


def test_add_spanning_years_round_trips_exactly() -> None:
    start = london(2026, 3, 3, 10, 17, 5)
    twelve_years = timedelta(hours=9 * 250 * 12)
    assert office().between(start, office().add(start, twelve_years)) == twelve_years


def test_add_of_a_working_year_lands_about_a_calendar_year_later() -> None:
    result = office().add(london(2026, 1, 5, 8), timedelta(hours=9 * 252))
    assert date(2026, 12, 20) < result.date() < date(2027, 1, 20)


def test_add_beyond_the_supported_years_is_refused() -> None:
    with pytest.raises(CalendarError, match="outside the supported years 2-9998"):
        office().add(london(9998, 12, 1), timedelta(hours=9 * 300))


# between


def test_between_counts_working_time_only() -> None:
    assert office().between(london(2026, 11, 27, 16), london(2026, 11, 30, 10)) == 3 * H


def test_between_is_negative_when_end_precedes_start() -> None:
    assert office().between(london(2026, 11, 30, 10), london(2026, 11, 27, 16)) == -3 * H


def test_between_an_instant_and_itself_is_zero() -> None:
    assert office().between(london(2026, 11, 24, 9), london(2026, 11, 24, 9)) == timedelta(0)


def test_between_accepts_different_time_zones() -> None:
    start = datetime(2026, 11, 24, 9, tzinfo=UTC)
    end = datetime(2026, 11, 24, 12, tzinfo=NEW_YORK)  # 17:00 in London
    assert office().between(start, end) == 8 * H


def test_between_is_exact_to_the_microsecond() -> None:
    delta = office().between(london(2026, 11, 24, 9, 0, 0, 1), london(2026, 11, 24, 9, 0, 1))
    assert delta == timedelta(microseconds=999_999)


def test_between_across_new_year_skips_bank_holidays() -> None:
    # 31 Dec 2026 is a Thursday; 1 Jan 2027 (Friday) is a bank holiday.
    assert office().between(london(2026, 12, 31, 16), london(2027, 1, 4, 9)) == 2 * H


# is_working and next_working_instant


def test_opening_instant_is_working_and_closing_instant_is_not() -> None:
    calendar = office()
    assert calendar.is_working(london(2026, 11, 24, 8))
    assert not calendar.is_working(london(2026, 11, 24, 17))
    assert calendar.is_working(london(2026, 11, 24, 16, 59, 59, 999_999))


def test_holiday_is_not_working() -> None:
    assert not office().is_working(london(2026, 12, 28, 11))


def test_next_working_instant_inside_hours_is_the_instant_itself() -> None:
    at = datetime(2026, 11, 24, 12, 30, 15, tzinfo=UTC)
    assert office().next_working_instant(at) is at


def test_next_working_instant_after_close_skips_weekend_and_holidays() -> None:
    result = office().next_working_instant(london(2026, 12, 24, 17))
    assert result == london(2026, 12, 29, 8)


def test_next_working_instant_keeps_the_time_zone_of_at() -> None:
    assert office().next_working_instant(new_york(2026, 11, 24, 20)).tzinfo is NEW_YORK


def test_naive_datetime_is_refused_with_a_hint() -> None:
    with pytest.raises(CalendarError, match="no time zone.*aware datetime"):
        office().add(datetime(2026, 11, 24, 9), H)


def test_date_instead_of_datetime_is_refused() -> None:
    with pytest.raises(CalendarError, match="aware datetime, not date"):
        office().is_working(date(2026, 11, 24))  # type: ignore[arg-type]


# Special days


def test_partial_special_day_counts_only_its_hours() -> None:
    calendar = office(
        holidays={"country": "GB", "subdivision": "ENG", "dates": {"2026-12-24": "09:00-12:00"}}
    )
    assert calendar.between(london(2026, 12, 24), london(2026, 12, 25)) == 3 * H
    assert calendar.add(london(2026, 12, 24, 8), 3 * H) == london(2026, 12, 24, 12)


def test_closed_special_day_overrides_the_week() -> None:
    calendar = office(holidays={"dates": [date(2026, 11, 24)]})
    assert calendar.between(london(2026, 11, 24), london(2026, 11, 25)) == timedelta(0)


def test_special_day_hours_override_a_country_holiday() -> None:
    calendar = office(
        holidays={"country": "GB", "subdivision": "ENG", "dates": {"2026-12-28": "10:00-12:00"}}
    )
    assert calendar.between(london(2026, 12, 28), london(2026, 12, 29)) == 2 * H


def test_special_day_can_open_a_weekend_day() -> None:
    calendar = office(holidays={"dates": {"2026-11-28": "10:00-14:00"}})
    assert calendar.add(london(2026, 11, 27, 17), H) == london(2026, 11, 28, 11)


# Daylight saving time


def test_spring_forward_full_day_in_new_york_is_23_hours() -> None:
    calendar = full_days("America/New_York")
    assert calendar.between(new_york(2026, 3, 8), new_york(2026, 3, 9)) == 23 * H


def test_fall_back_full_day_in_new_york_is_25_hours() -> None:
    calendar = full_days("America/New_York")
    assert calendar.between(new_york(2026, 11, 1), new_york(2026, 11, 2)) == 25 * H


def test_london_01_to_03_on_spring_forward_sunday_is_one_real_hour() -> None:
    calendar = BusinessCalendar("night", "Europe/London", {6: ((time(1), time(3)),)})
    assert calendar.between(london(2026, 3, 29), london(2026, 3, 30)) == H
    assert calendar.between(london(2026, 3, 22), london(2026, 3, 23)) == 2 * H


def test_fall_back_repeated_hour_is_counted_twice() -> None:
    calendar = BusinessCalendar("night", "Europe/London", {6: ((time(1), time(2)),)})
    assert calendar.between(london(2026, 10, 25), london(2026, 10, 26)) == 2 * H


def test_bound_inside_spring_forward_gap_means_the_moment_clocks_jump() -> None:
    # 01:30 does not exist on 29 March 2026 in London: clocks jump from 01:00 GMT to 02:00 BST.
    calendar = BusinessCalendar("night", "Europe/London", {6: ((time(1, 30), time(2, 15)),)})
    assert calendar.next_working_instant(london(2026, 3, 29)) == london(2026, 3, 29, 2)
    assert calendar.between(london(2026, 3, 29), london(2026, 3, 30)) == timedelta(minutes=15)


def test_add_across_spring_forward_counts_real_time() -> None:
    calendar = full_days("America/New_York")
    assert calendar.add(new_york(2026, 3, 8, 0), 3 * H) == new_york(2026, 3, 8, 4)


def test_office_hours_stay_on_wall_clock_across_a_dst_change() -> None:
    # Friday 17:00 GMT to Monday 08:00 BST: the weekend change does not move opening time.
    assert office().add(london(2026, 3, 27, 16), 2 * H) == london(2026, 3, 30, 9)


# Year boundaries in zones far from UTC


def test_new_year_in_tokyo_is_found_from_a_utc_instant_on_the_previous_day() -> None:
    calendar = BusinessCalendar("tokyo", "Asia/Tokyo", {day: ((time(0), time(12)),) for day in range(7)})
    # 2026-12-31 15:30 UTC is 2027-01-01 00:30 in Tokyo.
    at = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    assert calendar.is_working(at)
    assert calendar.add(at, H) == datetime(2026, 12, 31, 16, 30, tzinfo=UTC)


def test_new_year_in_pago_pago_is_found_from_a_utc_instant_on_the_next_day() -> None:
    calendar = BusinessCalendar(
        "samoa", "Pacific/Pago_Pago", {day: ((time(12), time(0)),) for day in range(7)}
    )
    # 2027-01-01 10:30 UTC is 2026-12-31 23:30 in Pago Pago (UTC-11).
    at = datetime(2027, 1, 1, 10, 30, tzinfo=UTC)
    assert calendar.is_working(at)
    assert calendar.add(at, H) == datetime(2027, 1, 1, 23, 30, tzinfo=UTC)


# 24x7


def test_always_is_24x7_in_utc() -> None:
    calendar = always()
    assert calendar.is_24x7
    assert calendar.timezone == "UTC"
    assert calendar.name == "always"


def test_24x7_add_is_plain_arithmetic_in_real_time_across_dst() -> None:
    start = new_york(2026, 3, 7, 12)
    result = always().add(start, 24 * H)
    assert result == start.astimezone(UTC) + 24 * H
    assert result.tzinfo is NEW_YORK


def test_24x7_between_is_plain_arithmetic_in_real_time() -> None:
    assert always().between(new_york(2026, 3, 8), new_york(2026, 3, 9)) == 23 * H
    assert always().between(new_york(2026, 3, 9), new_york(2026, 3, 8)) == -23 * H


def test_24x7_every_instant_is_working() -> None:
    at = datetime(2026, 12, 25, 3, tzinfo=UTC)
    assert always().is_working(at)
    assert always().next_working_instant(at) is at


def test_full_days_with_country_holidays_are_not_24x7() -> None:
    calendar = full_days("Europe/London", holiday_country="GB")
    assert not calendar.is_24x7
    assert calendar.between(london(2026, 12, 25), london(2026, 12, 26)) == timedelta(0)


def test_24x7_config_string_gives_an_always_calendar_with_that_name() -> None:
    calendar = calendar_from_config("round-the-clock", " 24x7 ")
    assert calendar.is_24x7
    assert calendar.name == "round-the-clock"


# working_day


def test_working_day_of_an_office_is_its_daily_hours() -> None:
    assert office().working_day == 9 * H


def test_working_day_ignores_a_short_saturday() -> None:
    assert office(week={"mon-fri": "08:00-17:00", "sat": "09:00-12:00"}).working_day == 9 * H


def test_working_day_sums_split_hours() -> None:
    assert office(week={"mon-fri": "08:00-12:00, 13:00-17:30"}).working_day == timedelta(hours=8, minutes=30)


def test_working_day_tie_goes_to_the_longest() -> None:
    assert office(week={"mon-tue": "08:00-16:00", "wed-thu": "08:00-14:00"}).working_day == 8 * H


def test_working_day_of_24x7_is_24_hours() -> None:
    assert always().working_day == 24 * H


# describe


def test_describe_office() -> None:
    assert office().describe() == "Mon-Fri 08:00-17:00 Europe/London, holidays GB-ENG"


def test_describe_groups_days_with_the_same_hours() -> None:
    calendar = office(
        week={"mon,wed": "08:00-12:00, 13:00-17:00", "tue,thu-fri": "09:00-17:00", "sat": "10:00-24:00"},
        holidays=None,
    )
    assert (
        calendar.describe()
        == "Mon,Wed 08:00-12:00, 13:00-17:00; Tue,Thu-Fri 09:00-17:00; Sat 10:00-24:00 Europe/London"
    )


def test_describe_counts_special_days() -> None:
    calendar = office(
        holidays={"country": "GB", "dates": {"2026-12-24": "09:00-12:00", "2026-12-29": "closed"}}
    )
    assert (
        calendar.describe()
        == "Mon-Fri 08:00-17:00 Europe/London, holidays GB, 1 closed day and 1 special day"
    )


def test_describe_24x7() -> None:
    assert always().describe() == "24x7 UTC"


# Values: frozen, hashable, comparable


def test_calendar_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        office().name = "other"  # type: ignore[misc]


def test_equal_configs_give_equal_hashable_calendars() -> None:
    assert office() == office()
    assert len({office(), office(), always()}) == 2


def test_calendar_built_directly_equals_the_parsed_one() -> None:
    direct = BusinessCalendar(
        "office",
        "Europe/London",
        {day: ((time(8), time(17)),) for day in range(5)},
        holiday_country="GB",
        holiday_subdivision="ENG",
    )
    assert direct == office()


def test_calendar_error_is_a_value_error() -> None:
    assert issubclass(CalendarError, ValueError)


# Policy-file form


def test_config_week_single_day() -> None:
    assert office(week={"wed": "10:00-11:00"}).week == {2: ((time(10), time(11)),)}


def test_config_week_comma_list_of_days() -> None:
    assert set(office(week={"sat,sun": "10:00-11:00"}).week) == {5, 6}


def test_config_week_range_may_wrap_past_sunday() -> None:
    assert set(office(week={"sun-thu": "08:00-16:00"}).week) == {6, 0, 1, 2, 3}


def test_config_week_accepts_full_day_names_in_any_case() -> None:
    assert set(office(week={"Monday - Wednesday": "08:00-16:00"}).week) == {0, 1, 2}


def test_config_several_intervals_in_one_string() -> None:
    week = office(week={"mon": "08:00-12:00, 13:00-17:00"}).week
    assert week[0] == ((time(8), time(12)), (time(13), time(17)))


def test_config_intervals_as_a_list() -> None:
    week = office(week={"mon": ["13:00-17:00", "08:00-12:00"]}).week
    assert week[0] == ((time(8), time(12)), (time(13), time(17)))


def test_config_24_00_ends_the_day() -> None:
    assert office(week={"mon": "20:00-24:00"}).week[0] == ((time(20), time(0)),)


def test_config_00_00_as_an_end_also_means_midnight() -> None:
    assert office(week={"mon": "22:00-00:00"}).week[0] == ((time(22), time(0)),)


@pytest.mark.parametrize("closed", ["closed", "", None, "Closed"])
def test_config_closed_day_forms(closed: object) -> None:
    assert office(week={"mon-fri": "08:00-17:00", "sat": closed}).week[5] == ()


def test_config_week_24x7_with_holidays() -> None:
    calendar = office(week="24x7")
    assert calendar.between(london(2026, 12, 24), london(2026, 12, 27)) == 24 * H


def test_config_dates_mapping_with_date_and_string_keys() -> None:
    calendar = office(holidays={"dates": {date(2026, 12, 24): "09:00-12:00", "2026-12-29": "closed"}})
    assert calendar.extra_days == {date(2026, 12, 24): ((time(9), time(12)),), date(2026, 12, 29): ()}


def test_config_dates_plain_list_means_closed() -> None:
    calendar = office(holidays={"dates": [date(2026, 12, 29), "2026-12-30"]})
    assert calendar.extra_days == {date(2026, 12, 29): (), date(2026, 12, 30): ()}


def test_config_country_code_in_lower_case_is_accepted() -> None:
    assert office(holidays={"country": "gb", "subdivision": "eng"}).holiday_subdivision == "ENG"


def test_config_subdivision_by_name_becomes_its_code() -> None:
    assert office(holidays={"country": "GB", "subdivision": "England"}).holiday_subdivision == "ENG"


def test_config_numeric_subdivision_read_by_yaml_as_a_number() -> None:
    assert office(holidays={"country": "FR", "subdivision": 57}).holiday_subdivision == "57"


# Policy-file errors: each names the problem and what to write


def config_error(config: object) -> CalendarError:
    with pytest.raises(CalendarError) as caught:
        calendar_from_config("office", config)
    return caught.value


def test_error_overlapping_intervals() -> None:
    error = config_error({**OFFICE_CONFIG, "week": {"mon": "08:00-12:00, 11:00-17:00"}})
    assert "11:00-17:00 overlaps" in str(error)
    assert error.path == ("week", "mon")


def test_error_end_before_start() -> None:
    error = config_error({**OFFICE_CONFIG, "week": {"mon": "17:00-08:00"}})
    assert "17:00-08:00 ends before it starts" in str(error)
    assert "overnight shift is split" in str(error)


def test_error_unknown_weekday() -> None:
    error = config_error({**OFFICE_CONFIG, "week": {"mon-fry": "08:00-17:00"}})
    assert "unknown weekday 'fry'" in str(error)
    assert "mon-fri" in str(error)


def test_error_day_named_twice() -> None:
    error = config_error({**OFFICE_CONFIG, "week": {"mon-fri": "08:00-17:00", "fri": "08:00-12:00"}})
    assert "fri is named in both week.mon-fri and week.fri" in str(error)


def test_error_day_named_twice_in_one_key() -> None:
    assert "names mon twice" in str(config_error({**OFFICE_CONFIG, "week": {"mon,sun-tue": "08:00-17:00"}}))


def test_error_unknown_time_zone() -> None:
    error = config_error({**OFFICE_CONFIG, "timezone": "Europe/Londn"})
    assert "unknown time zone 'Europe/Londn'" in str(error)
    assert "IANA name" in str(error)
    assert error.path == ("timezone",)


def test_error_unknown_time_zone_suggests_close_names() -> None:
    error = config_error({**OFFICE_CONFIG, "timezone": "America/NewYork"})
    assert "write an IANA name such as America/New_York" in str(error)


def test_error_time_zone_in_the_wrong_case_gives_the_right_spelling() -> None:
    error = config_error({**OFFICE_CONFIG, "timezone": "europe/london"})
    assert "write Europe/London (zone names are case-sensitive)" in str(error)


def test_error_missing_time_zone() -> None:
    assert "timezone is missing" in str(config_error({"week": {"mon-fri": "08:00-17:00"}}))


def test_error_unknown_holiday_country() -> None:
    error = config_error({**OFFICE_CONFIG, "holidays": {"country": "XX"}})
    assert "unknown holiday country 'XX'" in str(error)
    assert "such as GB" in str(error)


def test_error_unknown_subdivision_lists_the_valid_ones() -> None:
    error = config_error({**OFFICE_CONFIG, "holidays": {"country": "GB", "subdivision": "LDN"}})
    assert "unknown holiday subdivision 'LDN' for GB; write one of ENG, NIR, SCT, WLS" in str(error)


def test_error_unknown_subdivision_of_a_large_country_gives_examples() -> None:
    error = config_error({**OFFICE_CONFIG, "holidays": {"country": "US", "subdivision": "ZZ"}})
    assert "unknown holiday subdivision 'ZZ' for US" in str(error)
    assert "codes the holidays package lists for US, e.g. AK" in str(error)


def test_error_subdivision_without_country() -> None:
    assert "needs a country" in str(config_error({**OFFICE_CONFIG, "holidays": {"subdivision": "ENG"}}))


def test_error_week_without_working_time() -> None:
    error = config_error({**OFFICE_CONFIG, "week": {"mon-sun": "closed"}})
    assert "no working time" in str(error)


def test_error_yaml_boolean_for_a_day() -> None:
    error = config_error({**OFFICE_CONFIG, "week": {"mon-fri": "08:00-17:00", "sat": False}})
    assert "YAML reads off" in str(error)
    assert 'write "closed"' in str(error)


def test_error_malformed_interval() -> None:
    error = config_error({**OFFICE_CONFIG, "week": {"mon": "8am-5pm"}})
    assert "'8am-5pm' is not an interval" in str(error)
    assert "HH:MM-HH:MM" in str(error)


def test_error_time_out_of_range() -> None:
    assert "out of range" in str(config_error({**OFFICE_CONFIG, "week": {"mon": "08:00-24:30"}}))


def test_error_24_00_as_a_start() -> None:
    assert "out of range; use 00:00 to 23:59" in str(
        config_error({**OFFICE_CONFIG, "week": {"mon": "24:00-24:00"}})
    )


def test_error_bad_date() -> None:
    error = config_error({**OFFICE_CONFIG, "holidays": {"dates": {"2026-13-01": "closed"}}})
    assert "'2026-13-01' in holidays.dates is not a date" in str(error)
    assert "YYYY-MM-DD" in str(error)


def test_error_date_named_twice() -> None:
    error = config_error(
        {**OFFICE_CONFIG, "holidays": {"dates": {"2026-12-24": "closed", date(2026, 12, 24): ""}}}
    )
    assert "names 2026-12-24 twice" in str(error)


def test_error_dates_of_the_wrong_shape() -> None:
    assert "holidays.dates must map dates" in str(
        config_error({**OFFICE_CONFIG, "holidays": {"dates": "2026-12-24"}})
    )


def test_error_unknown_key() -> None:
    error = config_error({**OFFICE_CONFIG, "hours": {}})
    assert "unknown key hours; valid keys are timezone, week, holidays" in str(error)


def test_error_unknown_holidays_key() -> None:
    assert "unknown key holidays.region" in str(config_error({**OFFICE_CONFIG, "holidays": {"region": "GB"}}))


def test_error_holidays_not_a_mapping() -> None:
    assert "holidays must be a mapping" in str(config_error({**OFFICE_CONFIG, "holidays": "GB"}))


def test_error_string_other_than_24x7() -> None:
    assert "write 24x7, or a mapping" in str(config_error("office hours"))


def test_error_config_of_the_wrong_type() -> None:
    assert "expected 24x7 or a mapping" in str(config_error(["mon-fri"]))


def test_error_names_the_calendar() -> None:
    assert str(config_error({**OFFICE_CONFIG, "timezone": "Mars/Olympus"})).startswith("calendar 'office': ")


# Direct construction is checked the same way


def test_direct_weekday_out_of_range_is_refused() -> None:
    with pytest.raises(CalendarError, match="unknown weekday 7"):
        BusinessCalendar("x", "UTC", {7: ((time(8), time(17)),)})


def test_direct_unsorted_intervals_are_refused() -> None:
    with pytest.raises(CalendarError, match="overlaps or precedes"):
        BusinessCalendar("x", "UTC", {0: ((time(13), time(17)), (time(8), time(12)))})


def test_direct_empty_week_is_refused() -> None:
    with pytest.raises(CalendarError, match="no working time"):
        BusinessCalendar("x", "UTC", {})


def test_direct_datetime_as_special_day_is_refused() -> None:
    with pytest.raises(CalendarError, match="is not a date"):
        BusinessCalendar("x", "UTC", {0: ((time(8), time(17)),)}, extra_days={datetime(2026, 1, 1): ()})
