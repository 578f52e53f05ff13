"""The stack's own floor: two pages added to the application for the benchmarks, which cost
what every signed-in page of this stack costs before it does anything of its own.

- ``/bench/signed-in`` answers a word to a signed-in person: the session cookie, Flask-Login
  loading the user, and the application's hooks (locale, security headers, rate limits);
- ``/bench/empty`` is the same with the base layout around an empty page: the navigation,
  the sign-out form and its CSRF token.

No page of the application can come closer to the fair page (``bench/fair_app.py``) than
``/bench/empty`` does, so the page benchmarks print it beside the targets they judge.

In-process (``bench/pages.py``): ``add_stack_floor(app)`` before the first request. Under
gunicorn (``bench/throughput.py``): ``gunicorn --pythonpath bench
'stack_floor:create_app_with_floor()'``, configured from the environment as the application
is.
"""

from __future__ import annotations

from flask import Flask, render_template
from flask_login import login_required

from grants import create_app

STACK_FLOOR = {
    "/bench/signed-in": "signed in, no page: the session, Flask-Login's user, the hooks",
    "/bench/empty": "the same with the base layout around an empty page",
}
"""Each floor page and what it costs."""
EMPTY = "/bench/empty"
"""The emptiest page in the application's layout."""
EMPTY_MARK = "<h1>Empty</h1>"
"""What shows that an answer is the empty page rather than the sign-in form."""


def add_stack_floor(app: Flask) -> None:
    """Add the :data:`STACK_FLOOR` pages to ``app``, before its first request: the same
    extensions, hooks, user loader and base template as every page, and nothing else."""
    empty = app.jinja_env.from_string(
        '{% extends "base.html" %}{% block title %}Empty{% endblock %}'
        "{% block content %}" + EMPTY_MARK + "{% endblock %}"
    )

    def signed_in_only() -> str:
        return "signed in"

    def empty_page() -> str:
        return render_template(empty)

    app.add_url_rule("/bench/signed-in", "bench_signed_in", login_required(signed_in_only))
    app.add_url_rule(EMPTY, "bench_empty", login_required(empty_page))


def create_app_with_floor() -> Flask:
    """The application, configured from the environment, with the floor pages added."""
    app = create_app()
    add_stack_floor(app)
    return app
