"""Timed reminders: each is sent once when its day comes, in the person's own time zone, and
running the reminders again tells nobody anything twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import gifts, notifications, redemptions
from grants.domain.money import Money
from grants.domain.reminders import Reminded, send_reminders
from grants.models import Gift, Notification, Relation, Role, User, Wallet
from tests.domain.test_grants import Office
from tests.factories import TODAY, build_world, fund_wallet, make_ambassador, make_fund, make_user


def told(db: Session, kind: notifications.Kind) -> list[tuple[int, str]]:
    """Whom notifications of ``kind`` went to, and their titles, oldest first."""
    return [
        (row.user_id, row.title)
        for row in db.execute(
            select(Notification.user_id, Notification.title)
            .where(Notification.kind == kind.key)
            .order_by(Notification.id)
        )
    ]


def user(db: Session, email: str) -> User:
    return db.scalars(select(User).where(User.email == email)).one()


def test_a_giver_is_told_once_a_week_before_an_unclaimed_gift_expires_and_when_it_does(
    db: Session,
) -> None:
    world = build_world(db)
    avery = user(db, world.avery)
    given = datetime.now(UTC)
    receipt = gifts.give_gift(
        db,
        key="gift-1",
        actor=avery,
        wallet_id=world.avery_wallet,
        amount=Money(5_000, "USD"),
        recipient_name="Sam Drummer",
        recipient_email="sam@example.org",
        relation=Relation.BANDMATE,
        now=given,
    )
    expires = db.get_one(Gift, receipt.object_id).expires_at

    assert send_reminders(db, now=expires - timedelta(days=7, seconds=1)) == Reminded()
    assert send_reminders(db, now=expires - timedelta(days=7)).gifts_expiring == 1
    assert send_reminders(db, now=expires - timedelta(days=1)).gifts_expiring == 0
    [(whom, title)] = told(db, notifications.GIFT_EXPIRING)
    assert (whom, title) == (avery.id, "Sam Drummer has not claimed your gift yet")
    body = db.scalars(
        select(Notification.body).where(Notification.kind == notifications.GIFT_EXPIRING.key)
    ).one()
    assert body.startswith("Sam Drummer has until ")
    assert "to claim the $50.00 you gave" in body

    assert gifts.sweep(db, now=expires) == 1
    assert told(db, notifications.GIFT_EXPIRED) == [
        (avery.id, "Your gift to Sam Drummer expired unclaimed")
    ]
    assert send_reminders(db, now=expires + timedelta(hours=1)).gifts_expiring == 0


def test_holders_with_credit_left_are_told_30_days_before_the_plan_year_ends(
    db: Session,
) -> None:
    manager = make_user(db, Role.MANAGER)
    end = date(2026, 12, 31)
    fund = make_fund(db, start=date(2026, 1, 1), end=end, budget=1_000_000, manager=manager)
    holder = make_ambassador(db, name="Kai Turner", locale="en_GB")
    spent = make_ambassador(db, name="Lena Ortiz")
    wallet = fund_wallet(db, fund, holder, 20_000, manager)
    emptied = fund_wallet(db, fund, spent, 1_000, manager)
    gifts.give_gift(
        db,
        key="all-of-it",
        actor=emptied.user,
        wallet_id=emptied.id,
        amount=Money(1_000, "USD"),
        recipient_name="Kit Crew",
        recipient_email="kit@example.org",
        relation=Relation.CREW,
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )

    new_york_31_days_before = datetime(2026, 12, 1, 4, 59, tzinfo=UTC)
    assert send_reminders(db, now=new_york_31_days_before).plan_years_ending == 0
    assert send_reminders(db, now=new_york_31_days_before + timedelta(minutes=1)) == Reminded(
        plan_years_ending=1
    )
    assert send_reminders(db, now=datetime(2026, 12, 20, tzinfo=UTC)).plan_years_ending == 0
    [(whom, title)] = told(db, notifications.PLAN_YEAR_ENDING)
    assert whom == wallet.user_id
    assert title == "Your therapy credit can be spent until 31 Dec 2026", "en_GB writes it so"


def test_a_grant_s_managers_are_told_of_a_report_due_in_14_days_then_overdue(
    db: Session,
) -> None:
    office = Office(db)
    grant = office.approved()
    report = grant.reports[0]
    assert report.due_date == date(2026, 10, 1)

    assert send_reminders(db, now=datetime(2026, 9, 16, 12, tzinfo=UTC)).reports_due == 0
    assert send_reminders(db, now=datetime(2026, 9, 17, 12, tzinfo=UTC)).reports_due == 1
    again = send_reminders(db, now=datetime(2026, 9, 30, 12, tzinfo=UTC))
    assert (again.reports_due, again.reports_overdue) == (0, 0)
    assert send_reminders(db, now=datetime(2026, 10, 1, 12, tzinfo=UTC)).reports_overdue == 0
    assert send_reminders(db, now=datetime(2026, 10, 2, 12, tzinfo=UTC)).reports_overdue == 1
    again = send_reminders(db, now=datetime(2026, 10, 9, 12, tzinfo=UTC))
    assert (again.reports_due, again.reports_overdue) == (0, 0)
    assert told(db, notifications.REPORT_DUE) == [
        (office.drafter.id, "A report from Backline is due on Oct 1, 2026")
    ]
    assert told(db, notifications.REPORT_OVERDUE) == [
        (office.drafter.id, "A report from Backline is overdue")
    ]
    assert office.approver.id not in {whom for whom, _ in told(db, notifications.REPORT_DUE)}


@pytest.mark.parametrize(
    ("day", "before_eight"),
    [
        (datetime(2026, 3, 28, 7, 59, tzinfo=UTC), "GMT: 07:59 in London"),
        (datetime(2026, 3, 29, 6, 59, tzinfo=UTC), "BST from that night: 07:59 in London"),
    ],
)
def test_finance_gets_one_digest_a_day_from_eight_in_their_own_time_zone(
    db: Session, day: datetime, before_eight: str
) -> None:
    world = build_world(db)
    london = make_user(db, Role.FINANCE, email="london@example.org", locale="en_GB")
    london.time_zone = "Europe/London"
    new_york = user(db, world.finance)
    wallet = db.get_one(Wallet, world.avery_wallet)
    redemptions.request_redemption(
        db,
        key="redeem-1",
        actor=wallet.user,
        wallet_id=wallet.id,
        amount=Money(8_000, "USD"),
        provider_name="Dr Lee",
        session_date=TODAY - timedelta(days=1),
        now=datetime.now(UTC),
    )

    assert send_reminders(db, now=day).finance_digests == 0, before_eight
    assert send_reminders(db, now=day + timedelta(minutes=1)).finance_digests == 1
    assert send_reminders(db, now=day + timedelta(hours=3)).finance_digests == 0
    [(whom, title)] = told(db, notifications.FINANCE_DIGEST)
    assert whom == london.id
    assert title == f"Finance for {day.day} Mar 2026: 1 session payment to review"

    evening = day + timedelta(hours=10)
    assert send_reminders(db, now=evening).finance_digests == 1, "New York's morning"
    assert told(db, notifications.FINANCE_DIGEST)[-1][0] == new_york.id


def test_the_remind_command_sends_what_is_due_and_nothing_twice(app, db: Session) -> None:  # type: ignore[no-untyped-def]
    build_world(db)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["grants", "remind"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Reminded: 0 of gifts about to expire")
    again = runner.invoke(args=["grants", "remind"])
    assert again.exit_code == 0
    assert "0 finance digests" in again.output


def test_the_plan_year_reminder_counts_days_in_the_fund_s_time_zone_not_the_holder_s(
    db: Session,
) -> None:
    manager = make_user(db, Role.MANAGER)
    fund = make_fund(
        db, start=date(2026, 1, 1), end=date(2026, 12, 31), budget=100_000, manager=manager
    )
    assert fund.time_zone == "America/New_York"
    holder = make_ambassador(db, name="Kai Turner", locale="en_GB")
    holder.user.time_zone = "Europe/London"
    fund_wallet(db, fund, holder, 20_000, manager)

    london_midnight = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert send_reminders(db, now=london_midnight).plan_years_ending == 0, (
        "1 December in London, still 30 November in New York: 31 days left in the fund"
    )
    new_york_midnight = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert send_reminders(db, now=new_york_midnight).plan_years_ending == 1


def test_a_finance_officer_s_digest_comes_from_the_hour_they_chose(db: Session) -> None:
    world = build_world(db)
    officer = user(db, world.finance)
    officer.daily_email_time = time(6)
    wallet = db.get_one(Wallet, world.avery_wallet)
    redemptions.request_redemption(
        db,
        key="redeem-1",
        actor=wallet.user,
        wallet_id=wallet.id,
        amount=Money(8_000, "USD"),
        provider_name="Dr Lee",
        session_date=TODAY - timedelta(days=1),
        now=datetime.now(UTC),
    )

    five_in_new_york = datetime(2026, 6, 10, 9, 5, tzinfo=UTC)
    assert send_reminders(db, now=five_in_new_york).finance_digests == 0
    assert send_reminders(db, now=five_in_new_york + timedelta(hours=1)).finance_digests == 1
    assert told(db, notifications.FINANCE_DIGEST) == [
        (officer.id, "Finance for Jun 10, 2026: 1 session payment to review")
    ]
