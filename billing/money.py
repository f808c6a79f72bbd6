"""The one place where money is rounded (half-up to the cent, on Decimal only) and amounts from callers are checked."""
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from .exceptions import BillingError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_money(value: Decimal) -> Decimal:
    if isinstance(value, float):
        raise TypeError("Money is Decimal, never float.")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def positive_amount(value, *, what: str = "An amount") -> Decimal:
    """A positive amount in cents taken from a caller, at most PAYMENT_MAX_AMOUNT.

    Every service that takes money (payments, refunds, credits, and the payment webhook through them) checks
    it here: a float or a fraction of a cent is refused, not rounded, and so is a figure no one should be able
    to sign by mistake (a 9,999,999,999.99 payment would otherwise become a credit).
    """
    if isinstance(value, float):
        raise BillingError(f"{what} must be a Decimal or a string, never a float.")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise BillingError(f"{what} is not a number: {value!r}.") from None
    if not amount.is_finite() or amount <= 0:
        raise BillingError(f"{what} must be a positive amount in cents, e.g. 22.80 (got {value}).")
    maximum = settings.PAYMENT_MAX_AMOUNT
    if amount > maximum:  # checked before rounding: a figure of 30 digits cannot even be rounded
        raise BillingError(f"{what} is at most {maximum} (PAYMENT_MAX_AMOUNT); got {value}.")
    if amount != round_money(amount):
        raise BillingError(f"{what} must be a positive amount in cents, e.g. 22.80 (got {value}).")
    return amount
