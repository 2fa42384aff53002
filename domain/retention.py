"""Retention of personal data (docs/process.md): when it expires, when the purge runs.

Personal data expires `personal_data` after the customer's last ticket closed, and
only when every one of their tickets is closed. A customer with a complaint keeps
it at least `complaint_records_min` after that complaint arrived: the complaint
record (kept at least 3 years) includes whom to answer. The records
themselves (events, numbers, statistics) are never deleted by ticketflow.

The purge runs once per period (`purge_every`, default quarterly), in the policy's
time zone: at the first chance after the period began.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

_PERIOD = re.compile(r"(\d+)([dy])")
COMPLAINT_FLOOR = "3y"  # complaint records are kept at least 3 years


def parse_period(text: str) -> tuple[int, int]:
    """`90d` -> (0, 90), `3y` -> (3, 0): calendar years and days."""
    match = _PERIOD.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r}: a period in days or years, such as 90d or 3y")
    count, unit = int(match.group(1)), match.group(2)
    return (count, 0) if unit == "y" else (0, count)


def after(moment: datetime, period: str) -> datetime:
    """`moment` plus the period; a year later than 29 February is 1 March."""
    years, days = parse_period(period)
    if years:
        try:
            moment = moment.replace(year=moment.year + years)
        except ValueError:
            moment = moment.replace(year=moment.year + years, month=3, day=1)
    return moment + timedelta(days=days)


def at_least(period: str) -> timedelta:
    """A lower bound of the period (a calendar year has at least 365 days)."""
    years, days = parse_period(period)
    return timedelta(days=365 * years + days)


def _a_period(text: str) -> str:
    parse_period(text)
    return text


PeriodText = Annotated[str, AfterValidator(_a_period)]


class RetentionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    personal_data: PeriodText = "90d"  # after the customer's last ticket closed
    purge_every: Literal["daily", "weekly", "monthly", "quarterly"] = "quarterly"
    complaint_records_min: PeriodText = COMPLAINT_FLOOR

    @model_validator(mode="after")
    def _complaints_kept_three_years(self) -> RetentionConfig:
        probe = datetime(2024, 2, 29)
        if after(probe, self.complaint_records_min) < after(probe, COMPLAINT_FLOOR):
            raise ValueError(
                f"complaint_records_min {self.complaint_records_min!r} is under "
                f"{COMPLAINT_FLOOR}: complaint records are kept at least 3 years"
            )
        return self


def expires_at(config: RetentionConfig, tickets: list[dict]) -> datetime | None:
    """When a customer's personal data expires, from facts of each of their tickets
    (`closed_at`, `received_at`, `type`); None while a ticket is open."""
    if not tickets or any(t["closed_at"] is None for t in tickets):
        return None
    moments = [after(max(t["closed_at"] for t in tickets), config.personal_data)]
    moments += [
        after(t["received_at"], config.complaint_records_min)
        for t in tickets
        if t["type"] == "complaint"
    ]
    return max(moments)


def period_start(now: datetime, every: str, tz: ZoneInfo) -> datetime:
    """The beginning of the purge period `now` falls in, local midnight in `tz`."""
    local = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if every == "weekly":
        local -= timedelta(days=local.weekday())
    elif every == "monthly":
        local = local.replace(day=1)
    elif every == "quarterly":
        local = local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1)
    return local
