"""Filters of the customer pages and emails: money with its currency, token counts, dates, the last day of a
half-open period."""
import datetime
from decimal import Decimal

from django import template
from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.html import format_html

from accounts.countries import country_name as _country_name
from billing.money import round_money

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    """`Decimal("1234.5")|money:"EUR"` → `1,234.50 EUR` (a no-break space before the currency)."""
    if value is None or value == "":
        return ""
    amount = f"{round_money(Decimal(value)):,.2f}"
    return f"{amount}\u00a0{currency}" if currency else amount


@register.filter
def unit_price(value, currency: str = "") -> str:
    """A unit price keeps up to four places: `2.0000` → `2.00`, `0.0125` → `0.0125`."""
    if value is None or value == "":
        return ""
    value = Decimal(value)
    text = f"{value:,.4f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    text = f"{whole}.{fraction.ljust(2, '0')}"
    return f"{text}\u00a0{currency}" if currency else text


@register.filter
def localized_unit_price(value) -> str:
    """A unit price in the active language with two to four places: `2.0000` → `2.00` (`2,00` in French),
    `0.0125` → `0.0125`."""
    if value is None or value == "":
        return ""
    value = Decimal(value)
    places = min(max(2, -value.normalize().as_tuple().exponent), 4)
    return number_format(value, decimal_pos=places)


@register.filter
def long_date(value: datetime.date) -> str:
    """`1 December 2026` in the active language; French writes the first of a month `1er décembre 2026`, which
    no Django date format can say."""
    if value is None or value == "":
        return ""
    text = date_format(value, "j F Y")
    if value.day == 1 and (translation.get_language() or "").startswith("fr"):
        return f"1er{text[1:]}"
    return text


@register.filter
def tokens(value) -> str:
    """`1234567` → `1,234,567`."""
    if value is None or value == "":
        return ""
    return f"{int(value):,}"


@register.filter
def quantity(value) -> str:
    """A line's quantity without trailing zeros: `1.000000` → `1`, `2.500000` → `2.5`."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).normalize():f}"


@register.filter
def percent(rate) -> str:
    """A tax rate as a fraction → `20 %`."""
    if rate is None or rate == "":
        return ""
    return f"{(Decimal(rate) * 100).normalize():f}\u00a0%"


@register.filter
def last_day(end: datetime.date) -> datetime.date:
    """The last day of a half-open period: its excluded end minus one day."""
    return end - datetime.timedelta(days=1)


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
