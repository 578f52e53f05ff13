"""What people are told: a notification in the app for each event that concerns them, its
email (plain text and HTML) through the outbox, the unread count in the header, marking read,
and each person's email settings; a refused or replayed operation tells nobody twice."""

from __future__ import annotations

import email.message
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grants.domain import notifications
from grants.domain.reminders import send_reminders
from grants.models import (
    AuditEvent,
    Delivery,
    Notification,
    NotificationPreference,
    OutboxMessage,
    Redemption,
    Role,
    User,
    Wallet,
)
from grants.outbox import deliver
from tests.conftest import end_test_transaction
from tests.factories import World, build_world, make_user
from tests.support import counting_statements, form_fields, sign_in, submit
from tests.wallets import (
    claim_link_in,
    deliver_outbox,
    free_port,
    give_gift,
    outbox,
    request_session,
)

NEW_PASSWORD = "a long and unusual passphrase"
PROVIDER = "Dr Rivera"


@pytest.fixture
def world(app: Flask, db: Session) -> World:
    built = build_world(db)
    settle(app, db)
    return built


def user_id(db: Session, email: str) -> int:
    db.rollback()
    found = db.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def titles(db: Session, email: str) -> list[str]:
    """The titles of ``email``'s notifications, oldest first, but for the allowances that
    built the world."""
    db.rollback()
    return list(
        db.scalars(
            select(Notification.title)
            .join(User, User.id == Notification.user_id)
            .where(
                User.email == email,
                Notification.kind != notifications.ALLOWANCE_RECEIVED.key,
            )
            .order_by(Notification.id)
        )
    )


def settle(app: Flask, db: Session) -> None:
    """Send the emails of the allowances that built the world, forget them, and mark their
    notifications read, as if the ambassadors had seen them: a test then sees its own."""
    deliver_outbox(app)
    for written in Path(app.config["MAIL_FILE_PATH"]).glob("*.log"):
        written.unlink()
    db.execute(update(Notification).values(read_at=datetime.now(UTC)))
    db.commit()


def parts(message: email.message.Message) -> dict[str, str]:
    """The plain text and HTML parts of ``message``, by content type."""
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found


def redemption_of(db: Session, email: str) -> int:
    db.rollback()
    found = db.scalar(
        select(Redemption.id)
        .join(Wallet, Wallet.id == Redemption.wallet_id)
        .join(User, User.id == Wallet.user_id)
        .where(User.email == email)
        .order_by(Redemption.id.desc())
    )
    assert found is not None
    return found


def approve(finance: FlaskClient, redemption_id: int) -> None:
    action = f"/finance/redemptions/{redemption_id}/approve"
    fields = form_fields(finance, "/finance/redemptions", action)
    assert finance.post(action, data=fields).status_code == 302


def reject(finance: FlaskClient, redemption_id: int, reason: str) -> None:
    action = f"/finance/redemptions/{redemption_id}/reject"
    page = f"/finance/redemptions/{redemption_id}"
    response = submit(finance, page, {"reason": reason}, action=action)
    assert response.status_code == 302, response.get_data(as_text=True)


def pay(finance: FlaskClient, redemption_ids: list[int], reference: str) -> int:
    fields = form_fields(finance, "/finance/payouts")
    chosen = [str(redemption_id) for redemption_id in redemption_ids]
    data = {**fields, "redemption_ids": chosen, "payment_reference": reference}
    return finance.post("/finance/payouts", data=data).status_code


def test_an_approved_session_payment_is_told_in_the_app_and_by_email(
    make_app: Any, db: Session
) -> None:
    app: Flask = make_app()
    public = app.config["PUBLIC_URL"].rstrip("/")
    with app.app_context():
        world = build_world(db)
    settle(app, db)
    ambassador = sign_in(app, world.avery)
    assert "Notifications</a>" in ambassador.get("/wallet/").get_data(as_text=True)
    assert request_session(ambassador, world.avery_wallet, amount="120.50").status_code == 302
    redemption_id = redemption_of(db, world.avery)
    outbox(app)

    approve(sign_in(app, world.finance), redemption_id)

    assert titles(db, world.avery) == ["Your session payment was approved"]
    page = ambassador.get("/wallet/").get_data(as_text=True)
    assert '<span class="count">1<span class="visually-hidden"> unread</span></span>' in page
    listed = ambassador.get("/notifications/").get_data(as_text=True)
    assert "Your session payment was approved" in listed
    assert "Finance approved the payment of $120.50 from your therapy credit." in listed
    assert f'href="/wallet/redemptions/{redemption_id}"' in listed
    assert PROVIDER not in listed

    [message] = outbox(app)
    assert message["To"] == world.avery
    assert message["Subject"] == "Your session payment was approved"
    assert message.is_multipart()
    texts = parts(message)
    link = f"{public}/wallet/redemptions/{redemption_id}"
    assert texts["text/plain"].startswith("Hello Avery Ambassador,\n\nFinance approved the payment")
    assert link in texts["text/plain"]
    assert f"{public}/notifications/settings" in texts["text/plain"]
    assert f'href="{link}"' in texts["text/html"]
    for text in texts.values():
        assert PROVIDER not in text, "no provider in an email"
        assert "session_date" not in text
    assert ambassador.get(link.removeprefix(public)).status_code == 200


def test_marking_all_read_clears_the_count_and_needs_its_token(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    request_session(ambassador, world.avery_wallet)
    approve(sign_in(app, world.finance), redemption_of(db, world.avery))
    assert 'class="count">1<' in ambassador.get("/notifications/").get_data(as_text=True)

    assert ambassador.post("/notifications/read", data={}).status_code == 400
    db.rollback()
    assert db.scalar(select(func.count()).where(Notification.read_at.is_(None))) == 1

    fields = form_fields(ambassador, "/notifications/", "/notifications/read")
    response = ambassador.post("/notifications/read", data=fields, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Every notification is marked as read." in page
    assert 'class="count"' not in page
    assert "Mark all as read" not in page
    db.rollback()
    assert db.scalar(select(func.count()).where(Notification.read_at.is_(None))) == 0


def test_a_rejection_names_no_reason_in_the_email_and_the_reason_waits_behind_the_link(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    request_session(ambassador, world.avery_wallet, amount="80")
    redemption_id = redemption_of(db, world.avery)
    outbox(app)
    reject(sign_in(app, world.finance), redemption_id, "The invoice from the clinic is missing")

    [message] = outbox(app)
    assert message["Subject"] == "Your session payment was not approved"
    for text in parts(message).values():
        assert "$80.00" in text
        assert "clinic" not in text
        assert PROVIDER not in text
    page = ambassador.get(f"/wallet/redemptions/{redemption_id}").get_data(as_text=True)
    assert "The invoice from the clinic is missing" in page


def test_a_gift_given_claimed_redeemed_approved_and_paid_tells_each_person_in_order(
    make_app: Any, db: Session
) -> None:
    """Through a real SMTP server on loopback: the giver and the recipient receive exactly
    the messages expected, in order."""
    received: list[tuple[str, email.message.Message]] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            parsed = email.message_from_bytes(envelope.content)
            received.extend((recipient, parsed) for recipient in envelope.rcpt_tos)
            return "250 Message accepted for delivery"

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False)
        with app.app_context():
            world = build_world(db)
        deliver_outbox(app)
        received.clear()
        giver = sign_in(app, world.avery)
        assert give_gift(giver, world.avery_wallet).status_code == 302
        deliver_outbox(app)
        [(to, gift_email)] = received
        assert to == "sam@example.org"

        recipient = app.test_client()
        link = claim_link_in(gift_email).removeprefix(app.config["PUBLIC_URL"].rstrip("/"))
        new_account = {
            "display_name": "Sam Drummer",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        }
        assert submit(recipient, link, new_account).status_code == 302
        db.rollback()
        sam_wallet = db.scalar(
            select(Wallet.id)
            .join(User, User.id == Wallet.user_id)
            .where(User.email == "sam@example.org")
        )
        assert sam_wallet is not None
        assert request_session(recipient, sam_wallet, amount="40").status_code == 302
        finance = sign_in(app, world.finance)
        redemption_id = redemption_of(db, "sam@example.org")
        approve(finance, redemption_id)
        assert pay(finance, [redemption_id], "ACH 7001") == 302
        deliver_outbox(app)
    finally:
        controller.stop()

    assert [(to, message["Subject"]) for to, message in received] == [
        ("sam@example.org", "Avery Ambassador has given you therapy credit"),
        ("avery@example.org", "Sam Drummer claimed your gift"),
        ("sam@example.org", "Your session payment was approved"),
        ("sam@example.org", "A payment from your therapy credit was made"),
    ]
    for _, message in received[1:]:
        texts = parts(message)
        assert set(texts) == {"text/plain", "text/html"}
        assert PROVIDER not in texts["text/plain"] + texts["text/html"]


def test_turning_an_email_off_keeps_the_notification_and_sends_nothing(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    page = ambassador.get("/notifications/settings").get_data(as_text=True)
    assert "A session payment approved" in page
    assert "A grant waiting for your approval" not in page, "only an ambassador's kinds"

    unsigned = {"redemption_approved": "off"}
    assert ambassador.post("/notifications/settings", data=unsigned).status_code == 400
    response = submit(ambassador, "/notifications/settings", {"redemption_approved": "off"})
    assert response.status_code == 302
    db.rollback()
    assert db.scalars(select(NotificationPreference.delivery)).all() == [Delivery.OFF]

    request_session(ambassador, world.avery_wallet)
    outbox(app)
    approve(sign_in(app, world.finance), redemption_of(db, world.avery))
    assert titles(db, world.avery) == ["Your session payment was approved"]
    assert outbox(app) == []

    refused = submit(ambassador, "/notifications/settings", {"redemption_approved": "loudly"})
    assert refused.status_code == 422
    db.rollback()
    assert db.scalars(select(NotificationPreference.delivery)).all() == [Delivery.OFF]


def test_an_email_turned_off_before_it_went_out_is_not_sent(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    avery = user_id(db, world.avery)
    notice = notifications.Notice(
        user_id=avery,
        kind=notifications.REDEMPTION_PAID,
        event_key="redemption:0",
        title="A payment from your therapy credit was made",
        body="The programme paid $10.00 from your therapy credit, as you asked.",
        link="/wallet/",
    )
    assert len(notifications.notify(db, [notice])) == 1
    db.commit()
    turned_off = submit(ambassador, "/notifications/settings", {"redemption_paid": "off"})
    assert turned_off.status_code == 302
    assert outbox(app) == []
    db.rollback()
    assert (
        db.scalar(
            select(OutboxMessage.state)
            .where(OutboxMessage.kind == notifications.EMAIL)
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        == "dropped"
    )
    assert notifications.notify(db, [notice]) == [], "told once per event"


def test_a_refused_batch_tells_nobody_and_a_replayed_approval_tells_once(
    app: Flask, db: Session, world: World
) -> None:
    avery, other = sign_in(app, world.avery), sign_in(app, world.other)
    request_session(avery, world.avery_wallet)
    request_session(other, world.other_wallet)
    first, second = redemption_of(db, world.avery), redemption_of(db, world.other)
    finance = sign_in(app, world.finance)
    action = f"/finance/redemptions/{first}/approve"
    fields = form_fields(finance, "/finance/redemptions", action)
    assert finance.post(action, data=fields).status_code == 302
    assert finance.post(action, data=fields).status_code == 302
    assert titles(db, world.avery) == ["Your session payment was approved"]

    assert pay(finance, [first, second], "ACH 1") == 409, "the second is not approved"
    assert titles(db, world.avery) == ["Your session payment was approved"]
    assert titles(db, world.other) == []


def test_each_ambassador_of_an_allowance_is_told_in_their_own_currency(
    app: Flask, db: Session, world: World
) -> None:
    db.rollback()
    told = db.execute(
        select(User.email, Notification.title, Notification.body, Notification.link)
        .join(User, User.id == Notification.user_id)
        .order_by(Notification.id)
    ).all()
    assert [(row.email, row.title, row.link) for row in told] == [
        (email, "Therapy credit was added to your wallet", "/wallet/")
        for email in (world.avery, world.other, world.uk)
    ]
    assert told[0].body.startswith("$600.00 from Therapy USD ")
    assert told[2].body.startswith("£400.00 from Therapy GBP ")


def test_the_profile_leads_to_the_email_settings(app: Flask, world: World) -> None:
    page = sign_in(app, world.avery).get("/account").get_data(as_text=True)
    assert "What you are told" in page
    assert 'href="/notifications/settings"' in page


def test_a_message_given_up_on_is_listed_for_admins_with_whom_it_was_for(
    make_app: Any, db: Session
) -> None:
    app: Flask = make_app(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False, OUTBOX_MAX_ATTEMPTS=1
    )
    with app.app_context():
        world = build_world(db)
    make_user(db, Role.ADMIN, email="admin@example.org")
    db.commit()
    admin = sign_in(app, "admin@example.org")
    assert "Every message has been delivered" in admin.get("/admin/messages").get_data(as_text=True)
    giver = sign_in(app, world.avery)
    assert give_gift(giver, world.avery_wallet).status_code == 302
    deliver_outbox(app)
    db.rollback()
    failed = db.scalars(select(OutboxMessage)).one()
    assert (failed.state, failed.recipient, failed.payload) == ("failed", "sam@example.org", None)

    page = admin.get("/admin/messages").get_data(as_text=True)
    assert "<td>sam@example.org</td>" in page
    assert "A gift&#39;s claim link" in page
    assert '<td class="num">1</td>' in page
    assert "/claim/" not in page
    assert giver.get("/admin/messages").status_code == 403


def test_a_kind_chosen_daily_comes_in_one_morning_email_once_a_day(
    app: Flask, db: Session, world: World
) -> None:
    ambassador = sign_in(app, world.avery)
    page = ambassador.get("/notifications/settings").get_data(as_text=True)
    assert "In one email a day" in page
    chosen = {"redemption_approved": "daily", "redemption_paid": "daily"}
    assert submit(ambassador, "/notifications/settings", chosen).status_code == 302
    request_session(ambassador, world.avery_wallet, amount="30")
    approve(sign_in(app, world.finance), redemption_of(db, world.avery))
    assert titles(db, world.avery) == ["Your session payment was approved"]
    assert outbox(app) == [], "not straight away"

    today = datetime.now(UTC).date()
    new_york_07_59 = datetime(today.year, today.month, today.day, 12, 59, tzinfo=UTC)
    if new_york_07_59 <= datetime.now(UTC):
        new_york_07_59 += timedelta(days=1)
    assert send_reminders(db, now=new_york_07_59).daily_emails == 0
    assert send_reminders(db, now=new_york_07_59 + timedelta(minutes=1)).daily_emails == 1
    assert send_reminders(db, now=new_york_07_59 + timedelta(hours=5)).daily_emails == 0
    db.commit()

    end_test_transaction()
    morning = new_york_07_59 + timedelta(minutes=2)
    assert deliver(app, now=lambda: morning).sent == 1, "due from the morning it was written"
    [message] = outbox(app, deliver=False)
    assert message["To"] == world.avery
    assert message["Subject"] == "1 update from Heart & Soul Funding"
    texts = parts(message)
    public = app.config["PUBLIC_URL"].rstrip("/")
    assert "* Your session payment was approved" in texts["text/plain"]
    assert f"{public}/wallet/redemptions/" in texts["text/plain"]
    assert "Your session payment was approved</a>" in texts["text/html"]
    assert PROVIDER not in texts["text/plain"] + texts["text/html"]
    next_morning = new_york_07_59 + timedelta(days=1, minutes=1)
    assert send_reminders(db, now=next_morning).daily_emails == 0, "nothing new since"


@pytest.mark.parametrize("kind", list(notifications.KINDS.values()), ids=lambda kind: kind.key)
def test_every_kind_is_emailed_as_text_and_html_with_absolute_links(
    app: Flask, db: Session, world: World, kind: notifications.Kind
) -> None:
    person = make_user(db, kind.roles[0], email=f"{kind.key}@example.org", name="Robin Roadie")
    notice = notifications.Notice(
        user_id=person.id,
        kind=kind,
        event_key="every-kind",
        title=f"Something about {kind.key}",
        body="What happened, in one sentence.",
        link="/notifications/",
    )
    assert len(notifications.notify(db, [notice])) == 1
    db.commit()

    [message] = outbox(app)
    public = app.config["PUBLIC_URL"].rstrip("/")
    assert message["To"] == person.email
    assert message["Subject"] == notice.title
    texts = parts(message)
    assert set(texts) == {"text/plain", "text/html"}
    for text in texts.values():
        assert "Robin Roadie" in text
        assert "What happened, in one sentence." in text
        assert f"{public}/notifications/" in text
        assert f"{public}/notifications/settings" in text
        assert 'href="/' not in text, "every link absolute"
    client = sign_in(app, person.email)
    assert notice.title in client.get("/notifications/").get_data(as_text=True)
    assert str(escape(kind.label)) in client.get("/notifications/settings").get_data(as_text=True)


def test_the_admin_dashboard_leads_to_the_messages_not_delivered(app: Flask, db: Session) -> None:
    make_user(db, Role.ADMIN, email="admin@example.org")
    db.commit()
    page = sign_in(app, "admin@example.org").get("/admin/").get_data(as_text=True)
    assert 'href="/admin/messages">Messages not delivered</a>' in page


def test_an_empty_list_says_so_without_assuming_a_role(app: Flask, world: World) -> None:
    page = sign_in(app, world.finance).get("/notifications/").get_data(as_text=True)
    assert "Nothing yet. When something happens that concerns you, it shows here" in page
    assert "wallet" not in page.split("<main", 1)[1]


DAILY = Delivery.DAILY


def test_daily_emails_read_who_is_due_in_a_fixed_number_of_statements(
    app: Flask, db: Session, world: World
) -> None:
    """However many people get the morning email, the reminders read who is due and what
    waits for them in the same statements (only each email sent writes more)."""
    for address in (world.avery, world.other, world.uk):
        db.add(
            NotificationPreference(
                user_id=user_id(db, address), kind="redemption.paid", delivery=Delivery.DAILY
            )
        )
    db.commit()
    late = datetime(2030, 1, 2, 20, tzinfo=UTC)
    with counting_statements(db) as few:
        assert send_reminders(db, now=late).daily_emails == 0
    for number in range(10):
        person = make_user(db, Role.RECIPIENT, email=f"daily{number}@example.org")
        db.add(
            NotificationPreference(user_id=person.id, kind="gift.claimed", delivery=Delivery.DAILY)
        )
    db.commit()
    with counting_statements(db) as many:
        assert send_reminders(db, now=late).daily_emails == 0
    assert len(many) == len(few)


def test_the_daily_email_hour_is_chosen_and_an_hour_the_clocks_skip_is_refused(
    app: Flask, db: Session, world: World
) -> None:
    make_user(db, Role.FINANCE, email="london@example.org", locale="en_GB")
    db.execute(
        update(User).where(User.email == "london@example.org").values(time_zone="Europe/London")
    )
    db.commit()
    london = sign_in(app, "london@example.org")
    page = london.get("/notifications/settings").get_data(as_text=True)
    assert '<option selected value="08:00">08:00</option>' in page
    assert "from this time in your time zone (Europe/London)" in page
    assert "Your finance digest comes then too." in page
    events = audit_events(db)

    refused = submit(london, "/notifications/settings", {"daily_email_time": "01:00"})
    assert refused.status_code == 422
    message = refused.get_data(as_text=True)
    assert re.search(
        r"01:00 does not happen on \d{1,2} Mar \d{4} in Europe/London: the clocks go forward "
        r"from 01:00 to 02:00\. Choose a time outside that hour\.",
        message,
    ), message
    assert daily_email_time(db, "london@example.org") == time(8)
    assert audit_events(db) == events, "nothing written"

    half_past = submit(london, "/notifications/settings", {"daily_email_time": "07:30"})
    assert half_past.status_code == 422, "not one of the hours offered"
    assert daily_email_time(db, "london@example.org") == time(8)

    assert (
        submit(london, "/notifications/settings", {"daily_email_time": "07:00"}).status_code == 302
    )
    assert daily_email_time(db, "london@example.org") == time(7)
    assert audit_events(db) == events + 1
    new_york = sign_in(app, world.finance)
    page = new_york.get("/notifications/settings").get_data(as_text=True)
    assert '<option selected value="08:00">8:00\u202fAM</option>' in page, "en_US writes it so"


def daily_email_time(db: Session, email: str) -> time:
    db.rollback()
    found = db.scalar(select(User.daily_email_time).where(User.email == email))
    assert found is not None
    return found


def audit_events(db: Session) -> int:
    db.rollback()
    return db.scalar(select(func.count(AuditEvent.id))) or 0
