"""Typed domain errors. Each carries a message a person can act on.

Entry points turn them into a flash message, a JSON error or a command-line error; none of
them ever reaches a user as a stack trace.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal by a domain operation.

    ``recorded`` is true when the refusal was written as the outcome of an idempotency key:
    the entry point then commits, so that a retry of the request gets the same refusal.
    Otherwise it rolls back.
    """

    recorded: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """A value given to an operation is malformed or out of range."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WeakPassword(InvalidInput):
    """A password that is too short, too common or too close to the account's own details."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="password")


class Conflict(DomainError):
    """The operation clashes with something that already exists."""


class NotAllowed(DomainError):
    """The actor may not do this to this object."""


class AuthenticationFailed(DomainError):
    """Sign-in refused; deliberately the same whether the email or the password was wrong."""

    def __init__(self) -> None:
        super().__init__("That email and password do not match an active account.")


class NotFound(DomainError):
    """The object does not exist, or is not the actor's to see (the two are not told apart)."""


class InvalidState(DomainError):
    """The object is no longer in a state that allows this (a gift already claimed, say)."""


class InsufficientFunds(DomainError):
    """The wallet or fund cannot cover the amount."""


class IdempotencyConflict(DomainError):
    """The idempotency key was already used for a different request."""

    def __init__(
        self, message: str = "This request key was already used for a different request."
    ) -> None:
        super().__init__(message)


REPLAYABLE: dict[str, type[DomainError]] = {
    error.__name__: error
    for error in (InvalidInput, Conflict, NotAllowed, NotFound, InvalidState, InsufficientFunds)
}
"""Refusals an idempotency record can store and raise again for a retried request."""
