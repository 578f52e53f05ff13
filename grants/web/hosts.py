"""Requests for a host the deployment does not serve.

``TRUSTED_HOSTS`` (derived from ``PUBLIC_URL``, see :mod:`grants.config`) makes Flask refuse
such a request while routing it, before any view. The refusal is answered here, first of all
``before_request`` hooks: no form is checked and no view runs, so nothing is written, and the
page it gets names no host and builds no link (with no route matched, no address can be
built). Flask has opened the session cookie by then, as it does for every request.
"""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import SecurityError


def init_app(app: Flask) -> None:
    """Register the hook; it must come before every other ``before_request`` hook."""

    @app.before_request
    def refuse_unknown_host() -> ResponseReturnValue | None:
        """Answer a request whose Host header names no trusted host with a plain 400."""
        if isinstance(request.routing_exception, SecurityError):
            return render_template("errors/unknown_host.html"), 400
        return None
