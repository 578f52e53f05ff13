"""The fair page: what a signed-in page costs at least, for the page benchmarks to be read
against.

A minimal Flask application, no extensions: Flask's own signed session cookie says who is
signed in, one indexed SELECT through SQLAlchemy Core reads that person's row from the
``users`` table of the application's database, and a small Jinja template shows it. A page
of the real application does all of this and its own work besides, so its cost divided
into this one's says how close it comes to the floor.

In-process (as ``bench/pages.py`` uses it)::

    app = create_fair_app("sqlite:///instance/grants.sqlite3")
    client = app.test_client()
    client.post("/sign-in/1")
    client.get("/")

Under gunicorn, with ``GRANTS_DATABASE_URL`` set: ``gunicorn --pythonpath bench
'fair_app:create_fair_app()'``; a ``POST /sign-in/<id>`` gives the client its cookie.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, abort, render_template, session
from jinja2 import DictLoader
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, bindparam, create_engine
from sqlalchemy import select as core_select

USERS = Table(
    "users",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("email", String(254)),
    Column("display_name", String(120)),
    Column("locale", String(16)),
)
"""The columns of the application's ``users`` table that the fair page reads."""

PERSON = core_select(USERS.c.id, USERS.c.email, USERS.c.display_name, USERS.c.locale).where(
    USERS.c.id == bindparam("user_id")
)
"""The page's one statement: a user's row by its primary key, built once."""

TEMPLATE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Hello, {{ person.display_name }}</title></head>
<body>
  <header><nav><a href="/">Home</a> <a href="/account">{{ person.email }}</a></nav></header>
  <main>
    <h1>Hello, {{ person.display_name }}</h1>
    <p>Signed in as {{ person.email }} ({{ person.locale }}).</p>
    <ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>
  </main>
</body>
</html>
"""
"""A small page in a template file of its own, loaded, compiled and cached by Jinja as the
application's templates are."""

ITEMS = ("Wallet", "Gifts", "Redemptions", "Allowances")


def create_fair_app(database_url: str | None = None, secret_key: str | None = None) -> Flask:
    """The fair application on ``database_url`` (default: ``GRANTS_DATABASE_URL``), signing
    its session cookie with ``secret_key`` (default: a new random key)."""
    url = database_url or os.environ["GRANTS_DATABASE_URL"]
    engine = create_engine(url)
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secret_key or secrets.token_hex(32)
    app.jinja_loader = DictLoader({"fair.html": TEMPLATE})
    app.extensions["fair_engine"] = engine

    @app.post("/sign-in/<int:user_id>")
    def sign_in(user_id: int) -> str:
        """Put ``user_id`` in the signed session cookie."""
        session["user_id"] = user_id
        return "signed in"

    @app.get("/")
    def page() -> str:
        """The signed-in person's row, shown through the template."""
        user_id = session.get("user_id")
        if not isinstance(user_id, int):
            abort(401)
        with engine.connect() as connection:
            person = connection.execute(PERSON, {"user_id": user_id}).one_or_none()
        if person is None:
            abort(404)
        return render_template("fair.html", person=person, items=ITEMS)

    return app


def fair_engine(app: Flask) -> Engine:
    """The engine the fair application reads through."""
    engine: Engine = app.extensions["fair_engine"]
    return engine
