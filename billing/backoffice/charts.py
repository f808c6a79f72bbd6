"""Charts for the admin, rendered on the server as inline SVG: no JavaScript, no external asset."""
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from billing.templatetags.billing_format import money

WIDTH, HEIGHT = 760, 280
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 12, 28, 36


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Decimal]
    colour: str  # a CSS colour


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5, 5 or 10 × 10ⁿ at least `value` (an axis maximum a person reads at a glance).

    Geometry below works in floats; amounts stay Decimal and are only printed.
    """
    if value <= 0:
        return Decimal(1)
    exponent = Decimal(value).adjusted()  # of the leading digit: 3 for 1234.5
    for step in (1, 2, Decimal("2.5"), 5, 10):
        candidate = Decimal(step) * Decimal(10) ** exponent
        if candidate >= value:
            return candidate
    return Decimal(10) ** (exponent + 1)


def _amount_label(value: Decimal) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f} M"
    if value >= 10_000:
        return f"{value / 1_000:.0f} k"
    if value >= 1_000:
        return f"{value / 1_000:.1f} k"
    return f"{value:.0f}"


def grouped_bar_chart(
    *, labels: Sequence[str], series: Sequence[Series], title: str, unit: str = "", width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """Bars side by side per label, one colour per series, a y axis with five gridlines and a legend.

    Every value is an amount in `unit` and carries a <title> with it (the browser shows it on hover); negative
    values are drawn as zero. `width` and `height` are the drawing's units: a chart shown in a narrower box takes
    fewer, so that its text keeps its size.
    """
    top = nice_ceiling(max((value for s in series for value in s.values), default=Decimal(0)))
    plot_width = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = height - MARGIN_TOP - MARGIN_BOTTOM
    group_width = plot_width / max(len(labels), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="tmcp-chart" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):
        value = top * step / 4
        y = MARGIN_TOP + plot_height - plot_height * step / 4
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{width - MARGIN_RIGHT}" y2="{y:.1f}" class="tmcp-grid"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tmcp-axis">'
            f"{escape(_amount_label(value))}</text>"
        )
    for index, label in enumerate(labels):
        group_x = MARGIN_LEFT + group_width * index + group_width * 0.1
        for position, item in enumerate(series):
            value = max(item.values[index], Decimal(0))
            bar_height = float(value / top) * plot_height
            x = group_x + bar_width * position
            y = MARGIN_TOP + plot_height - bar_height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width - 1:.1f}" height="{bar_height:.1f}" '
                f'fill="{escape(item.colour)}"><title>{escape(item.name)}, {escape(label)}: '
                f"{escape(money(item.values[index], unit))}</title></rect>"
            )
        parts.append(
            f'<text x="{MARGIN_LEFT + group_width * (index + 0.5):.1f}" y="{height - MARGIN_BOTTOM + 16}" '
            f'text-anchor="middle" class="tmcp-axis">{escape(label)}</text>'
        )
    legend_x = MARGIN_LEFT
    for item in series:
        parts.append(
            f'<rect x="{legend_x}" y="8" width="12" height="12" fill="{escape(item.colour)}"/>'
            f'<text x="{legend_x + 16}" y="18" class="tmcp-legend">{escape(item.name)}</text>'
        )
        legend_x += 24 + 8 * len(item.name)
    if unit:
        parts.append(
            f'<text x="{width - MARGIN_RIGHT}" y="18" text-anchor="end" class="tmcp-axis">{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every piece of text above went through escape()
