"""Filters of the customer pages and emails: money with its currency, token counts, dates, the last day of a
half-open period."""
import datetime
from decimal import Decimal

from django import template
from django.utils.html import format_html

from accounts.countries import country_name as _country_name
from billing.money import format_line_quantity, format_line_unit_price, format_number
from billing.periods import format_long_date, last_day
from billing.pricing import usage_price_rows

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    """`Decimal("1234.5")|money:"EUR"` → `1,234.50 EUR` (`1 234,50 EUR` in French)."""
    if value is None or value == "":
        return ""
    return format_number(value, currency=currency)


@register.filter
def unit_price(value, currency: str = "") -> str:
    """A unit price keeps up to four places: `2.0000` → `2.00` (`2,00` in French), `0.0125` → `0.0125`."""
    if value is None or value == "":
        return ""
    return format_number(value, max_places=4, currency=currency)


@register.simple_tag
def usage_prices(plan) -> list[tuple[str, str]]:
    """`{% usage_prices plan as rows %}`: which tokens beyond the included ones cost what, in the reader's words."""
    return usage_price_rows(plan)


@register.filter
def long_date(value: datetime.date) -> str:
    """`1 December 2026` in the active language (`1er décembre 2026`)."""
    if value is None or value == "":
        return ""
    return format_long_date(value)


@register.filter
def tokens(value) -> str:
    """`1234567` → `1,234,567` (`1 234 567` in French)."""
    if value is None or value == "":
        return ""
    return format_number(int(value), places=0)


@register.filter
def quantity(value) -> str:
    """A line's quantity without trailing zeros: `1.000000` → `1`, `2.500000` → `2.5`, `35161291` → `35,161,291`."""
    if value is None or value == "":
        return ""
    return format_number(value, places=0, max_places=6)


@register.filter
def line_quantity(line) -> str:
    """`35,161,291 tokens` on a usage line, `1` on a fee line."""
    return format_line_quantity(line)


@register.filter
def line_unit_price(line, currency: str) -> str:
    """`2.00 EUR / million tokens` on a usage line, `19.00 EUR` on a fee line."""
    return format_line_unit_price(line, currency)


@register.filter
def percent(rate) -> str:
    """A tax rate as a fraction → `20 %`, `5.5 %` (`5,5 %` in French)."""
    if rate is None or rate == "":
        return ""
    return f"{format_number(Decimal(rate) * 100, places=0, max_places=4)}\u00a0%"


register.filter("last_day", last_day)


STATUS_TONES = {
    "PAID": "ok", "COMPLETED": "ok", "ACTIVE": "ok",
    "SENT": "info", "PENDING": "info", "PROCESSING": "info",
    "OVERDUE": "bad", "FAILED": "bad",
    "CANCELLED": "muted", "REFUNDED": "muted", "EXPIRED": "muted", "PAUSED": "warn", "DRAFT": "muted",
    # alert types
    "USAGE_THRESHOLD": "warn", "SUBSCRIPTION_EXPIRING": "warn", "PAYMENT_FAILED": "bad", "INVOICE_OVERDUE": "bad",
}


@register.simple_tag
def status_badge(status: str, label: str):
    """A status as a coloured badge; the colour only repeats the text, it never carries meaning alone."""
    return format_html('<span class="badge badge-{}">{}</span>', STATUS_TONES.get(status, "muted"), label)


@register.filter
def meter_width(percent) -> str:
    """A percentage clamped to 0–100 for the width of a bar: `142.5` → `100`."""
    if percent is None or percent == "":
        return "0"
    return f"{min(Decimal(100), max(Decimal(0), Decimal(percent))):f}"


@register.filter
def country_name(code: str) -> str:
    """`FR` → `France`; an unknown code is shown as it is."""
    return _country_name(code)


@register.filter
def subtract(value, other):
    """`a|subtract:b` → a − b (for token counts)."""
    return value - other
