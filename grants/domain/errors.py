"""Typed domain errors. Each carries a message a person can act on.

Entry points turn them into a flash message, a JSON error or a command-line error; none of
them ever reaches a user as a stack trace.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal by a domain operation."""

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
