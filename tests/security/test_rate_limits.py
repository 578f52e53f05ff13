"""Rate limits: signing in per address and per account, claim links per address, reports per
user, claim emails per giver, requests for help and the help desk's private links per address;
in memory by default and in Redis when ``REDIS_URL`` is set.

Limits are off in an application made for tests unless the test turns them on
(``RATE_LIMITS_ENABLED=True``), as these do, with limits small enough to reach.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from grants.config import settings_from_environment
from grants.domain import helpdesk
from grants.domain.helpdesk import Ask
from grants.domain.partners import PartnerDetails, create_partner
from grants.models import AuditEvent, Gift, HelpRequest, OutboxMessage, Role, User
from grants.web.limits import limiter_of, limits_enabled
from tests.factories import build_world, make_user
from tests.support import PASSWORD, csrf_token, form_fields, require, sign_in, submit
from tests.wallets import give_gift

REDIS_URL = "redis://127.0.0.1:6379/0"
TOO_MANY = "There have been too many attempts in a short time."


def limited_app(make_app, **limits: object) -> Flask:  # type: ignore[no-untyped-def]
    """An application with rate limits on, and generous limits except those given."""
    config: dict[str, object] = {
        "RATE_LIMITS_ENABLED": True,
        "RATE_LIMIT_LOGIN_ADDRESS": "100 per minute",
        "RATE_LIMIT_LOGIN_ACCOUNT": "100 per minute",
        "RATE_LIMIT_CLAIM": "100 per minute",
        "RATE_LIMIT_REPORTS": "100 per minute",
        "RATE_LIMIT_CLAIM_EMAILS": "100 per minute",
        **limits,
    }
    app: Flask = make_app(**config)
    return app


def from_address(app: Flask, address: str) -> FlaskClient:
    """A client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in_attempt(
    client: FlaskClient,
    email: str,
    password: str = "not the password",  # noqa: S107
) -> TestResponse:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def assert_too_many(response: TestResponse) -> None:
    """The 429 page: plain words, when to come back, and no detail of the limit."""
    assert response.status_code == 429
    body = response.get_data(as_text=True)
    assert TOO_MANY in body
    assert "<h1>Too many attempts</h1>" in body
    assert "per minute" not in body
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def audit_events(db: Session) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_limits_are_off_in_tests_unless_turned_on_and_on_everywhere_else(make_app) -> None:  # type: ignore[no-untyped-def]
    quiet: Flask = make_app()
    assert not limits_enabled(quiet)
    client = from_address(quiet, "198.51.100.1")
    for _ in range(15):
        assert sign_in_attempt(client, "nobody@example.org").status_code == 401
    assert limits_enabled(Flask("deployed"))
    assert limits_enabled(make_app(RATE_LIMITS_ENABLED=True))
    off = settings_from_environment({"GRANTS_RATE_LIMITS_ENABLED": "false"})
    assert off == {"RATE_LIMITS_ENABLED": False}
    assert settings_from_environment({"GRANTS_RATE_LIMIT_CLAIM": "5 per minute"}) == {
        "RATE_LIMIT_CLAIM": "5 per minute"
    }


def test_memory_storage_by_default(make_app) -> None:  # type: ignore[no-untyped-def]
    app = limited_app(make_app)
    assert type(limiter_of(app).storage).__name__ == "MemoryStorage"


def test_sign_in_is_limited_per_address(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    app = limited_app(make_app, RATE_LIMIT_LOGIN_ADDRESS="3 per minute")
    make_user(db, Role.MANAGER, email="manager@example.org")
    db.commit()
    client = from_address(app, "203.0.113.7")
    for number in range(3):
        assert sign_in_attempt(client, f"guess{number}@example.org").status_code == 401
    events = audit_events(db)
    refused = sign_in_attempt(client, "manager@example.org", PASSWORD)
    assert_too_many(refused)
    assert "Welcome" not in refused.get_data(as_text=True)
    assert audit_events(db) == events
    assert client.get("/manager/").status_code == 302
    assert client.get("/login").status_code == 200

    elsewhere = from_address(app, "203.0.113.8")
    assert sign_in_attempt(elsewhere, "manager@example.org", PASSWORD).status_code == 302


def test_sign_in_is_limited_per_account_from_any_address(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    app = limited_app(make_app, RATE_LIMIT_LOGIN_ACCOUNT="2 per minute")
    make_user(db, Role.FINANCE, email="finance@example.org")
    make_user(db, Role.MANAGER, email="manager@example.org")
    db.commit()
    assert sign_in_attempt(from_address(app, "192.0.2.1"), "finance@example.org").status_code == 401
    assert (
        sign_in_attempt(from_address(app, "192.0.2.2"), " Finance@Example.org ").status_code == 401
    )

    third = from_address(app, "192.0.2.3")
    assert_too_many(sign_in_attempt(third, "FINANCE@example.org", PASSWORD))
    assert third.get("/finance/").status_code == 302
    assert sign_in_attempt(third, "manager@example.org", PASSWORD).status_code == 302
    db.rollback()
    assert db.scalar(select(User.email).where(User.email == "finance@example.org"))


def test_claim_links_are_limited_per_address(make_app) -> None:  # type: ignore[no-untyped-def]
    app = limited_app(make_app, RATE_LIMIT_CLAIM="3 per minute")
    guesser = from_address(app, "198.51.100.20")
    for _ in range(3):
        assert guesser.get(f"/claim/{uuid.uuid4().hex}").status_code == 404
    assert_too_many(guesser.get(f"/claim/{uuid.uuid4().hex}"))
    assert from_address(app, "198.51.100.21").get("/claim/unknown").status_code == 404


def test_reports_are_limited_per_finance_user(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    app = limited_app(make_app, RATE_LIMIT_REPORTS="2 per minute")
    make_user(db, Role.FINANCE, email="one@example.org")
    make_user(db, Role.FINANCE, email="two@example.org")
    db.commit()
    one, two = app.test_client(), app.test_client()
    assert sign_in_attempt(one, "one@example.org", PASSWORD).status_code == 302
    assert sign_in_attempt(two, "two@example.org", PASSWORD).status_code == 302

    assert one.get("/finance/reports").status_code == 200
    assert one.get("/finance/reports/csv?currency=USD&year=2026").status_code in {200, 422}
    assert_too_many(one.get("/finance/reports?currency=USD&year=2026"))
    assert one.get("/finance/").status_code == 200
    assert two.get("/finance/reports").status_code == 200


def test_claim_emails_are_limited_per_giver(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    """Giving and sending a new link share one budget per giver; a refused press writes
    nothing and sends nothing, and another giver is not held back."""
    app = limited_app(make_app, RATE_LIMIT_CLAIM_EMAILS="2 per minute")
    world = build_world(db)
    db.commit()
    avery, olive = sign_in(app, world.avery), sign_in(app, world.other)
    assert give_gift(avery, world.avery_wallet).status_code == 302
    gift_id = db.scalars(select(Gift.id)).one()
    page, action = f"/wallet/gifts/{gift_id}", f"/wallet/gifts/{gift_id}/resend"
    assert submit(avery, page, {}, action=action).status_code == 302
    messages = db.scalar(select(func.count()).select_from(OutboxMessage))
    assert messages == 2
    assert_too_many(submit(avery, page, {}, action=action))
    assert_too_many(give_gift(avery, world.avery_wallet, recipient_email="kit@example.org"))
    db.rollback()
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == messages
    assert avery.get(page).status_code == 200, "reading is not limited"
    assert give_gift(olive, world.other_wallet).status_code == 302


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the Redis on loopback, its keys deleted after
    (the storage puts its own namespace before the prefix)."""
    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        reachable = bool(server.ping())
    except redis.RedisError:
        reachable = False
    require(reachable, f"Redis is not reachable at {REDIS_URL}")
    prefix = f"grants-test-{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        for key in server.scan_iter(match=f"*{prefix}*"):
            server.delete(key)
        server.close()


def test_redis_storage_when_redis_url_is_set_shared_by_every_worker(
    make_app, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    settings = {"RATE_LIMIT_KEY_PREFIX": redis_prefix, "RATE_LIMIT_LOGIN_ADDRESS": "2 per minute"}
    first = limited_app(make_app, REDIS_URL=REDIS_URL, **settings)
    monkeypatch.setenv("GRANTS_REDIS_URL", REDIS_URL)
    second = limited_app(make_app, **settings)
    for app in (first, second):
        assert type(limiter_of(app).storage).__name__ == "RedisStorage"

    client = from_address(first, "203.0.113.50")
    for _ in range(2):
        assert sign_in_attempt(client, "nobody@example.org").status_code == 401
    server = redis.Redis.from_url(REDIS_URL)
    assert list(server.scan_iter(match=f"*{redis_prefix}*"))
    server.close()

    other_worker = from_address(second, "203.0.113.50")
    assert_too_many(sign_in_attempt(other_worker, "nobody@example.org"))
    assert sign_in_attempt(from_address(second, "203.0.113.51"), "x@example.org").status_code == 401


ASKED = {
    "name": "Quinn",
    "email": "quinn@example.org",
    "country": "US",
    "language": "en",
    "topic": "finding-a-therapist",
    "can_pay": "some",
    "text": "Looking for a therapist who knows touring musicians.",
}


def open_help_desk(db: Session) -> None:
    """Backline, whose navigators answer the requests no route sends elsewhere."""
    manager = make_user(db, Role.MANAGER, email="manager@example.org")
    create_partner(
        db,
        key="backline",
        actor=manager,
        details=PartnerDetails(
            legal_name="Backline Care Inc.",
            display_name="Backline",
            country="US",
            registration_number="26-1234567",
        ),
    )
    db.commit()


def ask_for_help(client: FlaskClient, email: str) -> TestResponse:
    """The request form, filled in well with ``email`` to reply to, and sent (the form
    itself read first, by GET)."""
    fields = form_fields(client, "/care/?country=US", "/care/")
    return client.post("/care/", data={**fields, **ASKED, "email": email})


def help_requests(db: Session) -> tuple[int, int]:
    """How many help requests and outbox messages there are."""
    db.rollback()
    found = (
        db.scalar(select(func.count()).select_from(HelpRequest)) or 0,
        db.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
    )
    db.rollback()
    return found


def test_requests_for_help_are_limited_per_address(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    """Each request emails the address typed: one address sends only so many; a refused one
    writes and sends nothing; reading the form is not limited, and another address is not
    held back. Each request gives another address to reply to, so that only the limit per
    client address is reached."""
    app = limited_app(make_app, RATE_LIMIT_HELP_ASK="2 per minute", HELPDESK_MIN_FILL_SECONDS=0)
    open_help_desk(db)
    asker = from_address(app, "198.51.100.30")
    for number in range(2):
        assert ask_for_help(asker, f"quinn{number}@example.org").status_code == 302
    made = help_requests(db)
    assert made[0] == 2
    assert_too_many(ask_for_help(asker, "quinn2@example.org"))
    assert help_requests(db) == made
    assert asker.get("/care/?country=US").status_code == 200, "reading is not limited"
    elsewhere = from_address(app, "198.51.100.31")
    assert ask_for_help(elsewhere, "rowan@example.org").status_code == 302


def test_private_links_are_limited_per_address(make_app, db: Session) -> None:  # type: ignore[no-untyped-def]
    """Guessing at private links (every method) stops at the limit, the right link too; a
    refused press uses nothing up, and the link still opens from another address."""
    app = limited_app(make_app, RATE_LIMIT_HELP_LINKS="3 per minute")
    open_help_desk(db)
    asked = helpdesk.ask(
        db,
        key="ask-1",
        asked=Ask(phone="", city="", **ASKED),
        requester_id=None,
        now=datetime.now(UTC),
    )
    db.commit()
    link = f"/care/link/{asked.link_token}"
    guesser = from_address(app, "203.0.113.40")
    token = csrf_token(guesser, "/login")
    assert guesser.get(f"/care/link/{uuid.uuid4().hex}").status_code == 404
    guess = guesser.post(f"/care/link/{uuid.uuid4().hex}", data={"csrf_token": token})
    assert guess.status_code == 404
    assert guesser.get(f"/care/link/{uuid.uuid4().hex}").status_code == 404
    events = audit_events(db)
    assert_too_many(guesser.get(link))
    pressed = guesser.post(link, data={"csrf_token": token})
    assert_too_many(pressed)
    assert not any("care_device" in cookie for cookie in pressed.headers.getlist("Set-Cookie"))
    assert audit_events(db) == events

    owner = from_address(app, "203.0.113.41")
    assert owner.get(link).status_code == 200
    opened = owner.post(link, data={"csrf_token": csrf_token(owner, "/login")})
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/care/requests/{asked.reference}")
