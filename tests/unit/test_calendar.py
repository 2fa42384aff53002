"""Specification of the business calendar (docs/policy.md).

Every test uses fixed datetimes; the calendar never reads the clock.
Default calendar: Mon–Fri 09:00–18:00 Asia/Shanghai with China's official holidays and
make-up workdays (调休). Facts relied on, from the State Council notices:
- 2025 National Day: Oct 1–8 off; Sunday Sep 28 and Saturday Oct 11 are workdays.
- 2026 Spring Festival: Feb 15–23 off; Saturdays Feb 14 and Feb 28 are workdays.
"""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.calendar import BusinessCalendar, CalendarConfig, Duration, parse_duration

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz=SHANGHAI):
    return dt.datetime(year, month, day, hour, minute, tzinfo=tz)


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return BusinessCalendar.from_config(CalendarConfig())


def calendar(**config) -> BusinessCalendar:
    return BusinessCalendar.from_config(CalendarConfig(**config))


# --- working days ---------------------------------------------------------------------


def test_make_up_sunday_is_a_working_day_and_golden_week_is_not(cn):
    # Given the default CN calendar
    # Then the make-up Sunday and Saturday around National Day 2025 are working days
    assert cn.is_working_day(dt.date(2025, 9, 28))
    assert cn.is_working_day(dt.date(2025, 10, 11))
    # And every day of the golden week, weekdays included, is off
    assert not any(cn.is_working_day(dt.date(2025, 10, d)) for d in range(1, 9))
    # And an ordinary weekend is off
    assert not cn.is_working_day(dt.date(2025, 9, 20))


def test_a_year_has_the_announced_number_of_working_days(cn):
    # Given 2025: 365 days, 104 weekend days, 13 statutory holidays, swaps that net to zero
    # When counting the whole year's business time
    seconds = cn.business_seconds_between(at(2025, 1, 1), at(2026, 1, 1))
    # Then it is 248 working days of 9 hours
    assert seconds == 248 * 9 * HOUR


def test_team_days_override_the_official_list():
    # Given a team that works National Day 2025 Wednesday and closes on a Friday
    team = calendar(extra_workdays=[dt.date(2025, 10, 1)], extra_holidays=[dt.date(2025, 9, 26)])
    # Then its overrides win
    assert team.is_working_day(dt.date(2025, 10, 1))
    assert not team.is_working_day(dt.date(2025, 9, 26))


def test_years_without_make_up_data_still_have_holidays_and_take_team_make_up_days():
    # Given 2027, for which the holidays package has no make-up workdays yet
    cal = calendar(extra_workdays=[dt.date(2027, 9, 26)])
    # Then official holidays still apply
    assert not cal.is_working_day(dt.date(2027, 10, 1))
    # And the team's announced make-up Sunday is a working day
    assert cal.is_working_day(dt.date(2027, 9, 26))


def test_no_holiday_country_means_only_weekdays_count():
    # Given a calendar with holidays switched off
    cal = calendar(holidays="")
    # Then National Day is an ordinary Wednesday and Sep 28 an ordinary Sunday
    assert cal.is_working_day(dt.date(2025, 10, 1))
    assert not cal.is_working_day(dt.date(2025, 9, 28))


# --- business time ----------------------------------------------------------------------


def test_business_time_across_national_day_counts_the_make_up_sunday(cn):
    # Given Friday 2025-09-26 17:00 and Wednesday 2025-10-08 12:00 in Shanghai
    start, end = at(2025, 9, 26, 17), at(2025, 10, 8, 12)
    # When measuring business time between them
    seconds = cn.business_seconds_between(start, end)
    # Then it is Fri 1h + Sun 28th 9h + Mon 9h + Tue 9h = 28h (Oct 1–8 off);
    # a calendar without make-up workdays would say 19h
    assert seconds == 28 * HOUR


def test_adding_business_time_inverts_measuring_it(cn):
    # Given the National Day span, whose end (Oct 8) is a day off
    start, end = at(2025, 9, 26, 17), at(2025, 10, 8, 12)
    # When adding the measured business time back to the start
    due = cn.add_business_seconds(start, cn.business_seconds_between(start, end))
    # Then it lands on the last working instant before the end: Tue Sep 30 18:00
    assert due == at(2025, 9, 30, 18)
    assert cn.business_seconds_between(start, due) == 28 * HOUR
    # And for an end inside working hours the round trip is exact
    inside = at(2025, 10, 9, 11, 30)
    assert cn.add_business_seconds(start, cn.business_seconds_between(start, inside)) == inside


def test_business_time_is_zero_when_end_is_not_after_start(cn):
    assert cn.business_seconds_between(at(2025, 9, 26, 12), at(2025, 9, 26, 12)) == 0
    assert cn.business_seconds_between(at(2025, 9, 26, 12), at(2025, 9, 25, 12)) == 0


@pytest.mark.parametrize(
    ("case", "start", "expected"),
    [
        ("before opening", at(2025, 9, 22, 7, 30), at(2025, 9, 22, 11)),
        ("after closing", at(2025, 9, 22, 20), at(2025, 9, 23, 11)),
        ("on a weekend", at(2025, 9, 20, 10), at(2025, 9, 22, 11)),
        ("on a holiday", at(2025, 10, 1, 10), at(2025, 10, 9, 11)),
    ],
)
def test_starting_outside_hours_waits_for_the_next_opening(cn, case, start, expected):
    # Given a start outside working hours
    # When adding two business hours
    due = cn.add_business_seconds(start, 2 * HOUR)
    # Then the clock starts at the next opening (09:00) and runs two hours
    assert due == expected, case
    # And measuring back from the start gives the same two hours
    assert cn.business_seconds_between(start, expected) == 2 * HOUR


def test_work_ending_at_closing_time_is_due_at_closing_not_next_morning(cn):
    assert cn.add_business_seconds(at(2025, 9, 22, 17), HOUR) == at(2025, 9, 22, 18)


def test_results_are_in_utc(cn):
    due = cn.add_business_seconds(at(2025, 9, 22, 9), HOUR)
    assert due.utcoffset() == dt.timedelta(0)
    assert due == dt.datetime(2025, 9, 22, 2, tzinfo=dt.UTC)


def test_naive_datetimes_are_refused(cn):
    with pytest.raises(ValueError, match="no time zone"):
        cn.business_seconds_between(dt.datetime(2025, 9, 22, 9), at(2025, 9, 22, 10))
    with pytest.raises(ValueError, match="no time zone"):
        cn.due(dt.datetime(2025, 9, 22, 9), Duration(seconds=60), "wall")


# --- daylight saving time ---------------------------------------------------------------


def test_working_hours_follow_local_time_across_spring_forward():
    # Given Mon–Fri 09:00–18:00 in Berlin, which springs forward on Sunday 2025-03-30
    cal = calendar(timezone="Europe/Berlin", holidays="")
    friday, monday = at(2025, 3, 28, 17, tz=BERLIN), at(2025, 3, 31, 10, tz=BERLIN)
    # Then Friday 17:00 CET to Monday 10:00 CEST is two working hours
    assert cal.business_seconds_between(friday, monday) == 2 * HOUR
    # And two working hours from Friday 17:00 end at Monday 10:00 local (08:00 UTC)
    assert cal.add_business_seconds(friday, 2 * HOUR) == monday


@pytest.mark.parametrize(
    ("day", "hours"),
    [(dt.date(2025, 3, 30), 3), (dt.date(2025, 10, 26), 5), (dt.date(2025, 3, 29), 4)],
)
def test_a_dst_day_counts_the_hours_that_really_elapse(day, hours):
    # Given a 01:00–05:00 shift every day in Berlin
    week = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    cal = calendar(timezone="Europe/Berlin", holidays=None, workdays=week, hours=("01:00", "05:00"))
    start = dt.datetime.combine(day, dt.time(0), tzinfo=BERLIN)
    # When measuring the whole local day
    seconds = cal.business_seconds_between(start, start + dt.timedelta(days=1))
    # Then the skipped hour is not counted and the repeated hour is counted twice
    assert seconds == hours * HOUR


def test_wall_clock_runs_on_elapsed_time_across_spring_forward():
    # Given a 24h wall-clock target started Saturday 12:00 CET in Berlin
    cal = calendar(timezone="Europe/Berlin", holidays=None)
    due = cal.due(at(2025, 3, 29, 12, tz=BERLIN), parse_duration("24h"), "wall")
    # Then it is due 24 real hours later: Sunday 13:00 CEST
    assert due == at(2025, 3, 30, 13, tz=BERLIN)


# --- working days and due ----------------------------------------------------------------


def test_fifteen_working_days_skip_spring_festival_and_count_make_up_saturdays(cn):
    # Given a request on Thursday 2026-02-05 10:00
    # When counting 15 working days: Feb 6, 9–13, Sat 14, then (Feb 15–23 off)
    # Feb 24–27, Sat 28, Mar 2, 3, 4
    due = cn.add_working_days(at(2026, 2, 5, 10), 15)
    # Then it is due at the close of Wednesday 2026-03-04 (a naive count says Feb 26)
    assert due == at(2026, 3, 4, 18)


def test_working_days_start_counting_the_day_after_arrival(cn):
    # Given a request arriving on a Saturday evening
    # Then 3 working days end on Wednesday's close, and 0 leaves the start unchanged
    assert cn.add_working_days(at(2025, 9, 20, 20), 3) == at(2025, 9, 24, 18)
    assert cn.add_working_days(at(2025, 9, 20, 20), 0) == at(2025, 9, 20, 20)
    with pytest.raises(ValueError):
        cn.add_working_days(at(2025, 9, 20, 20), -1)


def test_due_on_each_clock(cn):
    friday = at(2025, 9, 26, 17)
    # Urgent 30m on the wall clock runs through closing time
    assert cn.due(friday, parse_duration("30m"), "wall") == at(2025, 9, 26, 17, 30)
    # 8 business hours from Friday 17:00 end on the make-up Sunday at 16:00
    assert cn.due(friday, parse_duration("8h"), "business") == at(2025, 9, 28, 16)
    # 3 working days from Friday: Sun 28, Mon 29, Tue 30 (then the golden week)
    assert cn.due(friday, parse_duration("3wd"), "business") == at(2025, 9, 30, 18)
    with pytest.raises(ValueError, match="clock 'sundial'"):
        cn.due(friday, parse_duration("1h"), "sundial")


def test_due_is_fast_enough_for_every_ticket(cn):
    # Given thousands of tickets, each needing dues computed
    start, began = at(2025, 9, 26, 17), time.perf_counter()
    for minute in range(2000):
        cn.due(start + dt.timedelta(minutes=minute), parse_duration("8h"), "business")
    # Then that takes well under a second
    assert time.perf_counter() - began < 1.0


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", Duration(seconds=1800)),
        ("2h", Duration(seconds=7200)),
        ("1d", Duration(seconds=86400)),
        ("90s", Duration(seconds=90)),
        ("15wd", Duration(working_days=15)),
        ("3wd", Duration(working_days=3)),
        ("1h30m", Duration(seconds=5400)),
    ],
)
def test_policy_durations_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1h", "1x", "0.5h", "1h1h", "h", " 2h"])
def test_malformed_durations_are_rejected_naming_the_text(text):
    with pytest.raises(ValueError, match=f"duration '{text}'"):
        parse_duration(text)


# --- configuration ----------------------------------------------------------------------


def test_default_config_is_the_spec_calendar():
    config = CalendarConfig()
    assert config.timezone == "Asia/Shanghai"
    assert config.workdays == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert config.hours == ("09:00", "18:00")
    assert config.holidays == "CN"


@pytest.mark.parametrize(
    ("config", "key", "value"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"workdays": ["Mon", "Funday"]}, "workdays", "Funday"),
        ({"workdays": ["Mon", "Mon"]}, "workdays", "Mon"),
        ({"hours": ["18:00", "09:00"]}, "hours", "18:00"),
        ({"hours": ["9am", "18:00"]}, "hours", "9am"),
        ({"holidays": "XX"}, "holidays", "XX"),
        ({"weekends": ["Sat"]}, "weekends", "Sat"),
    ],
)
def test_bad_config_is_rejected_naming_key_and_value(config, key, value):
    with pytest.raises(ValidationError) as error:
        CalendarConfig(**config)
    message = str(error.value)
    assert key in message
    assert value in message


def test_a_day_cannot_be_both_team_holiday_and_team_workday():
    day = dt.date(2025, 10, 1)
    with pytest.raises(ValidationError, match="extra_holidays and extra_workdays"):
        CalendarConfig(extra_holidays=[day], extra_workdays=[day])
