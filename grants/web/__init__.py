"""Web blueprints, one per audience, and what they share."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user, login_required

from grants.models import Role

P = ParamSpec("P")
R = TypeVar("R")


def roles_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Let a view through only for a signed-in user holding at least one of ``roles``.

    An anonymous visitor is sent to the sign-in page; a signed-in user without any of the
    roles gets 403.
    """
    if not roles:
        raise ValueError("roles_required needs at least one role")

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        protected: Callable[P, R] = login_required(guarded)
        return protected

    return decorator


def is_safe_next(target: str | None) -> bool:
    """Whether ``target`` is a path on this site, safe to redirect to after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(character) < 32 for character in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
