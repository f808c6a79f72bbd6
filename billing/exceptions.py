from core.exceptions import ApplicationError, Conflict


class BillingError(ApplicationError):
    """A billing operation was refused; the message says why, for a person to read."""


class InvalidTransition(BillingError, Conflict):
    """A status move that the state machine does not allow."""


class IdempotencyConflict(BillingError, Conflict):
    """An idempotency key was reused for a different operation."""
