"""Server-rendered SVG charts for the console: bars a browser draws without a script or
an inline style (the Content-Security-Policy allows neither; colours come from the
classes in console.css). Pure: numbers in, markup out.

Every text (labels, titles, the words for "no data") is escaped by markupsafe on the
way in, with the controls that reorder text made visible (`text.shown`, as the
templates do), and each bar carries its numbers as a `<title>` (read out by screen readers,
shown on hover); the pages print the same numbers in a table beside the chart. A bar
with an `href` is a link to the tickets behind it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from services.edge.http.console.text import shown

SVG = Markup('<svg xmlns="http://www.w3.org/2000/svg" class="chart {}" viewBox="0 0 {} {}" ')
LABEL_CHARS = 24  # a longer label is cut in the chart (the table has it whole)


@dataclass(frozen=True)
class Bar:
    value: float | None  # None: nothing to show (a ratio without a denominator)
    title: str  # what the bar says in words: "2026-11-24 created: 3"
    href: str | None = None  # the tickets behind it
    kind: str = "bar"  # its series, a class of console.css
    text: str = ""  # the value as printed beside a meter
    goal: float | None = None  # a meter's goal, drawn as a line


def scale(value: float | None, top: float, length: float) -> float:
    """A bar's length: in proportion to `value / top`, none for nothing or less, never
    beyond `length`."""
    if value is None or value <= 0 or top <= 0:
        return 0.0
    return min(value / top, 1.0) * length


def nice_top(value: float) -> float:
    """The axis' end: the smallest 1, 2 or 5 × 10^k at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def short(label: str, chars: int = LABEL_CHARS) -> str:
    label = shown(label)
    return label if len(label) <= chars else label[: chars - 1] + "…"


def no_data(words: str) -> Markup:
    return Markup('<p class="no-data">{}</p>').format(shown(words))


def _bar(bar: Bar, x: float, y: float, width: float, height: float) -> Markup:
    rect = Markup(
        '<rect class="bar {}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}">'
        "<title>{}</title></rect>"
    ).format(bar.kind, x, y, width, height, shown(bar.title))
    if bar.href:
        return Markup('<a href="{}">{}</a>').format(bar.href, rect)
    return rect


def columns(
    slots: Sequence[tuple[str, Sequence[Bar]]], *, title: str, empty: str, height: int = 160
) -> Markup:
    """Vertical bars: one slot per label (a day), the slot's bars side by side (one per
    series), on a shared axis from 0. No slot, or nothing above 0: `empty`."""
    values = [bar.value or 0 for _, bars in slots for bar in bars]
    if not values or max(values) <= 0:
        return no_data(empty)
    top = nice_top(max(values))
    left, right, above, below = 40, 8, 10, 24
    slot = max(6.0, min(30.0, 900 / len(slots)))
    width, total = left + slot * len(slots) + right, above + height + below
    every = math.ceil(len(slots) / 16)  # labels that fit under the axis
    parts = [
        SVG.format("columns", f"{width:.0f}", total),
        Markup('width="{:.0f}" height="{}" role="img" aria-label="{}"><title>{}</title>').format(
            width, total, shown(title), shown(title)
        ),
    ]
    half = [top / 2] if top > 1 and (top / 2).is_integer() else []
    for tick in sorted({0, *half, top}):
        y = above + height - scale(tick, top, height)
        parts.append(
            Markup(
                '<line class="grid" x1="{}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}"></line>'
                '<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>'
            ).format(left, width - right, y, y, left - 4, y + 4, f"{tick:g}")
        )
    for i, (label, bars) in enumerate(slots):
        x = left + i * slot + 1
        each = (slot - 2) / max(len(bars), 1)
        for j, bar in enumerate(bars):
            h = scale(bar.value, top, height)
            parts.append(_bar(bar, x + j * each, above + height - h, each, h))
        if i % every == 0:
            parts.append(
                Markup(
                    '<text class="label" x="{:.1f}" y="{}" text-anchor="middle">{}</text>'
                ).format(x + slot / 2 - 1, total - 8, short(label, 10))
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def meters(rows: Sequence[tuple[str, Bar]], *, title: str, empty: str, top: float = 1.0) -> Markup:
    """Horizontal bars from 0 to `top` (1: ratios), one row per label, the value printed
    at the end and a bar's goal drawn as a line across it. No row with a value: `empty`."""
    if not rows or all(bar.value is None for _, bar in rows):
        return no_data(empty)
    label_w, bar_w, value_w, row_h = 150, 340, 90, 26
    width, height = label_w + bar_w + value_w, row_h * len(rows) + 4
    parts = [
        SVG.format("meters", width, height),
        Markup('width="{}" height="{}" role="img" aria-label="{}"><title>{}</title>').format(
            width, height, shown(title), shown(title)
        ),
    ]
    for i, (label, bar) in enumerate(rows):
        y = i * row_h + 2
        parts.append(
            Markup(
                '<text class="label" x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="track" x="{}" y="{}" width="{}" height="16"></rect>'
            ).format(label_w - 8, y + 16, short(label), label_w, y + 4, bar_w)
        )
        if bar.value is not None:
            parts.append(_bar(bar, label_w, y + 4, scale(bar.value, top, bar_w), 16))
        if bar.goal is not None:
            x = label_w + scale(bar.goal, top, bar_w)
            parts.append(
                Markup('<line class="goal" x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}"></line>').format(
                    x, x, y, y + 24
                )
            )
        parts.append(
            Markup('<text class="value" x="{}" y="{}">{}</text>').format(
                label_w + bar_w + 6, y + 16, shown(bar.text) or "—"
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
