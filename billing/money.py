"""The one place where money is rounded (half-up to the cent, on Decimal only) and amounts from callers are checked."""
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils import numberformat
from django.utils.formats import get_format
from django.utils.translation import gettext, ngettext

from billing.exceptions import BillingError

CENT = Decimal("0.01")
# Overage is priced per million tokens: a usage line's price base quantity (EN 16931 BT-149).
TOKENS_PER_MILLION = 1_000_000
NO_BREAK_SPACE, NARROW_NO_BREAK_SPACE = "\u00a0", "\u202f"
ZERO = Decimal("0.00")
# Fixed by article D441-5 of the French Commercial Code for every late B2B payment.
RECOVERY_INDEMNITY = Decimal("40.00")


def round_money(value: Decimal) -> Decimal:
    if isinstance(value, float):
        raise TypeError("Money is Decimal, never float.")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def decimal_from_caller(value, *, what: str) -> Decimal:
    """`value` (a Decimal, a string or an int) as the Decimal the caller wrote; a float, already inexact, and
    what is not a number are refused. Callers check the range they accept."""
    if isinstance(value, float):
        raise BillingError(f"{what} must be a Decimal or a string, never a float.")
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise BillingError(f"{what} is not a number: {value!r}.") from None


def non_negative_decimal(value, *, what: str, places: int) -> Decimal:
    """A Decimal from a caller, zero or more, with at most `places` decimals (a plan's prices); BillingError else."""
    amount = decimal_from_caller(value, what=what)
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise BillingError(f"{what} must be zero or more, with at most {places} decimals (got {value}).")
    return amount


def positive_amount(value, *, what: str = "An amount") -> Decimal:
    """A positive amount in cents taken from a caller, at most PAYMENT_MAX_AMOUNT.

    Every service that takes money (payments, refunds, credits, and the payment webhook through them) checks
    it here: a float or a fraction of a cent is refused, not rounded, and so is a figure no one should be able
    to sign by mistake (a 9,999,999,999.99 payment would otherwise become a credit).
    """
    amount = decimal_from_caller(value, what=what)
    if not amount.is_finite() or amount <= 0:
        raise BillingError(f"{what} must be a positive amount in cents, e.g. 22.80 (got {value}).")
    maximum = settings.PAYMENT_MAX_AMOUNT
    if amount > maximum:  # checked before rounding: a figure of 30 digits cannot even be rounded
        raise BillingError(f"{what} is at most {maximum} (PAYMENT_MAX_AMOUNT); got {value}.")
    if amount != round_money(amount):
        raise BillingError(f"{what} must be a positive amount in cents, e.g. 22.80 (got {value}).")
    return amount


def format_number(value, *, places: int = 2, max_places: int | None = None, currency: str = "") -> str:
    """`value` as the reader of the active language writes it: grouped thousands and their decimal mark,
    e.g. `1,234.50 EUR` in English and `1 234,50 EUR` in French (a narrow no-break space between thousands,
    a no-break space before the currency).

    `places` decimals, rounded half-up (money: 2, token counts: 0); with `max_places`, up to that many
    where the value has them (a price per million `0.0125` keeps four, `2.0000` prints `2.00`).
    """
    if isinstance(value, float):
        raise TypeError("Money is Decimal, never float.")
    value = Decimal(value)
    if max_places is not None:
        places = min(max(places, -value.normalize().as_tuple().exponent), max_places)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    thousands = get_format("THOUSAND_SEPARATOR")
    if thousands == NO_BREAK_SPACE:  # French typography groups thousands with a narrow one; Django's French has not
        thousands = NARROW_NO_BREAK_SPACE
    text = numberformat.format(
        rounded, get_format("DECIMAL_SEPARATOR"), decimal_pos=places, grouping=get_format("NUMBER_GROUPING"),
        thousand_sep=thousands, force_grouping=True,
    )
    return f"{text}{NO_BREAK_SPACE}{currency}" if currency else text


def format_line_quantity(line) -> str:
    """An invoice line's quantity as its documents print it: a usage line counts tokens (`35,161,291 tokens`), any
    other is a plain number without trailing zeros (`1`)."""
    if line.price_base_quantity == TOKENS_PER_MILLION:
        count = int(line.quantity)
        return ngettext("%(count)s token", "%(count)s tokens", count) % {"count": format_number(count, places=0)}
    return format_number(line.quantity, places=0, max_places=6)


def format_line_unit_price(line, currency: str) -> str:
    """An invoice line's unit price with two to four decimals and its currency, per million tokens on a usage line
    (`2.00 EUR / million tokens`)."""
    price = format_number(line.unit_price, max_places=4, currency=currency)
    if line.price_base_quantity == TOKENS_PER_MILLION:
        return gettext("%(price)s / million tokens") % {"price": price}
    return price


def late_payment_rate() -> Decimal:
    """The late-payment interest rate, a percentage, that every invoice and reminder states."""
    return settings.LATE_PAYMENT_RATE
