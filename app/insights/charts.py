"""Server-rendered SVG charts: readable without JavaScript, by screen readers and on phones.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that states the
figures in words (first and last value of every series), lines that differ by dash pattern as
well as colour (so they are told apart without colour vision), and colours from
``insights.css`` for light and dark mode (the presentation attributes are the light-mode
fallback). The numbers themselves are always in a table beside the chart, and in a CSV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from app.insights.growth import KEYS, Growth

WIDTH, HEIGHT = 400, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 10, 26
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
# (light-mode colour, dash pattern): each at least 4.5:1 against the page's light background.
STYLES = (
    ("#8a3b12", ""),
    ("#1f5f8b", "7 3"),
    ("#2e6b34", "2 3"),
    ("#6a4c93", "9 3 2 3"),
    ("#8a5a00", "4 2"),
    ("#a3195b", "12 4"),
)
MAX_BARS = 60


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]


def _nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 × 10ⁿ) giving about ``ticks`` gridlines up to ``top``."""
    raw = max(top, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _label(value: float, money: bool) -> str:
    """An axis label: a count, or money in minor units shown in major ones."""
    if money and value:
        return f"{value / 100:,.0f}" if value >= 1000 else f"{value / 100:,.2f}"
    return f"{value:,.0f}"


def _frame(
    chart_id: str, title: str, description: str, top: float, days: list[date], unit: str
) -> list[str]:
    """The <svg> opening, title, description, y gridlines and x labels."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart-svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        '<g class="axis" fill="currentColor" font-size="12" font-family="system-ui, sans-serif">',
    ]
    step = _nice_step(top)
    value = 0.0
    while value <= top + step / 2:
        y = TOP + PLOT_H - PLOT_H * value / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="currentColor" stroke-opacity="0.18"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_label(value, bool(unit)))}</text>"
        )
        value += step
    count = len(days)
    for index in sorted({0, count // 3, 2 * count // 3, count - 1}):
        x = LEFT + (PLOT_W * index / max(count - 1, 1))
        anchor = "start" if index == 0 else "end" if index == count - 1 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
            f"{days[index].strftime('%-d %b')}</text>"
        )
    parts.append("</g>")
    return parts


def _top(values: list[float]) -> float:
    """The top of the y axis: the peak rounded up to a whole gridline."""
    peak = max(values, default=0) or 1
    step = _nice_step(peak)
    return math.ceil(peak / step) * step


def _describe(description: str, series: list[Series], unit: str) -> str:
    """The figures in words: each series' first and last value."""
    suffix = f" {unit}" if unit else ""
    said = "; ".join(
        f"{item.name}: {_label(item.values[0], bool(unit))}{suffix} "
        f"to {_label(item.values[-1], bool(unit))}{suffix}"
        for item in series
        if item.values
    )
    return f"{description} {said}." if said else description


def line_chart(
    chart_id: str, title: str, description: str, days: list[date], series: list[Series],
    *, unit: str = "",
) -> Markup:  # fmt: skip
    """One line per series over ``days``; ``unit`` (a currency) formats minor units as money."""
    top = _top([value for item in series for value in item.values])
    parts = _frame(chart_id, title, _describe(description, series, unit), top, days, unit)
    steps = max(len(days) - 1, 1)
    for index, item in enumerate(series):
        colour, dash = STYLES[index % len(STYLES)]
        points = " ".join(
            f"{LEFT + PLOT_W * n / steps:.1f},{TOP + PLOT_H - PLOT_H * value / top:.1f}"
            for n, value in enumerate(item.values)
        )
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline class="series s{index}" points="{points}" fill="none" '
            f'stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dashes}>'
            f"<title>{escape(item.name)}</title></polyline>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    chart_id: str, title: str, description: str, days: list[date], series: list[Series]
) -> Markup:
    """Stacked bars of daily counts; past ``MAX_BARS`` days, a bar sums a week."""
    size = 1 if len(days) <= MAX_BARS else 7
    buckets = list(range(0, len(days), size))
    stacks = [[sum(item.values[start : start + size]) for start in buckets] for item in series]
    totals = [sum(column) for column in zip(*stacks, strict=True)] if stacks else []
    top = _top(totals)
    period = "day" if size == 1 else "week"
    summary = f"{description} One bar per {period}. " + "; ".join(
        f"{item.name}: {sum(item.values):,.0f} in all" for item in series
    )
    parts = _frame(chart_id, title, summary, top, days, "")
    slot = PLOT_W / max(len(buckets), 1)
    heights = [0.0] * len(buckets)
    for index, column in enumerate(stacks):
        colour, _ = STYLES[index % len(STYLES)]
        name = escape(series[index].name)
        parts.append(f'<g class="series s{index}" fill="{colour}"><title>{name}</title>')
        for n, value in enumerate(column):
            if not value:
                continue
            height = PLOT_H * value / top
            heights[n] += height
            parts.append(
                f'<rect x="{LEFT + n * slot + slot * 0.1:.1f}" '
                f'y="{TOP + PLOT_H - heights[n]:.1f}" width="{max(slot * 0.8, 0.8):.1f}" '
                f'height="{height:.1f}"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(series: list[Series], *, bars: bool = False) -> Markup:
    """The key, in HTML (it wraps and scales with the text on a phone)."""
    items = []
    for index, item in enumerate(series):
        colour, dash = STYLES[index % len(STYLES)]
        if bars:
            mark = f'<g class="series s{index}" fill="{colour}"><rect width="24" height="8"/></g>'
        else:
            dashes = f' stroke-dasharray="{dash}"' if dash else ""
            mark = (
                f'<line class="series s{index}" x1="0" x2="24" y1="4" y2="4" '
                f'stroke="{colour}" stroke-width="3"{dashes}/>'
            )
        items.append(
            '<li><svg class="swatch" viewBox="0 0 24 8" width="24" height="8" '
            f'aria-hidden="true">{mark}</svg> {escape(item.name)}</li>'
        )
    return Markup(f'<ul class="legend">{"".join(items)}</ul>')


def dashboard(data: Growth) -> list[dict]:
    """The dashboard's charts: each with its SVG and its HTML legend."""

    def series(measure: str) -> list[Series]:
        return [Series(key.capitalize(), data.series[measure][key]) for key in KEYS[measure]]

    flows = [
        Series("Unsubscribed", data.series["churn"]["unsubscribed"]),
        Series("Paid membership ended", data.series["churn"]["cancelled"]),
        Series("Became paid", data.series["conversions"]["paid"]),
    ]
    unit = data.currency.upper()
    made = [
        ("tiers", "Members by tier", "Members on each tier at the end of each day.",
         line_chart, series("tier"), {}),
        ("statuses", "Members by status", "Members in each email status at the end of each day.",
         line_chart, series("status"), {}),
        ("signups", "Sign-ups by source", "New members by where they came from.",
         bar_chart, series("signups"), {}),
        ("churn", "Churn and conversions", "Members who unsubscribed, paid memberships that "
         "ended, and members who started paying.", bar_chart, flows, {}),
        ("mrr", f"Monthly recurring revenue ({unit})", "Paid memberships' monthly value.",
         line_chart, [Series("MRR", data.series["mrr"]["total"])], {"unit": unit}),
    ]  # fmt: skip
    return [
        {
            "id": chart_id,
            "title": title,
            "svg": draw(f"chart-{chart_id}", title, text, data.days, lines, **options),
            "legend": legend(lines, bars=draw is bar_chart),
        }
        for chart_id, title, text, draw, lines, options in made
    ]
