"""The one place where money is rounded: half-up to the cent, on Decimal only."""
from decimal import ROUND_HALF_UP, Decimal

from .exceptions import BillingError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_money(value: Decimal) -> Decimal:
    if isinstance(value, float):
        raise TypeError("Money is Decimal, never float.")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def positive_amount(value, *, what: str = "An amount") -> Decimal:
    """A positive amount in cents taken from a caller: float and fractions of a cent are refused, not rounded."""
    if isinstance(value, float):
        raise BillingError(f"{what} must be a Decimal or a string, never a float.")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise BillingError(f"{what} is not a number: {value!r}.") from None
    if not amount.is_finite() or amount <= 0 or amount != round_money(amount):
        raise BillingError(f"{what} must be a positive amount in cents, e.g. 22.80 (got {value}).")
    return amount
