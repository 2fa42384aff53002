"""The read models keep instants as one text form, `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`,
so that text order is time order in SQL; whatever form an event carried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.base import utc_text

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(instants, offsets, st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]))
def test_any_rfc3339_text_becomes_the_one_utc_form(moment, offset, timespec) -> None:
    text = moment.astimezone(offset).isoformat(timespec=timespec)
    expected = datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="microseconds")
    assert utc_text(text) == expected
    assert utc_text(text.replace("+00:00", "Z")) == expected
    assert utc_text(expected) == expected  # the form itself comes back unchanged


def test_a_naive_instant_is_read_as_utc_and_nothing_stays_nothing() -> None:
    assert utc_text("2026-11-24T02:00:00") == "2026-11-24T02:00:00.000000+00:00"
    assert utc_text(None) is None
