"""Links in emails start with the configured public address, never with the Host header a
request happened to carry, and a request for a host the deployment does not serve is refused
before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from grants import create_app
from grants.extensions import db as database
from tests.conftest import FAST_ARGON2
from tests.factories import build_world
from tests.support import form_fields, sign_in
from tests.wallets import balances, claim_link_in, counts, give_gift, give_page, outbox

EVIL = {"Host": "evil.example"}


def test_a_request_for_another_host_is_refused_with_a_plain_page(make_app) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app(TESTING=False)
    for path in ("/login", "/", "/static/css/app.css", "/claim/some-token", "/no-such-page"):
        response = app.test_client().get(path, headers=EVIL)
        page = response.get_data(as_text=True)
        assert response.status_code == 400, path
        assert "This address is not served here" in page, path
        assert "evil.example" not in page, path
        assert "Traceback" not in page, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


def test_a_gift_posted_for_another_host_is_refused_and_writes_nothing(make_app) -> None:  # type: ignore[no-untyped-def]
    """The signed-in ambassador's own cookie and form, sent with a forged Host header (as a
    proxy that forwards any host would pass it on): the gift is not given and no email
    carries a link to the forged host."""
    app: Flask = make_app()
    with app.app_context():
        world = build_world(database.session)
        before = counts(database.session)
        held = balances(database.session, world.avery_wallet)
    client = sign_in(app, world.avery)
    fields = form_fields(client, give_page(world.avery_wallet))
    fields.update(
        recipient_name="Sam Drummer",
        recipient_email="sam@example.org",
        relation="bandmate",
        amount="150",
    )
    cookie = client.get_cookie("session", domain="localhost")
    assert cookie is not None
    client.set_cookie("session", cookie.value, domain="evil.example")
    response = client.post(give_page(world.avery_wallet), data=fields, headers=EVIL)
    assert response.status_code == 400
    with app.app_context():
        assert counts(database.session) == before
        assert balances(database.session, world.avery_wallet) == held
    assert outbox(app) == []


def test_the_embedded_default_links_to_what_flask_run_serves(make_app) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app(PUBLIC_URL=None)
    assert app.config["PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert set(app.config["TRUSTED_HOSTS"]) == {"127.0.0.1", "localhost"}
    with app.app_context():
        world = build_world(database.session)
    client = sign_in(app, world.avery)
    assert give_gift(client, world.avery_wallet).status_code == 302
    assert claim_link_in(outbox(app)[0]).startswith("http://127.0.0.1:5000/claim/")


def test_a_configured_public_url_is_the_only_host_served(make_app) -> None:  # type: ignore[no-untyped-def]
    app: Flask = make_app(PUBLIC_URL="https://funding.example.org/")
    assert app.config["TRUSTED_HOSTS"] == ["funding.example.org"]
    assert app.test_client().get("/login").status_code == 400
    served = app.test_client().get("/login", base_url="https://funding.example.org")
    assert served.status_code == 200


def test_secure_cookies_without_a_public_url_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="GRANTS_PUBLIC_URL"):
        create_app({"INSTANCE_PATH": tmp_path / "instance", "SECURE_COOKIES": True, **FAST_ARGON2})
    app = create_app(
        {
            "INSTANCE_PATH": tmp_path / "instance",
            "SECURE_COOKIES": True,
            "PUBLIC_URL": "https://funding.example.org",
            **FAST_ARGON2,
        }
    )
    assert app.config["TRUSTED_HOSTS"] == ["funding.example.org"]


@pytest.mark.parametrize(
    "address", ["funding.example.org", "ftp://funding.example.org", "https://", "http://[::1]:5000"]
)
def test_a_public_url_that_cannot_be_served_stops_start_up(tmp_path: Path, address: str) -> None:
    with pytest.raises(ValueError, match="GRANTS_PUBLIC_URL"):
        create_app({"INSTANCE_PATH": tmp_path / "instance", "PUBLIC_URL": address})


def test_secure_cookies_want_an_https_public_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must start with https://"):
        create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": tmp_path / "instance",
                "SECURE_COOKIES": True,
                "PUBLIC_URL": "http://funding.example.org",
                **FAST_ARGON2,
            }
        )
