"""Server-rendered SVG charts for the customer pages: pure functions from plain data to markup, no JavaScript.

The plot is a nested SVG stretched to the page width (`preserveAspectRatio="none"`), so bars fill any screen
from 360 px up, while the labels stay in the outer SVG at their normal size.
"""
import datetime
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from html import escape

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

CHART_HEIGHT = 220
PLOT_TOP = 26
PLOT_HEIGHT = 160
SLOT = 10  # viewBox units per day; a bar fills 70 % of its slot
BAR = 7


def compact_tokens(tokens: int) -> str:
    """`1234567` → `1.2M`, `12345` → `12.3k`, `999` → `999` (rounded half-up; `1,2M` in French)."""
    for threshold, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if tokens >= threshold:
            value = (Decimal(tokens) / threshold).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            return f"{number_format(value.normalize())}{suffix}"
    return str(tokens)


def nice_ceiling(value: int) -> int:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ) at or above `value`: the top of the
    scale, so that the tallest bar fills most of the height."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * magnitude >= value:
            return int(step * magnitude)
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _count(tokens: int) -> str:
    """`1234567` → `1,234,567` (`1 234 567` in French)."""
    return number_format(tokens, force_grouping=True)


def _day_label(day: datetime.date) -> str:
    return date_format(day, _("j M"))


def daily_usage_svg(
    points: Iterable[tuple[datetime.date, int]],
    *,
    start: datetime.date,
    end: datetime.date,
    today: datetime.date | None = None,
    chart_id: str = "usage-chart",
) -> str:
    """A bar per day of [start, end) with the tokens of `points` ((day, tokens) pairs); days without a point
    have no bar. `today`'s bar is marked. Accessible: role="img", a title and a description with the figures,
    and a tooltip per bar."""
    days = (end - start).days
    tokens_by_day = {day: tokens for day, tokens in points if start <= day < end}
    peak = max(tokens_by_day.values(), default=0)
    total = sum(tokens_by_day.values())
    last_day = end - datetime.timedelta(days=1)

    title = _("Tokens used per day, %(first)s to %(last)s %(year)s") % {
        "first": _day_label(start), "last": _day_label(last_day), "year": last_day.year,
    }
    if peak:
        busiest = max(tokens_by_day, key=lambda day: (tokens_by_day[day], day))
        description = _("%(total)s tokens in total; the busiest day was %(day)s with %(peak)s tokens.") % {
            "total": _count(total), "day": _day_label(busiest), "peak": _count(peak),
        }
    else:
        description = _("No tokens used in this period yet.")
    slots = [
        (_day_label(day), tokens_by_day.get(day, 0), day == today)
        for day in (start + datetime.timedelta(days=index) for index in range(days))
    ]
    return _bar_chart(
        slots, title=title, description=description, empty=_("No usage yet"), chart_id=chart_id, css="daily-chart"
    )


def _month_label(month_start: datetime.date) -> str:
    return date_format(month_start, _("M Y"))


def monthly_usage_svg(
    months: Iterable[tuple[datetime.date, int]], *, chart_id: str = "monthly-chart"
) -> str:
    """A bar per month of `months` ((first day, tokens) pairs, oldest first), the last one (the current month)
    marked. Accessible like the daily chart."""
    months = list(months)
    total = sum(tokens for _month, tokens in months)
    title = _("Tokens used per month, %(first)s to %(last)s") % {
        "first": _month_label(months[0][0]), "last": _month_label(months[-1][0]),
    }
    if total:
        busiest, peak = max(months, key=lambda month: (month[1], month[0]))
        description = _("%(total)s tokens in total; the busiest month was %(month)s with %(peak)s tokens.") % {
            "total": _count(total), "month": _month_label(busiest), "peak": _count(peak),
        }
    else:
        description = _("No tokens used in the last twelve months.")
    slots = [(_month_label(month), tokens, index == len(months) - 1) for index, (month, tokens) in enumerate(months)]
    return _bar_chart(
        slots, title=title, description=description, empty=_("No usage yet"), chart_id=chart_id, css="monthly-chart"
    )


def _bar_chart(
    slots: list[tuple[str, int, bool]], *, title: str, description: str, empty: str, chart_id: str, css: str
) -> str:
    """Vertical bars for (label, tokens, marked) slots; a slot of 0 tokens has no bar. The first, middle and
    last labels name the axis."""
    count = len(slots)
    peak = max((tokens for _label, tokens, _marked in slots), default=0)
    top = nice_ceiling(peak)
    bars = []
    for index, (label, tokens, marked) in enumerate(slots):
        if not tokens:
            continue
        height = Decimal(tokens) * 100 / top
        bar_css = "bar bar-today" if marked else "bar"
        bar_title = _("%(label)s: %(tokens)s tokens") % {"label": label, "tokens": _count(tokens)}
        bars.append(
            f'<rect class="{bar_css}" x="{index * SLOT + (SLOT - BAR) / 2:g}" y="{100 - height:.3f}" width="{BAR}" '
            f'height="{height:.3f}"><title>{escape(bar_title)}</title></rect>'
        )
    empty_text = "" if peak else (
        f'<text class="chart-empty" x="50%" y="{PLOT_TOP + PLOT_HEIGHT / 2:g}" text-anchor="middle">'
        f"{escape(empty)}</text>"
    )
    scale = ngettext("%(tokens)s token", "%(tokens)s tokens", top) % {"tokens": compact_tokens(top)}
    middle = count // 2
    middle_x = (middle * SLOT + SLOT / 2) * 100 / (count * SLOT)
    label_y = PLOT_TOP + PLOT_HEIGHT + 22
    return (
        f'<svg class="usage-chart {css}" xmlns="http://www.w3.org/2000/svg" width="100%" height="{CHART_HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
        f'<text class="chart-scale" x="0" y="{PLOT_TOP - 8}">{escape(scale)}</text>'
        f'<svg x="0" y="{PLOT_TOP}" width="100%" height="{PLOT_HEIGHT}" viewBox="0 0 {count * SLOT} 100" '
        'preserveAspectRatio="none" overflow="visible">'
        '<line class="grid" x1="0" y1="0" x2="100%" y2="0" vector-effect="non-scaling-stroke"/>'
        '<line class="grid" x1="0" y1="50" x2="100%" y2="50" vector-effect="non-scaling-stroke"/>'
        f'{"".join(bars)}'
        '<line class="axis" x1="0" y1="100" x2="100%" y2="100" vector-effect="non-scaling-stroke"/>'
        "</svg>"
        f"{empty_text}"
        f'<text class="chart-label" x="0" y="{label_y}">{escape(slots[0][0])}</text>'
        f'<text class="chart-label" x="{middle_x:.2f}%" y="{label_y}" text-anchor="middle">'
        f"{escape(slots[middle][0])}</text>"
        f'<text class="chart-label" x="100%" y="{label_y}" text-anchor="end">{escape(slots[-1][0])}</text>'
        "</svg>"
    )


HORIZONTAL_ROW = 34  # px per horizontal bar: a label line above a 12 px bar


def forecast_svg(
    *, tokens_used: int, projected_tokens: int, included_tokens: int | None, chart_id: str = "forecast-chart"
) -> str:
    """Horizontal bars: tokens used so far, the forecast at the period's end and the quota, on one scale
    (widths in %, so the chart fits any screen)."""
    rows = [
        (_("Used so far"), tokens_used, "forecast-bar"),
        (_("Forecast at period end"), projected_tokens, "forecast-bar is-projected"),
    ]
    if included_tokens:
        rows.append((_("Included in your plan"), included_tokens, "forecast-bar is-quota"))
    description = " ".join(
        ngettext("%(label)s: %(tokens)s token.", "%(label)s: %(tokens)s tokens.", tokens)
        % {"label": label, "tokens": _count(tokens)}
        for label, tokens, _css in rows
    )
    return _horizontal_bars(
        rows, title=_("Usage forecast for this period"), description=description, chart_id=chart_id,
        css="forecast-chart",
    )


def breakdown_svg(
    groups: Iterable[tuple[str, int]], *, title: str, chart_id: str = "breakdown-chart"
) -> str:
    """A horizontal bar per (label, tokens) group (an API key, a library), on one scale, in the order given."""
    groups = list(groups)
    total = sum(tokens for _label, tokens in groups)
    if groups:
        description = _("%(total)s tokens in total; the most used is %(label)s with %(tokens)s tokens.") % {
            "total": _count(total), "label": groups[0][0], "tokens": _count(groups[0][1]),
        }
    else:
        description = _("No tokens used in this period.")
    rows = [(label, tokens, "bar") for label, tokens in groups]
    return _horizontal_bars(rows, title=title, description=description, chart_id=chart_id, css="breakdown-chart")


def _horizontal_bars(
    rows: list[tuple[str, int, str]], *, title: str, description: str, chart_id: str, css: str
) -> str:
    """A bar per (label, tokens, bar css) row under a "label: tokens" line, widths in % of the largest."""
    top = max((tokens for _label, tokens, _css in rows), default=0) or 1
    parts = []
    for index, (label, tokens, bar_css) in enumerate(rows):
        y = index * HORIZONTAL_ROW
        width = Decimal(tokens) * 100 / top
        figure = _("%(label)s: %(value)s") % {"label": label, "value": _count(tokens)}
        parts.append(
            f'<text class="chart-label" x="0" y="{y + 12}">{escape(figure)}</text>'
            f'<rect class="{bar_css}" x="0" y="{y + 17}" width="{width:.3f}%" height="12"/>'
        )
    return (
        f'<svg class="usage-chart {css}" xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'height="{max(len(rows), 1) * HORIZONTAL_ROW}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
        f'{"".join(parts)}'
        "</svg>"
    )
