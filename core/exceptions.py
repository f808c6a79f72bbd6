"""The errors an application refuses an operation with: the API turns them into its error shape (core.api)."""


class ApplicationError(Exception):
    """An operation was refused; the message says why, for a person to read. The API answers 400."""


class Conflict(ApplicationError):
    """Refused because of the state the data is in (a status, a key already used): the API answers 409."""
