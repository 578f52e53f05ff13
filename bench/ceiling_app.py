"""The ceiling of the load benchmark: the smallest Flask application, one page that answers
``ok``, served by the same gunicorn set-up as the real application.

What it serves per second is what the server, the client and the machine allow at best;
the real application's figures are read as a share of it.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok() -> str:
    """A page that does nothing."""
    return "ok"
