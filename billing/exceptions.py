class BillingError(Exception):
    """A billing operation was refused; the message says why, for a person to read."""


class InvalidTransition(BillingError):
    """A status move that the state machine does not allow."""


class IdempotencyConflict(BillingError):
    """An idempotency key was reused for a different operation."""
