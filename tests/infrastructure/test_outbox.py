"""The outbox: a gift's claim email is written in the gift's own transaction and sent by the
worker, once, with retries that wait longer each time, and at most once more after the
worker is killed while sending it (SIGKILL, then a restart), under one Message-ID.

Mail goes to a real SMTP server on loopback (aiosmtpd) or to the outbox folder; the worker
is the real ``flask grants worker`` process, or a Huey consumer in the test's own process.
Each test runs on SQLite, and on PostgreSQL when ``TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants.domain import gifts, outbox
from grants.domain.accounts import find_user_by_email
from grants.domain.money import Money
from grants.extensions import db as database
from grants.mail import MailEvent, claim_email, send_claim_email
from grants.models import Gift, GiftState, OutboxMessage, OutboxState, Relation
from grants.outbox import Delivery, deliver, wake
from grants.tasks import huey_of
from tests.factories import World, build_world
from tests.support import sign_in, worker
from tests.wallets import body_of, claim_link_in, deliver_outbox, free_port, give_gift
from tests.wallets import outbox as outbox_folder


class Inbox:
    """An aiosmtpd handler that keeps every message it is given. While ``stalling``, it
    holds each message without answering, as a slow server would; ``arrived`` is set when
    a message has come in."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.arrived = threading.Event()
        self.stalling = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(message_from_bytes(envelope.content))
        self.arrived.set()
        while self.stalling:
            await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"

    @property
    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.received]


@contextmanager
def smtp_server(port: int) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1:``port``."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        inbox.stalling = False
        controller.stop()


@pytest.fixture
def world(db: Session) -> World:
    found = build_world(db)
    db.commit()
    return found


def give(db: Session, world: World, *, key: str = "gift-1", amount: int = 5_000) -> Any:
    """Give Sam a gift from Avery's wallet through the domain operation (uncommitted)."""
    actor = find_user_by_email(db, world.avery)
    assert actor is not None
    return gifts.give_gift(
        db,
        key=key,
        actor=actor,
        wallet_id=world.avery_wallet,
        amount=Money(amount, "USD"),
        recipient_name="Sam Drummer",
        recipient_email="sam@example.org",
        relation=Relation.BANDMATE,
        now=datetime.now(UTC),
    )


def messages(db: Session) -> list[OutboxMessage]:
    """The outbox's rows as they are now, detached, with the transaction that read them
    ended (on SQLite, an open transaction would hold the write lock the worker needs)."""
    db.rollback()
    found = list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    for message in found:
        db.expunge(message)
    db.rollback()
    return found


def later(seconds: float) -> Callable[[], datetime]:
    """A clock standing ``seconds`` from now."""
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return lambda: at


# --- written with the gift ------------------------------------------------------------------


def test_a_gift_writes_its_claim_email_in_its_own_transaction(
    app: Flask, db: Session, world: World
) -> None:
    receipt = give(db, world)
    [message] = db.scalars(select(OutboxMessage)).all()
    assert (message.kind, message.state, message.attempts) == (
        outbox.CLAIM_LINK,
        OutboxState.PENDING,
        0,
    )
    assert json.loads(message.payload or "") == {
        "gift": receipt.object_id,
        "token": receipt.claim_token,
    }
    assert len(message.event_id) == 36

    db.rollback()
    assert messages(db) == []
    assert db.scalars(select(Gift)).all() == []
    assert not outbox.committed_since_wake(db), "a rolled-back record wakes nobody"
    assert deliver_outbox(app) == Delivery()
    assert outbox_folder(app) == []


def test_a_replayed_gift_writes_no_second_email(app: Flask, db: Session, world: World) -> None:
    give(db, world)
    db.commit()
    again = give(db, world)
    db.commit()
    assert again.replayed
    assert len(messages(db)) == 1
    assert len(outbox_folder(app)) == 1


def test_after_the_commit_the_worker_is_woken_once(app: Flask, db: Session, world: World) -> None:
    huey = huey_of(app)
    before = huey.pending_count()
    give(db, world)
    assert not wake(db), "nothing is committed yet"
    db.commit()
    assert wake(db)
    assert not wake(db), "one commit, one wake"
    assert huey.pending_count() == before + 1


# --- delivered by the worker ----------------------------------------------------------------


def test_delivery_marks_the_message_sent_clears_the_token_and_never_sends_twice(
    app: Flask, db: Session, world: World
) -> None:
    receipt = give(db, world)
    db.commit()
    assert deliver_outbox(app) == Delivery(sent=1)
    [message] = messages(db)
    assert message.state is OutboxState.SENT
    assert message.sent_at is not None
    assert (message.payload, message.leased_until, message.attempts) == (None, None, 1)

    folder = Path(app.config["MAIL_FILE_PATH"])
    assert [path.name for path in folder.glob("*.log")] == [
        MailEvent(message.event_id, message.created_at).file_name
    ]
    [email] = outbox_folder(app)
    assert email["Message-ID"] == f"<{message.event_id}@heartandsoul.example>"
    assert claim_link_in(email).endswith(f"/claim/{receipt.claim_token}")
    assert "$50.00" in body_of(email)

    for clock in (later(0), later(3600), later(86_400 * 30)):
        with app.app_context():
            assert deliver(app, now=clock) == Delivery()
    assert len(outbox_folder(app)) == 1


def test_no_row_that_left_the_pending_state_may_keep_its_payload(
    app: Flask, db: Session, world: World
) -> None:
    give(db, world)
    db.commit()
    for state in (OutboxState.SENT, OutboxState.FAILED, OutboxState.DROPPED):
        sent_at = datetime.now(UTC) if state is OutboxState.SENT else None
        with pytest.raises(IntegrityError):
            db.execute(update(OutboxMessage).values(state=state, sent_at=sent_at))
        db.rollback()
    with pytest.raises(IntegrityError):
        db.execute(update(OutboxMessage).values(sent_at=datetime.now(UTC)))
    db.rollback()


def test_a_gift_revoked_before_delivery_sends_nothing(
    app: Flask, db: Session, world: World
) -> None:
    receipt = give(db, world)
    db.commit()
    actor = find_user_by_email(db, world.avery)
    assert actor is not None
    assert receipt.object_id is not None
    gifts.revoke_gift(db, key="revoke", actor=actor, gift_id=receipt.object_id, now=later(1)())
    db.commit()
    assert deliver_outbox(app) == Delivery(dropped=1)
    [message] = messages(db)
    assert (message.state, message.payload) == (OutboxState.DROPPED, None)
    assert outbox_folder(app) == []


def test_a_lease_keeps_a_message_from_a_second_worker_until_it_runs_out(
    app: Flask, db: Session, world: World
) -> None:
    give(db, world)
    db.commit()
    now = datetime.now(UTC) + timedelta(seconds=1)
    lease = timedelta(minutes=5)
    first = outbox.claim_next(db, now=now, lease=lease)
    db.commit()
    assert first is not None
    assert first.attempts == 1
    assert outbox.claim_next(db, now=now + lease - timedelta(seconds=1), lease=lease) is None
    db.rollback()
    second = outbox.claim_next(db, now=now + lease, lease=lease)
    db.commit()
    assert second is not None
    assert (second.event_id, second.attempts) == (first.event_id, 2)
    assert outbox.mark_sent(db, second.id, now=now + lease)
    db.commit()
    assert not outbox.mark_sent(db, second.id, now=now + lease), "sent once"
    assert outbox.claim_next(db, now=now + 10 * lease, lease=lease) is None
    db.rollback()


def test_a_second_delivery_of_one_event_is_still_one_email_in_the_folder(
    app: Flask, db: Session, world: World
) -> None:
    """A worker that stopped after sending but before marking the message sent: the next
    delivery writes the same file again, under the same Message-ID."""
    give(db, world)
    db.commit()
    lease = timedelta(seconds=int(app.config["OUTBOX_LEASE_SECONDS"]))
    now = datetime.now(UTC) + timedelta(seconds=1)
    with app.app_context():
        session = database.session()
        claimed = outbox.claim_next(session, now=now, lease=lease)
        session.commit()
        assert claimed is not None
        email = claim_email(session, claimed.payload["gift"], claimed.payload["token"], now=now)
        assert email is not None
        send_claim_email(email, event=MailEvent(claimed.event_id, claimed.created_at))
        session.rollback()
    assert len(outbox_folder(app)) == 1

    with app.app_context():
        assert deliver(app, now=lambda: now + lease) == Delivery(sent=1)
    [again] = outbox_folder(app)
    assert again["Message-ID"] == f"<{claimed.event_id}@heartandsoul.example>"
    assert messages(db)[0].attempts == 2


# --- failures and retries -------------------------------------------------------------------


def test_a_failed_send_is_retried_with_a_longer_wait_each_time(  # type: ignore[no-untyped-def]
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False)
    with app.app_context():
        session = database.session()
        world = build_world(session)
        receipt = give(session, world)
        session.commit()
    start = datetime.now(UTC) + timedelta(seconds=1)
    first_wait = timedelta(seconds=int(app.config["OUTBOX_RETRY_SECONDS"]))

    with caplog.at_level(logging.INFO, logger="grants"):
        assert deliver(app, now=lambda: start) == Delivery(retrying=1)
    with app.app_context():
        [message] = messages(database.session())
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    assert message.next_attempt_at == start + first_wait
    assert message.leased_until is None
    assert message.last_error
    assert message.payload is not None, "kept for the next attempt"

    assert deliver(app, now=lambda: start + first_wait / 2) == Delivery(), "not due yet"
    second = start + first_wait
    assert deliver(app, now=lambda: second) == Delivery(retrying=1)
    with app.app_context():
        [message] = messages(database.session())
    assert message.attempts == 2
    assert message.next_attempt_at == second + 2 * first_wait, "twice as long"

    with smtp_server(port) as inbox:
        third = second + 2 * first_wait
        assert deliver(app, now=lambda: third) == Delivery(sent=1)
    [email] = inbox.received
    assert email["To"] == "sam@example.org"
    assert email["Message-ID"] == f"<{message.event_id}@heartandsoul.example>"
    assert str(receipt.claim_token) not in caplog.text
    with app.app_context():
        [message] = messages(database.session())
    assert (message.state, message.attempts, message.payload) == (OutboxState.SENT, 3, None)
    assert app.test_client().get(claim_link_in(email)).status_code == 200


def test_the_worker_gives_up_after_the_last_attempt_and_says_so_without_the_token(  # type: ignore[no-untyped-def]
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    app: Flask = make_app(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False, OUTBOX_MAX_ATTEMPTS=2
    )
    with app.app_context():
        session = database.session()
        world = build_world(session)
        receipt = give(session, world)
        session.commit()
    with caplog.at_level(logging.INFO, logger="grants"):
        assert deliver(app, now=later(1)) == Delivery(retrying=1)
        assert deliver(app, now=later(3600)) == Delivery(failed=1)
        assert deliver(app, now=later(86_400)) == Delivery()
    with app.app_context():
        [message] = messages(database.session())
        assert database.session.get(Gift, receipt.object_id).state is GiftState.PENDING  # type: ignore[union-attr]
    assert (message.state, message.attempts, message.payload) == (OutboxState.FAILED, 2, None)
    assert f"Gave up on outbox message {message.event_id} ({outbox.CLAIM_LINK})" in caplog.text
    assert str(receipt.claim_token) not in caplog.text
    assert "/claim/" not in caplog.text


# --- the worker: woken through the queue, and killed mid-delivery ----------------------------


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not after {timeout} s")


def state_of(db: Session) -> OutboxState:
    [message] = messages(db)
    return message.state


def test_a_gift_given_on_the_web_is_emailed_by_the_worker_the_commit_woke(
    app: Flask, db: Session, world: World
) -> None:
    folder = Path(app.config["MAIL_FILE_PATH"])
    huey = huey_of(app)
    huey.flush()
    client = sign_in(app, world.avery)
    assert give_gift(client, world.avery_wallet).status_code == 302
    assert huey.pending_count() == 1, "the commit queued a delivery"
    assert list(folder.glob("*.log")) == [], "nothing was sent by the request"
    assert state_of(db) is OutboxState.PENDING

    with worker(app):
        wait_for(lambda: state_of(db) is OutboxState.SENT, "the worker sent the email")
    [email] = outbox_folder(app)
    assert email["To"] == "sam@example.org"


class Worker:
    """``flask grants worker`` in a process group of its own."""

    def __init__(self, environment: dict[str, str], log: Path) -> None:
        self.environment = environment
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "grants", "grants", "worker"],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the worker at once, as a power cut would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def test_a_worker_killed_while_sending_sends_at_most_once_more_under_one_message_id(
    make_app: Callable[..., Flask], database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    lease_seconds = 2
    settings = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_USE_TLS": False,
        "OUTBOX_LEASE_SECONDS": lease_seconds,
    }
    app = make_app(**settings)
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("GRANTS_")},
        "GRANTS_INSTANCE_PATH": str(tmp_path / "instance"),
        "GRANTS_DATABASE_URL": database_url,
        "GRANTS_PUBLIC_URL": "http://localhost",
        **{f"GRANTS_{name}": str(value).lower() for name, value in settings.items()},
    }
    with app.app_context():
        world = build_world(database.session())
        database.session.commit()
    client = sign_in(app, world.avery)
    assert give_gift(client, world.avery_wallet).status_code == 302

    log = tmp_path / "worker.log"
    first, second = Worker(environment, log), Worker(environment, log)
    with smtp_server(port) as inbox, app.app_context():
        db = database.session()
        inbox.stalling = True
        try:
            first.start()
            assert inbox.arrived.wait(60), log.read_text(errors="replace")
            first.kill()
            [message] = messages(db)
            assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
            assert message.leased_until is not None
            assert len(inbox.received) == 1

            inbox.stalling = False
            time.sleep(max(0.0, (message.leased_until - datetime.now(UTC)).total_seconds()))
            second.start()
            wait_for(lambda: state_of(db) is OutboxState.SENT, log.read_text(errors="replace"))
            assert second.alive()

            app.extensions["outbox_task"]()
            wait_for(lambda: huey_of(app).pending_count() == 0, "the worker took the wake")
            time.sleep(1)
        finally:
            first.kill()
            second.stop()

        [message] = messages(db)
    assert (message.attempts, message.payload) == (2, None)
    assert 1 < len(inbox.received) <= 2, "at most once more after the restart"
    assert set(inbox.message_ids) == {f"<{message.event_id}@heartandsoul.example>"}
    assert {str(email["To"]) for email in inbox.received} == {"sam@example.org"}
    assert app.test_client().get(claim_link_in(inbox.received[-1])).status_code == 200
