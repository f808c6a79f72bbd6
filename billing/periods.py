"""Billing periods: half-open date pairs of calendar months in BILLING_TIME_ZONE.

October 2026 is Period(2026-10-01, 2026-11-01); a usage timestamp belongs to the period that holds
its local date (23:30 UTC on 31 October is November in Paris).
"""
import datetime
import functools
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import translation
from django.utils.formats import date_format

from billing.exceptions import BillingError

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def billing_zone() -> ZoneInfo:
    return ZoneInfo(settings.BILLING_TIME_ZONE)


def local_date(moment: datetime.datetime) -> datetime.date:
    """The calendar day of an aware datetime in BILLING_TIME_ZONE."""
    return moment.astimezone(billing_zone()).date()


def start_of_day(day: datetime.date) -> datetime.datetime:
    """Midnight of `day` in BILLING_TIME_ZONE, as an aware datetime (DST-safe)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=billing_zone())


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The first of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    start: datetime.date
    end: datetime.date  # excluded

    def __post_init__(self):
        if self.end <= self.start:
            raise BillingError(f"A period must end after it starts ({self.start} → {self.end}).")

    def __str__(self):
        return f"{self.start.isoformat()} → {self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        """`2026-10` for a month; `2026-03…2027-02` for a longer period."""
        last_month = add_months(self.end, -1)
        if last_month == self.start.replace(day=1) and self.start.day == 1:
            return f"{self.start:%Y-%m}"
        return f"{self.start:%Y-%m}…{last_month:%Y-%m}"

    @property
    def start_at(self) -> datetime.datetime:
        return start_of_day(self.start)

    @property
    def end_at(self) -> datetime.datetime:
        return start_of_day(self.end)

    def clip(self, start: datetime.date, end: datetime.date) -> "Period | None":
        """The part of this period between `start` and `end` (excluded), or None when they do not meet."""
        clipped_start, clipped_end = max(self.start, start), min(self.end, end)
        return Period(clipped_start, clipped_end) if clipped_end > clipped_start else None


def month(year: int, month_number: int) -> Period:
    start = datetime.date(year, month_number, 1)
    return Period(start, add_months(start, 1))


def parse_month(text: str) -> Period:
    """`2026-10` → Period(2026-10-01, 2026-11-01); anything else is a clear error."""
    match = PERIOD_PATTERN.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise BillingError(f"'{text}' is not a billing month: use YYYY-MM, e.g. 2026-10.")
    return month(int(match.group(1)), int(match.group(2)))


def period_containing(day: datetime.date, *, months: int = 1, anchor: datetime.date | None = None) -> Period:
    """The period of `months` calendar months holding `day`; a yearly period starts at `anchor`'s month."""
    first = (anchor or day).replace(day=1)
    elapsed = (day.year - first.year) * 12 + day.month - first.month
    start = add_months(first, (elapsed // months) * months)
    return Period(start, add_months(start, months))


def period_name(period: Period) -> str:
    """`December 2026`, or `January 2026 – December 2026` for a yearly period, in the active language; a partial
    period is named by the months of its first and last days."""
    return _period_name(period, translation.get_language())


@functools.lru_cache(maxsize=512)
def _period_name(period: Period, language: str | None) -> str:
    # Cached by language: a run names the same few months on every line, and Django's date_format is slow.
    last = period.end - datetime.timedelta(days=1)
    first = date_format(period.start, "F Y")
    if (period.start.year, period.start.month) == (last.year, last.month):
        return first
    return f"{first} – {date_format(last, 'F Y')}"


def format_long_date(value: datetime.date) -> str:
    """`1 December 2026` in the active language; French writes the first of a month `1er décembre 2026`, which
    no Django date format can say."""
    text = date_format(value, "j F Y")
    if value.day == 1 and (translation.get_language() or "").startswith("fr"):
        return f"1er{text[1:]}"
    return text


def last_day(end: datetime.date) -> datetime.date:
    """The last day of a half-open period: its excluded end minus one day."""
    return end - datetime.timedelta(days=1)


def card_retry_day(*, issue_date: datetime.date, attempted_on: datetime.date) -> datetime.date | None:
    """The first of the PAYMENT_RETRY_DAYS after the issue that comes after the day of the last attempt; None when
    no automatic attempt is left. Payments retry on it; the emails tell it."""
    days = (issue_date + datetime.timedelta(days=days) for days in settings.PAYMENT_RETRY_DAYS)
    return next((day for day in days if day > attempted_on), None)
