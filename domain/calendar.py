"""Business calendar: working days, working hours and SLA due times.

Pure: no IO and no clock. Every instant is a timezone-aware datetime passed in; every
instant returned is an aware datetime in UTC, so callers compare and store one form.

Official holidays and make-up workdays (调休) come from the `holidays` package. China's
make-up workdays are not a category there: the package lists each substituted day off
with the weekend day it was moved from and exposes those days as the instance attribute
`weekend_workdays`. Its make-up data is published one year at a time (through 2026 in
0.109); later years get holidays with estimated 补假 but no make-up workdays, so a team
adds them with `extra_workdays` once the State Council announces them.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

import holidays as holidays_lib
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

UTC = dt.UTC
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_DURATION_PART = re.compile(r"(\d+)(wd|d|h|m|s)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_IDLE_DAYS = 3660  # ten years without a working day is a misconfiguration, not a wait
_MAX_DURATION_DAYS = 3660  # a policy duration of more than ten years is a typo


class CalendarConfig(BaseModel):
    """The `[calendar]` table of the policy file; rejects bad values at load, not at use."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    workdays: list[str] = list(WEEKDAYS[:5])
    hours: tuple[str, str] = ("09:00", "18:00")
    holidays: str | None = "CN"
    extra_holidays: list[dt.date] = []
    extra_workdays: list[dt.date] = []

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"timezone {value!r} is not an IANA time zone key (e.g. 'Asia/Shanghai')"
            ) from None
        return value

    @field_validator("workdays")
    @classmethod
    def _known_weekdays(cls, value: list[str]) -> list[str]:
        if unknown := [d for d in value if d not in WEEKDAYS]:
            raise ValueError(f"workdays {unknown!r} not among {list(WEEKDAYS)}")
        if not value or len(set(value)) != len(value):
            raise ValueError(f"workdays {value!r} must name each working day once")
        return value

    @field_validator("hours")
    @classmethod
    def _ordered_hours(cls, value: tuple[str, str]) -> tuple[str, str]:
        if bad := [text for text in value if not _HHMM.fullmatch(text)]:
            raise ValueError(f"hours {bad!r} not HH:MM (00:00-23:59)")
        if value[0] >= value[1]:
            raise ValueError(f"hours {list(value)!r}: start must be before end")
        return value

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value not in holidays_lib.list_supported_countries():
            raise ValueError(f"holidays {value!r} is not a country code of the holidays package")
        return value

    @model_validator(mode="after")
    def _no_day_both_off_and_on(self) -> CalendarConfig:
        if both := sorted(set(self.extra_holidays) & set(self.extra_workdays)):
            raise ValueError(f"extra_holidays and extra_workdays both list {both}")
        return self


@dataclass(frozen=True)
class Duration:
    """A policy duration: elapsed (or business) seconds plus whole working days."""

    seconds: int = 0
    working_days: int = 0


@functools.lru_cache(maxsize=256)
def parse_duration(text: str) -> Duration:
    """Parse "30m", "1h30m", "15wd"; strict, so a typo in the policy fails at load time."""
    parts = _DURATION_PART.findall(text) if isinstance(text, str) else []
    units = [unit for _, unit in parts]
    if not parts or "".join(n + u for n, u in parts) != text or len(set(units)) != len(units):
        raise ValueError(f"duration {text!r}: expected e.g. '30m', '2h', '1h30m', '1d', '15wd'")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts if u != "wd")
    working_days = sum(int(n) for n, u in parts if u == "wd")
    if seconds + working_days * 86400 > _MAX_DURATION_DAYS * 86400:
        # Loaded, a longer one failed later: every due computed from it overflowed.
        raise ValueError(f"duration {text!r} is over {_MAX_DURATION_DAYS} days")
    return Duration(seconds=seconds, working_days=working_days)


@functools.lru_cache(maxsize=512)
def _official_days(country: str, year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """(days off, make-up workdays) of one year; cached because loading takes ~0.1 s."""
    table = holidays_lib.country_holidays(country, years=year)
    days_off = frozenset(day for day in table if day.year == year)
    # The package fills `weekend_workdays` with cross-year entries of every year; keep ours.
    makeup = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
    return days_off, makeup


def _utc(moment: dt.datetime) -> dt.datetime:
    """`moment` in UTC; naive input is refused, as reading it as server-local time skews dues."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


class BusinessCalendar:
    """Working time of a team: which days count and which hours of them."""

    def __init__(self, config: CalendarConfig) -> None:
        self.tz = zoneinfo.ZoneInfo(config.timezone)
        self._workdays = frozenset(WEEKDAYS.index(day) for day in config.workdays)
        self._hours = tuple(dt.time.fromisoformat(hhmm) for hhmm in config.hours)
        self._country = config.holidays or None
        self._extra_holidays = frozenset(config.extra_holidays)
        self._extra_workdays = frozenset(config.extra_workdays)
        # Per-instance memo: due computations revisit the same few days constantly.
        self._window = functools.lru_cache(maxsize=4096)(self._compute_window)

    @classmethod
    def from_config(cls, config: CalendarConfig) -> BusinessCalendar:
        """The calendar a validated `[calendar]` table describes."""
        return cls(config)

    def is_working_day(self, day: dt.date) -> bool:
        """Team overrides win over official make-up days, which win over holidays and weekdays."""
        if day in self._extra_workdays:
            return True
        if day in self._extra_holidays:
            return False
        if self._country:
            days_off, makeup = _official_days(self._country, day.year)
            if day in makeup:
                return True
            if day in days_off:
                return False
        return day.weekday() in self._workdays

    def _compute_window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """Working hours of a local day in UTC; converting each end keeps DST days exact."""
        if not self.is_working_day(day):
            return None
        opens, closes = (_utc(dt.datetime.combine(day, t, tzinfo=self.tz)) for t in self._hours)
        return (opens, closes) if closes > opens else None

    def _local_date(self, moment: dt.datetime) -> dt.date:
        return _utc(moment).astimezone(self.tz).date()

    def business_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Working seconds in [start, end]; 0 when end <= start. One step per local day."""
        day, last = self._local_date(start), self._local_date(end)
        start, end = _utc(start), _utc(end)
        total = dt.timedelta(0)
        while day <= last and start < end:
            window = self._window(day)
            if window is not None:
                total += max(min(end, window[1]) - max(start, window[0]), dt.timedelta(0))
            day += dt.timedelta(days=1)
        return total.total_seconds()

    def _windows_from(self, day: dt.date) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working windows of `day` and the days after; a calendar with none fails, not hangs."""
        idle = 0
        while idle <= _MAX_IDLE_DAYS:
            window = self._window(day)
            idle = 0 if window else idle + 1
            if window:
                yield window
            day += dt.timedelta(days=1)
        raise ValueError("calendar has no working day within ten years")

    def add_business_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """Earliest instant (UTC) with `seconds` of working time after start.

        Ending exactly at closing time returns closing time, not the next opening.
        """
        moment, remaining = _utc(start), dt.timedelta(seconds=max(seconds, 0))
        if not remaining:
            return moment
        for opens, closes in self._windows_from(self._local_date(start)):
            if closes > moment:
                moment = max(moment, opens)
                if moment + remaining <= closes:
                    return moment + remaining
                remaining -= closes - moment
        raise AssertionError("unreachable: _windows_from raises rather than ending")

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """Closing time (UTC) of the n-th working day after start's local date.

        "Within 15 working days" gives the customer the whole of the last day; the day
        the request arrives never counts. `days == 0` returns start unchanged.
        """
        if days < 0:
            raise ValueError(f"working days {days} must not be negative")
        if days == 0:
            return _utc(start)
        next_day = self._local_date(start) + dt.timedelta(days=1)
        _, closes = next(itertools.islice(self._windows_from(next_day), days - 1, None))
        return closes

    def due(self, start: dt.datetime, duration: Duration, clock: str) -> dt.datetime:
        """Due instant (UTC) of a target started at `start` on the "wall" or "business" clock."""
        if clock == "wall":
            moment = _utc(start) + dt.timedelta(seconds=duration.seconds)
        elif clock == "business":
            moment = self.add_business_seconds(start, duration.seconds)
        else:
            raise ValueError(f"clock {clock!r} must be 'wall' or 'business'")
        return self.add_working_days(moment, duration.working_days)
