"""The console's charts: SVG drawn on the server, bars in proportion on an axis from 0,
every text escaped, the numbers in each bar's <title>, a link where the bar has one,
and "no data" said in words when there is nothing to draw."""

from __future__ import annotations

import re

import pytest

from services.edge.http.console.charts import Bar, columns, meters, nice_top, scale

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>"\u202ejavascript:'


def heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect class="bar [^"]*"[^>]*height="([\d.]+)"', svg)]


class TestScale:
    @pytest.mark.parametrize(
        ("value", "length"),
        [(5, 50.0), (10, 100.0), (0, 0.0), (None, 0.0), (-3, 0.0), (25, 100.0)],
    )
    def test_a_bar_is_in_proportion_and_never_beyond_the_axis(self, value, length) -> None:
        assert scale(value, 10, 100) == length

    @pytest.mark.parametrize(
        ("value", "top"),
        [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (12, 20), (45, 50), (101, 200)],
    )
    def test_the_axis_ends_at_a_round_number(self, value, top) -> None:
        assert nice_top(value) == top


class TestColumns:
    def test_bars_scale_against_the_axis_and_zero_draws_none(self) -> None:
        svg = columns(
            [("11-24", [Bar(1, "a"), Bar(0, "b")]), ("11-25", [Bar(5, "c"), Bar(2, "d")])],
            title="per day",
            empty="no data",
            height=160,
        )
        assert heights(svg) == [32.0, 0.0, 160.0, 64.0]  # axis 0..5
        assert svg.startswith("<svg") and svg.count("<rect") == 4

    def test_each_bar_says_its_numbers_and_links_to_its_tickets(self) -> None:
        svg = columns(
            [("11-24", [Bar(3, "2026-11-24 created: 3", href="/tickets?from=2026-11-24&to=x")])],
            title="per day",
            empty="no data",
        )
        assert '<a href="/tickets?from=2026-11-24&amp;to=x"><rect class="bar bar"' in svg
        assert "<title>2026-11-24 created: 3</title>" in svg
        assert "<title>per day</title>" in svg

    def test_every_text_is_escaped(self) -> None:
        svg = str(
            columns(
                [(HOSTILE, [Bar(1, HOSTILE, href=f"/tickets?category={HOSTILE}", kind=HOSTILE)])],
                title=HOSTILE,
                empty="no data",
            )
        )
        assert "<script" not in svg and "<img" not in svg
        assert "&lt;script&gt;" in svg
        assert 'onerror=alert(1)>"' not in svg  # no quote closes an attribute early
        assert "[U+202E]javascript:</title>" in svg  # what is read is never reordered
        assert "style" not in svg

    def test_many_days_keep_their_bars_and_thin_out_their_labels(self) -> None:
        slots = [(f"d{i}", [Bar(i + 1, f"d{i}")]) for i in range(366)]
        svg = columns(slots, title="a year", empty="no data")
        assert svg.count("<rect") == 366
        assert 16 <= svg.count('class="label"') <= 24

    @pytest.mark.parametrize("slots", [[], [("11-24", [Bar(0, "a"), Bar(None, "b")])]])
    def test_nothing_to_draw_says_no_data(self, slots) -> None:
        markup = columns(slots, title="per day", empty="<no data>")
        assert markup == '<p class="no-data">&lt;no data&gt;</p>'


class TestMeters:
    def test_a_ratio_fills_its_share_of_the_track_and_the_goal_is_a_line(self) -> None:
        svg = meters(
            [("FCR", Bar(0.5, "FCR: 50 %", href="/tickets?closed_once=true", goal=0.85))],
            title="quality",
            empty="no data",
        )
        track = float(re.search(r'class="track"[^>]*width="([\d.]+)"', svg)[1])
        assert heights(svg) == [16.0]
        bar = float(re.search(r'<rect class="bar [^"]*"[^>]*width="([\d.]+)"', svg)[1])
        assert bar == track / 2
        goal = float(re.search(r'class="goal" x1="([\d.]+)"', svg)[1])
        start = float(re.search(r'class="track" x="([\d.]+)"', svg)[1])
        assert goal == pytest.approx(start + 0.85 * track, abs=0.1)

    def test_a_row_without_a_value_shows_a_dash_and_no_bar(self) -> None:
        svg = meters(
            [("a", Bar(None, "a: —")), ("b", Bar(0.2, "b", text="20.0 %"))],
            title="t",
            empty="no data",
        )
        assert svg.count('<rect class="bar') == 1
        assert ">—</text>" in svg and ">20.0 %</text>" in svg

    def test_labels_and_titles_are_escaped_and_long_labels_cut(self) -> None:
        svg = str(meters([(HOSTILE, Bar(0.5, HOSTILE))], title=HOSTILE, empty="x"))
        assert "<script" not in svg and "<img" not in svg
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/scr…</text>" in svg  # 24 characters

    def test_no_value_at_all_says_no_data(self) -> None:
        assert meters([], title="t", empty="no data") == '<p class="no-data">no data</p>'
        assert "no data" in meters([("a", Bar(None, "a"))], title="t", empty="no data")
