"""Timed reminders: what the periodic worker tells people when a date comes near or passes.

:func:`send_reminders` runs every hour (``flask grants remind`` runs it once). It tells:

- a giver, once, when a gift of theirs is still unclaimed 7 days before its link expires
  (the gift's page can send the link again);
- a credit holder, once per plan year, when it ends within 30 days and they have credit left;
- the managers who drafted or sent a grant, once each, when one of its reports is due within
  14 days, and again once it is overdue;
- each active finance officer, once a day from the hour of their daily email (08:00 unless
  they chose another, in their own time zone), how many session payments wait for review
  and how many tranches are due within the week (nothing on a day with neither);
- each person who gets some kinds of notification in one email a day, once a day from that
  hour, everything of those kinds since their last one (nothing on a day without any).
- each active navigator, once per service and published version, when the resource hub's
  service was last checked six months ago or more (:mod:`grants.domain.hub_curation`);
- a partner organisation's people, of its reports due in 14 and in 3 days and overdue, and
  of a round closing within 3 days while they have a draft
  (:mod:`grants.domain.portal_reminders`).

Each reminder is a notification with an event key (:mod:`grants.domain.notifications`), so
running the task twice, or on two workers at once, tells nobody anything twice. Dates in a
reminder are the person's own: their time zone says which day it is for them, and their
locale how the date is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from grants.database import insert_for
from grants.domain import outbox as messages
from grants.domain.account_tokens import COUNTRY_TIME_ZONES, LOCALE_TIME_ZONES
from grants.domain.hub_curation import stale_services
from grants.domain.money import format_money
from grants.domain.notifications import (
    DIGEST,
    FINANCE_DIGEST,
    GIFT_EXPIRING,
    HUB_STALE,
    PLAN_YEAR_ENDING,
    REPORT_DUE,
    REPORT_OVERDUE,
    Notice,
    notify,
)
from grants.domain.portal_reminders import closing_reminders, progress_reminders
from grants.models import (
    Account,
    Ambassador,
    Delivery,
    Fund,
    Gift,
    GiftState,
    Grant,
    GrantStatus,
    Notification,
    NotificationDigest,
    NotificationPreference,
    Partner,
    Redemption,
    RedemptionState,
    ReportingRequirement,
    Role,
    Tranche,
    User,
    UserRole,
    Wallet,
)

GIFT_EXPIRING_WITHIN = timedelta(days=7)
"""How long before its link expires an unclaimed gift's giver is reminded."""
PLAN_YEAR_ENDING_WITHIN = 30
"""Days before the end of a plan year that holders of credit left in it are reminded."""
REPORT_DUE_WITHIN = 14
"""Days before a grant's report is due that its managers are reminded."""
DIGEST_LOOKBACK = timedelta(days=7)
"""The most a daily email reaches back: a first one, or one after a long pause."""
TRANCHES_DUE_WITHIN = 7
"""Days ahead that finance's digest counts tranches due in."""
LIVE_GRANTS = (GrantStatus.APPROVED, GrantStatus.ACTIVE)


@dataclass(frozen=True)
class Reminded:
    """How many people one run told of each thing (new notifications only)."""

    gifts_expiring: int = 0
    plan_years_ending: int = 0
    reports_due: int = 0
    reports_overdue: int = 0
    finance_digests: int = 0
    daily_emails: int = 0
    hub_stale: int = 0
    partner_reports_due: int = 0
    partner_reports_overdue: int = 0
    rounds_closing: int = 0


@dataclass(frozen=True)
class Person:
    """What a reminder needs of the person it tells: who, and their day and way of writing."""

    id: int
    locale: str
    zone: ZoneInfo
    daily_email_time: time
    """From when in their day their daily email goes (on the hour, as the settings keep it)."""

    def today(self, now: datetime) -> date:
        """The date it is for this person at ``now``."""
        return now.astimezone(self.zone).date()

    def daily_email_due(self, now: datetime) -> bool:
        """Whether ``now`` is at or past the hour of this person's daily email, in their day.
        The task runs once an hour, so each hour of their day sees one run."""
        return now.astimezone(self.zone).hour >= self.daily_email_time.hour

    def day(self, moment: date | datetime) -> str:
        """``moment`` as this person writes a date ("27 Dec 2026", "Dec 27, 2026")."""
        if isinstance(moment, datetime):
            moment = moment.astimezone(self.zone).date()
        return format_date(moment, "medium", locale=self.locale)


def people(session: Session, user_ids: set[int]) -> dict[int, Person]:
    """Each of ``user_ids`` with their locale and time zone (chosen, else from their country
    as an ambassador, else from their locale)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(User.id, User.locale, User.time_zone, User.daily_email_time, Ambassador.country)
        .outerjoin(Ambassador, Ambassador.user_id == User.id)
        .where(User.id.in_(user_ids))
    ).all()
    found = {}
    for user_id, locale, chosen, daily_email_time, country in rows:
        zone = chosen or (
            COUNTRY_TIME_ZONES[country]
            if country is not None
            else LOCALE_TIME_ZONES.get(locale, LOCALE_TIME_ZONES["en_US"])
        )
        found[user_id] = Person(user_id, locale, ZoneInfo(zone), daily_email_time)
    return found


def send_reminders(session: Session, *, now: datetime) -> Reminded:
    """Tell everyone what is coming or overdue at ``now`` (flushed, never committed)."""
    partner_due, partner_overdue = progress_reminders(session, now, people)
    return Reminded(
        gifts_expiring=_gifts_expiring(session, now),
        plan_years_ending=_plan_years_ending(session, now),
        reports_due=_reports(session, now, overdue=False),
        reports_overdue=_reports(session, now, overdue=True),
        finance_digests=_finance_digests(session, now),
        daily_emails=_daily_emails(session, now),
        hub_stale=_hub_stale(session, now),
        partner_reports_due=partner_due,
        partner_reports_overdue=partner_overdue,
        rounds_closing=closing_reminders(session, now),
    )


def _gifts_expiring(session: Session, now: datetime) -> int:
    rows = session.execute(
        select(Gift.id, Gift.recipient_name, Gift.amount, Gift.currency, Gift.expires_at)
        .add_columns(Wallet.user_id)
        .join(Wallet, Wallet.id == Gift.giver_wallet_id)
        .join(User, User.id == Wallet.user_id)
        .where(
            Gift.state == GiftState.PENDING,
            Gift.expires_at > now,
            Gift.expires_at <= now + GIFT_EXPIRING_WITHIN,
            User.active,
        )
        .order_by(Gift.id)
    ).all()
    told = people(session, {row.user_id for row in rows})
    notices = []
    for row in rows:
        giver = told[row.user_id]
        amount = format_money(row.amount, row.currency, giver.locale)
        notices.append(
            Notice(
                user_id=giver.id,
                kind=GIFT_EXPIRING,
                event_key=f"gift:{row.id}",
                title=f"{row.recipient_name} has not claimed your gift yet",
                body=(
                    f"{row.recipient_name} has until {giver.day(row.expires_at)} to claim the "
                    f"{amount} you gave. If the email went astray, you can send the link "
                    "again from the gift's page; the old link then stops working."
                ),
                link=f"/wallet/gifts/{row.id}",
            )
        )
    return len(notify(session, notices))


def _plan_years_ending(session: Session, now: datetime) -> int:
    """Holders with credit left in a fund whose plan year ends within the window. The days
    left are counted in the fund's time zone, where its plan year ends at midnight; the date
    is written as the holder writes dates."""
    rows = session.execute(
        select(
            Wallet.id,
            Wallet.user_id,
            Account.balance,
            Account.currency,
            Fund.plan_year_end,
            Fund.time_zone,
        )
        .join(Account, Account.id == Wallet.account_id)
        .join(Fund, Fund.id == Wallet.fund_id)
        .join(User, User.id == Wallet.user_id)
        .where(
            Account.balance > 0,
            Fund.closed_at.is_(None),
            Fund.plan_year_end >= (now - timedelta(days=1)).date(),
            Fund.plan_year_end <= (now + timedelta(days=PLAN_YEAR_ENDING_WITHIN + 1)).date(),
            User.active,
        )
        .order_by(Wallet.id)
    ).all()
    told = people(session, {row.user_id for row in rows})
    notices = []
    for wallet_id, user_id, balance, currency, end, fund_zone in rows:
        holder = told[user_id]
        days_left = (end - now.astimezone(ZoneInfo(fund_zone)).date()).days
        if not 0 <= days_left <= PLAN_YEAR_ENDING_WITHIN:
            continue
        notices.append(
            Notice(
                user_id=user_id,
                kind=PLAN_YEAR_ENDING,
                event_key=f"wallet:{wallet_id}:{end.isoformat()}",
                title=f"Your therapy credit can be spent until {holder.day(end)}",
                body=(
                    f"You have {format_money(balance, currency, holder.locale)} of therapy "
                    f"credit left. Sessions can be paid from it until {holder.day(end)}, the "
                    "end of the plan year; what is left after that goes back to the fund."
                ),
                link="/wallet/",
            )
        )
    return len(notify(session, notices))


def _reports(session: Session, now: datetime, *, overdue: bool) -> int:
    """The managers of each live grant told of a report due soon, or overdue."""
    window = timedelta(days=REPORT_DUE_WITHIN + 1)
    due = (
        ReportingRequirement.due_date < (now + timedelta(days=1)).date()
        if overdue
        else ReportingRequirement.due_date <= (now + window).date()
    )
    rows = session.execute(
        select(
            ReportingRequirement.id,
            ReportingRequirement.title,
            ReportingRequirement.due_date,
            Grant.id.label("grant_id"),
            Grant.created_by_id,
            Grant.submitted_by_id,
            Partner.display_name,
        )
        .join(Grant, Grant.id == ReportingRequirement.grant_id)
        .join(Partner, Partner.id == Grant.partner_id)
        .where(
            ReportingRequirement.received_at.is_(None),
            Grant.status.in_(LIVE_GRANTS),
            due,
        )
        .order_by(ReportingRequirement.id)
    ).all()
    managers = {
        user_id
        for row in rows
        for user_id in (row.created_by_id, row.submitted_by_id)
        if user_id is not None
    }
    active = set(
        session.scalars(select(User.id).where(User.id.in_(managers), User.active))
        if managers
        else []
    )
    told = people(session, active)
    notices = []
    for row in rows:
        for user_id in sorted({row.created_by_id, row.submitted_by_id} & active):
            manager = told[user_id]
            days_left = (row.due_date - manager.today(now)).days
            if overdue != (days_left < 0) or days_left > REPORT_DUE_WITHIN:
                continue
            when = manager.day(row.due_date)
            notices.append(
                Notice(
                    user_id=user_id,
                    kind=REPORT_OVERDUE if overdue else REPORT_DUE,
                    event_key=f"report:{row.id}",
                    title=(
                        f"A report from {row.display_name} is overdue"
                        if overdue
                        else f"A report from {row.display_name} is due on {when}"
                    ),
                    body=(
                        f"“{row.title}” for the grant to {row.display_name} was due on {when} "
                        "and has not been marked received."
                        if overdue
                        else f"“{row.title}” for the grant to {row.display_name} is due on {when}."
                    ),
                    link=f"/manager/grants/{row.grant_id}",
                )
            )
    return len(notify(session, notices))


def _finance_digests(session: Session, now: datetime) -> int:
    """Each finance officer's digest for their day, once it is past the hour of their daily
    email there. Tranches due are counted once per day the officers are in (one or two days,
    whatever their number)."""
    officers = list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.FINANCE, User.active)
            .order_by(User.id)
        )
    )
    told = people(session, set(officers))
    due = [
        officer
        for officer in (told[user_id] for user_id in officers)
        if officer.daily_email_due(now)
    ]
    if not due:
        return 0
    waiting = session.scalar(
        select(func.count(Redemption.id)).where(Redemption.state == RedemptionState.REQUESTED)
    )
    tranches_due: dict[date, int] = {}
    notices = []
    for officer in due:
        today = officer.today(now)
        if today not in tranches_due:
            tranches_due[today] = (
                session.scalar(
                    select(func.count(Tranche.id))
                    .join(Grant, Grant.id == Tranche.grant_id)
                    .where(
                        Tranche.paid_on.is_(None),
                        Grant.status.in_(LIVE_GRANTS),
                        Tranche.due_date <= today + timedelta(days=TRANCHES_DUE_WITHIN),
                    )
                )
                or 0
            )
        tranches = tranches_due[today]
        if not waiting and not tranches:
            continue
        parts = []
        if waiting:
            parts.append(f"{waiting} session payment{'s' if waiting != 1 else ''} to review")
        if tranches:
            parts.append(f"{tranches} tranche{'s' if tranches != 1 else ''} due this week")
        notices.append(
            Notice(
                user_id=officer.id,
                kind=FINANCE_DIGEST,
                event_key=f"digest:{today.isoformat()}",
                title=f"Finance for {officer.day(today)}: {' and '.join(parts)}",
                body=(
                    f"Waiting for you today: {' and '.join(parts)} (tranches overdue "
                    "included). The queues list them oldest first."
                ),
                link="/finance/",
            )
        )
    return len(notify(session, notices))


def _daily_emails(session: Session, now: datetime) -> int:
    """The daily email of each person who asked for one, once it is past the digest hour
    where they are: one row per person and day of theirs (:class:`NotificationDigest`), and
    the email recorded in the outbox with the span it covers. Who is due, since when, and
    what waits for them are read in two statements, whatever the number of people."""
    last_digest = (
        select(func.max(NotificationDigest.sent_through))
        .where(NotificationDigest.user_id == User.id)
        .scalar_subquery()
    )
    wanted = session.execute(
        select(User.id, User.email, last_digest)
        .where(
            User.active,
            select(NotificationPreference.user_id)
            .where(
                NotificationPreference.user_id == User.id,
                NotificationPreference.delivery == Delivery.DAILY,
            )
            .exists(),
        )
        .order_by(User.id)
    ).all()
    told = people(session, {row.id for row in wanted})
    earliest = now - DIGEST_LOOKBACK
    due = {
        user_id: (address, max(last, earliest) if last is not None else earliest)
        for user_id, address, last in wanted
        if told[user_id].daily_email_due(now)
    }
    if not due:
        return 0
    waiting = session.execute(
        select(Notification.user_id, Notification.created_at)
        .join(
            NotificationPreference,
            and_(
                NotificationPreference.user_id == Notification.user_id,
                NotificationPreference.kind == Notification.kind,
                NotificationPreference.delivery == Delivery.DAILY,
            ),
        )
        .where(
            Notification.user_id.in_(due),
            Notification.created_at > earliest,
            Notification.created_at <= now,
        )
    ).all()
    pending = {user_id for user_id, made in waiting if made > due[user_id][1]}
    sent = 0
    for user_id in sorted(pending):
        address, since = due[user_id]
        taken = session.execute(
            insert_for(session, NotificationDigest)
            .values(user_id=user_id, day=told[user_id].today(now), sent_through=now)
            .on_conflict_do_nothing()
            .returning(NotificationDigest.user_id)
        ).first()
        if taken is None:
            continue
        messages.record(
            session,
            kind=DIGEST,
            payload={"user": user_id, "since": since.isoformat(), "until": now.isoformat()},
            now=now,
            to=address,
        )
        sent += 1
    return sent


def _hub_stale(session: Session, now: datetime) -> int:
    """Each active navigator is told of each service on the hub whose published version was
    last checked six months ago or more, once per version (a version published with a new
    date checked is a new event)."""
    stale = stale_services(session, today=now.date())
    if not stale:
        return 0
    navigators = list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.NAVIGATOR, User.active)
            .order_by(User.id)
        )
    )
    told = people(session, set(navigators))
    notices = [
        Notice(
            user_id=navigator,
            kind=HUB_STALE,
            event_key=f"hub-service:{version.service_id}:{version.id}",
            title=f"{version.name} was last checked on {told[navigator].day(version.checked_on)}",
            body=(
                f"{version.name} on the resource hub was last checked against its source on "
                f"{told[navigator].day(version.checked_on)}. Check its numbers and links, then "
                "propose a change or mark it checked for a second navigator to publish."
            ),
            link=f"/hub/services/{version.service_id}",
        )
        for version in stale
        for navigator in navigators
    ]
    return len(notify(session, notices))
