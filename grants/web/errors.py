"""Error pages that say what happened in plain words and reveal nothing else."""

from __future__ import annotations

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from grants.web.documents import upload_limit_message
from grants.web.support_panel import error_panel

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is nothing at this address, or it is not yours to see."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "What you sent is larger than this service accepts. Nothing was saved."),
    429: (
        "Too many attempts",
        "There have been too many attempts in a short time. Nothing was done; please wait "
        "a minute and try again.",
    ),
    500: ("Something went wrong", "The error has been logged and nothing was saved. Try again."),
}
"""Title and message per status; the exception's own description is never shown."""


def init_app(app: Flask) -> None:
    """Register the handlers. Unhandled exceptions reach the 500 page after being logged."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        return render_error(
            400,
            "Form expired",
            "This form has expired or did not come from this site. "
            "Go back, reload the page and try again; nothing was saved.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        code = error.code or 500
        title, message = MESSAGES.get(code, (error.name, "The request could not be completed."))
        if code == 413:
            message = upload_limit_message() or message
        body, status = render_error(code, title, message)
        headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
        return body, status, headers


def render_error(code: int, title: str, message: str) -> tuple[str, int]:
    """The error page for ``code``; in the wallet and claim flows it carries the support panel."""
    page = render_template(
        "errors/error.html", code=code, title=title, message=message, support=error_panel()
    )
    return page, code
