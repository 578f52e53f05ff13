"""Password hashing and policy as configured for the running application."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from flask import Flask, current_app

from grants.domain.accounts import PasswordRules

_EXTENSION_KEY = "grants.password_hasher"


def init_app(app: Flask) -> None:
    """Build the argon2id hasher from the application's configuration."""
    app.extensions[_EXTENSION_KEY] = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST_KIB"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )


def password_hasher() -> PasswordHasher:
    """The current application's argon2id hasher."""
    hasher: PasswordHasher = current_app.extensions[_EXTENSION_KEY]
    return hasher


def password_rules() -> PasswordRules:
    """The current application's password policy."""
    return PasswordRules(min_length=current_app.config["PASSWORD_MIN_LENGTH"])
