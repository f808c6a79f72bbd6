"""The standard VAT rate of each EU member state on a given day: a dated table kept in the project.

Each row is the day a member state's standard rate took effect; a rate applies from its row's day until the next
row of the same country. The table starts on 1 January 2016 with the rates then in force, and lists every change of
a standard rate since:

- Greece 23 % → 24 % on 2016-06-01; Romania 20 % → 19 % on 2017-01-01;
- Germany's temporary 16 % from 2020-07-01 to 2020-12-31; Ireland's temporary 21 % from 2020-09-01 to 2021-02-28;
- Luxembourg's temporary 16 % for 2023; Estonia 20 % → 22 % on 2024-01-01, then 24 % on 2025-07-01;
- Finland 24 % → 25.5 % on 2024-09-01; Slovakia 20 % → 23 % on 2025-01-01; Romania 19 % → 21 % on 2025-08-01.

Source: the European Commission's Taxes in Europe Database (TEDB) and its "VAT rates applied in the Member States"
tables, each change checked against the member state's announcement (Estonian Tax and Customs Board; Finnish Tax
Administration, vero.fi; Slovak Act No. 278/2024; Romanian Law No. 141/2025; Luxembourg's law of 2022 on the
temporary cut). Countries are ISO 3166 codes, as on profiles (Greece is GR, not its VAT prefix EL).

To update: when a member state changes its standard rate, add one row (country, first day, rate in percent) before
that day, with a test of the day before and the day of the change; never edit a past row (issued invoices keep the
rate of their tax point, and a re-issued document must find the same one).
"""
import datetime
from decimal import Decimal

from billing.exceptions import BillingError

FIRST_DAY = datetime.date(2016, 1, 1)

# (country, in force from, standard rate in percent), grouped by country, in date order within one.
STANDARD_RATE_ROWS = (
    ("AT", FIRST_DAY, "20"),
    ("BE", FIRST_DAY, "21"),
    ("BG", FIRST_DAY, "20"),
    ("CY", FIRST_DAY, "19"),
    ("CZ", FIRST_DAY, "21"),
    ("DE", FIRST_DAY, "19"),
    ("DE", datetime.date(2020, 7, 1), "16"),
    ("DE", datetime.date(2021, 1, 1), "19"),
    ("DK", FIRST_DAY, "25"),
    ("EE", FIRST_DAY, "20"),
    ("EE", datetime.date(2024, 1, 1), "22"),
    ("EE", datetime.date(2025, 7, 1), "24"),
    ("ES", FIRST_DAY, "21"),
    ("FI", FIRST_DAY, "24"),
    ("FI", datetime.date(2024, 9, 1), "25.5"),
    ("FR", FIRST_DAY, "20"),
    ("GR", FIRST_DAY, "23"),
    ("GR", datetime.date(2016, 6, 1), "24"),
    ("HR", FIRST_DAY, "25"),
    ("HU", FIRST_DAY, "27"),
    ("IE", FIRST_DAY, "23"),
    ("IE", datetime.date(2020, 9, 1), "21"),
    ("IE", datetime.date(2021, 3, 1), "23"),
    ("IT", FIRST_DAY, "22"),
    ("LT", FIRST_DAY, "21"),
    ("LU", FIRST_DAY, "17"),
    ("LU", datetime.date(2023, 1, 1), "16"),
    ("LU", datetime.date(2024, 1, 1), "17"),
    ("LV", FIRST_DAY, "21"),
    ("MT", FIRST_DAY, "18"),
    ("NL", FIRST_DAY, "21"),
    ("PL", FIRST_DAY, "23"),
    ("PT", FIRST_DAY, "23"),
    ("RO", FIRST_DAY, "20"),
    ("RO", datetime.date(2017, 1, 1), "19"),
    ("RO", datetime.date(2025, 8, 1), "21"),
    ("SE", FIRST_DAY, "25"),
    ("SI", FIRST_DAY, "22"),
    ("SK", FIRST_DAY, "20"),
    ("SK", datetime.date(2025, 1, 1), "23"),
)


class VatRateUnknown(BillingError):
    """No standard rate is known for that country on that day: not a member state, or a day before the table."""


def _rates_by_country() -> dict[str, tuple[tuple[datetime.date, Decimal], ...]]:
    """Each country's (first day, rate as a fraction) pairs, newest first."""
    rates: dict[str, list[tuple[datetime.date, Decimal]]] = {}
    for country, first_day, percent in STANDARD_RATE_ROWS:
        rates.setdefault(country, []).append((first_day, Decimal(percent) / 100))
    return {country: tuple(sorted(pairs, reverse=True)) for country, pairs in rates.items()}


RATES_BY_COUNTRY = _rates_by_country()
MEMBER_STATES = frozenset(RATES_BY_COUNTRY)


def standard_rate(country: str, on: datetime.date) -> Decimal:
    """The standard VAT rate of member state `country` in force on `on`, as a fraction (0.19 for 19 %)."""
    rates = RATES_BY_COUNTRY.get(country.upper())
    if rates is None:
        raise VatRateUnknown(f"{country!r} is not an EU member state: it has no EU VAT rate.")
    for first_day, rate in rates:
        if first_day <= on:
            return rate
    raise VatRateUnknown(f"The VAT rates table starts on {FIRST_DAY}: no rate is known for {country} on {on}.")
