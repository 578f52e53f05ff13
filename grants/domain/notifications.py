"""Telling people what happened: a notification in the app for each event that concerns them,
and an email through the outbox straight away, in one email a day
(:mod:`grants.domain.reminders` sends it), or not at all, as each person chose per kind.

An operation calls :func:`notify` inside its own transaction, before its audit event (always
the last lock taken): a rolled-back operation tells nobody anything. Each person is told of
each event once (:class:`grants.models.Notification`'s unique event key), however often the
operation is replayed. The email is recorded in the outbox with the notification's id only;
the worker renders it from the notification when it sends (:func:`notification_email`), and
sends nothing to a person who has since turned that kind's email off or been deactivated.

What a notification says is health-free: no provider, no session date, no reason a finance
officer wrote, in its title (an email's subject and preview) or its body. Those stay behind
its link, a page of the app that asks its viewer to sign in. A manager is never told of an
ambassador's redemption at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import ColumnElement, ScalarSelect, and_, func, select, update
from sqlalchemy.orm import QueryableAttribute, Session

from grants import clock
from grants.database import insert_for
from grants.domain import audit
from grants.domain import outbox as messages
from grants.domain.account_tokens import time_zone_of
from grants.domain.dates import format_day, format_time_of_day, skipped_on, zone_name
from grants.domain.errors import InvalidInput
from grants.domain.money import format_money
from grants.domain.paging import Page, paginate
from grants.models import (
    Delivery,
    Gift,
    Grant,
    Notification,
    NotificationPreference,
    Redemption,
    Role,
    User,
    UserRole,
)

EMAIL = "notification.email"
"""The outbox's kind for a notification's email; payload ``notification``, its id."""
DIGEST = "notification.digest"
"""The outbox's kind for a person's daily email; payload ``user``, ``since`` and ``until``
(ISO times): the notifications of the kinds they get daily, made in that span."""


@dataclass(frozen=True)
class Kind:
    """One kind of notification: its key, what the settings page calls it, and which roles
    receive it (so that a person is offered only the settings that concern them)."""

    key: str
    label: str
    roles: tuple[Role, ...]


HOLDERS = (Role.AMBASSADOR, Role.RECIPIENT)

ALLOWANCE_RECEIVED = Kind(
    "allowance.received", "Therapy credit added to your wallet", (Role.AMBASSADOR,)
)
GIFT_CLAIMED = Kind("gift.claimed", "A gift you gave was claimed", (Role.AMBASSADOR,))
REDEMPTION_APPROVED = Kind("redemption.approved", "A session payment approved", HOLDERS)
REDEMPTION_REJECTED = Kind("redemption.rejected", "A session payment not approved", HOLDERS)
REDEMPTION_PAID = Kind("redemption.paid", "A session payment made", HOLDERS)
GRANT_AWAITING = Kind("grant.awaiting", "A grant waiting for your approval", (Role.MANAGER,))
GRANT_DECIDED = Kind(
    "grant.decided", "A grant you sent approved or not approved", (Role.MANAGER, Role.ADMIN)
)

GIFT_EXPIRING = Kind(
    "gift.expiring", "A gift you gave not claimed a week before it expires", (Role.AMBASSADOR,)
)
GIFT_EXPIRED = Kind("gift.expired", "A gift you gave expired unclaimed", (Role.AMBASSADOR,))
PLAN_YEAR_ENDING = Kind("plan_year.ending", "Your credit's plan year ending in 30 days", HOLDERS)
REPORT_DUE = Kind("report.due", "A grant's report due within 14 days", (Role.MANAGER, Role.ADMIN))
REPORT_OVERDUE = Kind("report.overdue", "A grant's report overdue", (Role.MANAGER, Role.ADMIN))
FINANCE_DIGEST = Kind(
    "finance.digest", "Each day: payments to review and tranches due", (Role.FINANCE,)
)
HUB_STALE = Kind("hub.stale", "A resource hub service not checked for 6 months", (Role.NAVIGATOR,))
HELP_NEW = Kind("help.new", "A new request at your help desk", (Role.NAVIGATOR,))
HELP_ANSWERED = Kind("help.answered", "A requester answered a request you have", (Role.NAVIGATOR,))
HELP_OVERDUE = Kind("help.overdue", "A help desk request overdue", (Role.NAVIGATOR,))
APPLICATION_SUBMITTED = Kind(
    "application.submitted", "An application to a round you review", (Role.MANAGER, Role.ADMIN)
)
APPLICATION_DECIDED = Kind(
    "application.decided", "A decision on your organisation's application", (Role.PARTNER,)
)
ROUND_CLOSING = Kind(
    "round.closing", "A round you have a draft for closing in 3 days", (Role.PARTNER,)
)
PROGRESS_SUBMITTED = Kind(
    "progress.submitted", "A partner's progress report to review", (Role.MANAGER, Role.ADMIN)
)
PROGRESS_DECIDED = Kind(
    "progress.decided", "Your organisation's report accepted or sent back", (Role.PARTNER,)
)
PROGRESS_DUE = Kind(
    "progress.due", "Your organisation's report due in 14 days and in 3", (Role.PARTNER,)
)
PROGRESS_OVERDUE = Kind("progress.overdue", "Your organisation's report overdue", (Role.PARTNER,))

KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        ALLOWANCE_RECEIVED,
        GIFT_CLAIMED,
        GIFT_EXPIRING,
        GIFT_EXPIRED,
        REDEMPTION_APPROVED,
        REDEMPTION_REJECTED,
        REDEMPTION_PAID,
        PLAN_YEAR_ENDING,
        GRANT_AWAITING,
        GRANT_DECIDED,
        REPORT_DUE,
        REPORT_OVERDUE,
        FINANCE_DIGEST,
        HUB_STALE,
        HELP_NEW,
        HELP_ANSWERED,
        HELP_OVERDUE,
        APPLICATION_SUBMITTED,
        APPLICATION_DECIDED,
        ROUND_CLOSING,
        PROGRESS_SUBMITTED,
        PROGRESS_DECIDED,
        PROGRESS_DUE,
        PROGRESS_OVERDUE,
    )
}
"""Every kind of notification, in the order the settings page lists them."""


@dataclass(frozen=True)
class Notice:
    """What one person is to be told of one event."""

    user_id: int
    kind: Kind
    event_key: str
    title: str
    body: str
    link: str


def notify(session: Session, notices: Iterable[Notice]) -> list[int]:
    """Write ``notices`` (flushed, never committed), each at most once per person and event,
    and record an email in the outbox for each new one whose person is active and wants that
    kind straight away (not in the morning email, not in the app only). Returns the new
    notifications' ids."""
    rows = [
        {
            "user_id": notice.user_id,
            "kind": notice.kind.key,
            "event_key": notice.event_key,
            "title": notice.title,
            "body": notice.body,
            "link": notice.link,
            "created_at": clock.now(),
        }
        for notice in notices
    ]
    if not rows:
        return []
    table = Notification.__table__
    statement = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["user_id", "kind", "event_key"])
        .returning(table.c.id)
    )
    session.flush()
    new = sorted(session.connection().execute(statement, rows).scalars())
    now = clock.now()
    for notification_id, address in _emailed(session, new):
        messages.record(
            session, kind=EMAIL, payload={"notification": notification_id}, now=now, to=address
        )
    return new


def _emailed(session: Session, notification_ids: Sequence[int]) -> list[tuple[int, str]]:
    """Those of ``notification_ids`` whose person is active and wants their email, with
    that person's address."""
    if not notification_ids:
        return []
    not_now = and_(
        NotificationPreference.user_id == Notification.user_id,
        NotificationPreference.kind == Notification.kind,
        NotificationPreference.delivery != Delivery.IMMEDIATELY,
    )
    return list(
        session.execute(
            select(Notification.id, User.email)
            .join(User, User.id == Notification.user_id)
            .where(
                Notification.id.in_(notification_ids),
                User.active,
                ~select(NotificationPreference.user_id).where(not_now).exists(),
            )
            .order_by(Notification.id)
        )
    )


# --- the events ----------------------------------------------------------------------------


def _locale_of(session: Session, user_id: int) -> str:
    return session.scalar(select(User.locale).where(User.id == user_id)) or "en_US"


def allowances_received(
    session: Session,
    *,
    user_ids: Sequence[int],
    each: int,
    currency: str,
    fund_name: str,
    transaction_id: int,
) -> None:
    """Each of ``user_ids`` (ambassadors) received ``each`` in one allowance transaction."""
    locales = dict(session.execute(select(User.id, User.locale).where(User.id.in_(user_ids))).all())
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=ALLOWANCE_RECEIVED,
                event_key=f"transaction:{transaction_id}",
                title="Therapy credit was added to your wallet",
                body=(
                    f"{format_money(each, currency, locales.get(user_id, 'en_US'))} from "
                    f"{fund_name} is ready to spend on sessions with a therapist of your choice."
                ),
                link="/wallet/",
            )
            for user_id in user_ids
        ),
    )


def redemption_decided(session: Session, redemption: Redemption, kind: Kind) -> None:
    """The redeemer of ``redemption`` is told it was approved, not approved or paid."""
    user_id = redemption.wallet.user_id
    amount = format_money(redemption.amount, redemption.currency, _locale_of(session, user_id))
    title, body = {
        REDEMPTION_APPROVED.key: (
            "Your session payment was approved",
            f"Finance approved the payment of {amount} from your therapy credit. The "
            "programme pays your therapist directly; you will be told when it has.",
        ),
        REDEMPTION_REJECTED.key: (
            "Your session payment was not approved",
            f"Finance did not approve the payment of {amount}, and that credit is yours to "
            "spend again. Sign in to read their reason and what you can do next.",
        ),
        REDEMPTION_PAID.key: (
            "A payment from your therapy credit was made",
            f"The programme paid {amount} from your therapy credit, as you asked.",
        ),
    }[kind.key]
    notify(
        session,
        [
            Notice(
                user_id=user_id,
                kind=kind,
                event_key=f"redemption:{redemption.id}",
                title=title,
                body=body,
                link=f"/wallet/redemptions/{redemption.id}",
            )
        ],
    )


def gift_claimed(
    session: Session, *, gift_id: int, giver_id: int, recipient_name: str, amount: str
) -> None:
    """The giver of gift ``gift_id`` is told that its recipient claimed its ``amount``
    (formatted in the giver's locale)."""
    notify(
        session,
        [
            Notice(
                user_id=giver_id,
                kind=GIFT_CLAIMED,
                event_key=f"gift:{gift_id}",
                title=f"{recipient_name} claimed your gift",
                body=f"{recipient_name} claimed the {amount} of therapy credit you gave.",
                link=f"/wallet/gifts/{gift_id}",
            )
        ],
    )


def gift_expired(session: Session, *, gift: Gift, giver_id: int, back_to_fund: bool) -> None:
    """The giver of ``gift`` is told it expired unclaimed, and where its credit went."""
    amount = format_money(gift.amount, gift.currency, _locale_of(session, giver_id))
    where = (
        "went back to the fund, since the plan year is over"
        if back_to_fund
        else "is back in your available credit"
    )
    notify(
        session,
        [
            Notice(
                user_id=giver_id,
                kind=GIFT_EXPIRED,
                event_key=f"gift:{gift.id}",
                title=f"Your gift to {gift.recipient_name} expired unclaimed",
                body=f"{gift.recipient_name} did not claim the {amount} you gave; it {where}.",
                link=f"/wallet/gifts/{gift.id}",
            )
        ],
    )


def grant_awaiting(session: Session, grant: Grant, *, submitter: User, authors: set[int]) -> None:
    """Every active manager who may approve ``grant`` (none of its ``authors``) is told that
    ``submitter`` sent it for approval."""
    managers = session.execute(
        select(User.id, User.locale)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.MANAGER, User.active, User.id.not_in(authors or {0}))
        .order_by(User.id)
    ).all()
    who = submitter.display_name
    notify(
        session,
        (
            Notice(
                user_id=user_id,
                kind=GRANT_AWAITING,
                event_key=f"grant:{grant.id}",
                title="A grant is waiting for your approval",
                body=(
                    f"{who} sent the grant to {grant.partner.display_name} for "
                    f"{format_money(grant.amount, grant.currency, locale)} for approval. "
                    "It needs a manager who did not draft it to approve it or turn it down."
                ),
                link=f"/manager/grants/{grant.id}",
            )
            for user_id, locale in managers
        ),
    )


def grant_decided(session: Session, grant: Grant, *, approved: bool, reason: str = "") -> None:
    """The manager who sent ``grant`` for approval is told the decision."""
    if grant.submitted_by_id is None:
        return
    amount = format_money(grant.amount, grant.currency, _locale_of(session, grant.submitted_by_id))
    partner = grant.partner.display_name
    if approved:
        title = f"Your grant to {partner} was approved"
        body = f"The grant to {partner} for {amount} was approved; its tranches can be paid."
    else:
        title = f"Your grant to {partner} was not approved"
        body = f"The grant to {partner} for {amount} was not approved. The reason given: {reason}"
    notify(
        session,
        [
            Notice(
                user_id=grant.submitted_by_id,
                kind=GRANT_DECIDED,
                event_key=f"grant:{grant.id}",
                title=title,
                body=body,
                link=f"/manager/grants/{grant.id}",
            )
        ],
    )


# --- reading and settings ------------------------------------------------------------------


def unread_count(user_id: ColumnElement[int] | QueryableAttribute[int]) -> ScalarSelect[int]:
    """A scalar subquery: how many notifications of the user ``user_id`` (a column or a bound
    parameter) are unread."""
    return (
        select(func.count(Notification.id))
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def notifications_of(session: Session, user_id: int, *, page: int) -> Page[Notification]:
    """A person's notifications, newest first, a page at a time."""
    return paginate(
        session,
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc()),
        page,
    )


def mark_all_read(session: Session, user_id: int, *, now: datetime) -> int:
    """Mark every unread notification of ``user_id`` read; how many were."""
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def kinds_for(roles: Iterable[Role]) -> list[Kind]:
    """The kinds of notification a person holding ``roles`` can receive."""
    held = set(roles)
    return [kind for kind in KINDS.values() if held.intersection(kind.roles)]


def preferences_of(session: Session, user: User) -> dict[str, Delivery]:
    """How ``user`` wants each kind that concerns them (straight away unless they said)."""
    chosen = dict(
        session.execute(
            select(NotificationPreference.kind, NotificationPreference.delivery).where(
                NotificationPreference.user_id == user.id
            )
        ).all()
    )
    return {kind.key: chosen.get(kind.key, Delivery.IMMEDIATELY) for kind in kinds_for(user.roles)}


def set_preferences(
    session: Session,
    user: User,
    chosen: dict[str, str],
    *,
    daily_email_time: time | None = None,
    today: date | None = None,
) -> dict[str, Delivery]:
    """Save how ``user`` wants each kind, and from what time of their day their daily email
    goes (flushed, never committed); an audit event records what changed. Kinds that do not
    concern them, unknown deliveries, a time not on the hour, and a time their clocks skip on
    some day of the coming year (from ``today``) are refused, and nothing is saved."""
    before = preferences_of(session, user)
    after: dict[str, Delivery] = {}
    for key, value in chosen.items():
        if key not in before:
            raise InvalidInput("That kind of notification is not one of yours.", field=key)
        try:
            after[key] = Delivery(value)
        except ValueError:
            raise InvalidInput("Choose how you want to be told.", field=key) from None
    if daily_email_time is not None and daily_email_time != user.daily_email_time:
        _check_daily_email_time(session, user, daily_email_time, today or clock.today())
    changed = {key: delivery for key, delivery in after.items() if before[key] is not delivery}
    for key, delivery in changed.items():
        session.merge(NotificationPreference(user_id=user.id, kind=key, delivery=delivery))
    audited_before: dict[str, str] = {key: before[key].value for key in changed}
    audited_after: dict[str, str] = {key: delivery.value for key, delivery in changed.items()}
    if daily_email_time is not None and daily_email_time != user.daily_email_time:
        audited_before[DAILY_EMAIL_TIME] = user.daily_email_time.strftime("%H:%M")
        audited_after[DAILY_EMAIL_TIME] = daily_email_time.strftime("%H:%M")
        user.daily_email_time = daily_email_time
    if audited_after:
        session.flush()
        audit.record(
            session,
            actor_id=user.id,
            action="user.notification_preferences",
            object_type="user",
            object_id=user.id,
            before=audited_before,
            after=audited_after,
        )
    return {**before, **after}


DAILY_EMAIL_TIME = "daily_email_time"
"""The settings field of the time of day a person's daily email goes."""


def _check_daily_email_time(session: Session, user: User, at: time, today: date) -> None:
    """Refuse ``at`` unless it is on the hour and ``user``'s clocks show it every day of the
    coming year."""
    if at.minute or at.second or at.microsecond:
        raise InvalidInput("Choose a time on the hour.", field=DAILY_EMAIL_TIME)
    time_zone = time_zone_of(session, user)
    skipped = skipped_on(at, time_zone, since=today)
    if skipped is not None:
        raise InvalidInput(
            f"{format_time_of_day(at, user.locale)} does not happen on "
            f"{format_day(skipped.day, user.locale)} in {zone_name(time_zone)}: the clocks "
            f"go forward from {format_time_of_day(skipped.start, user.locale)} to "
            f"{format_time_of_day(skipped.end, user.locale)}. Choose a time outside that hour.",
            field=DAILY_EMAIL_TIME,
        )


@dataclass(frozen=True)
class NotificationEmail:
    """What a notification's email needs, read when it is sent."""

    to: str
    name: str
    title: str
    body: str
    link: str


def notification_email(session: Session, notification_id: int) -> NotificationEmail | None:
    """The email of notification ``notification_id``, or ``None`` when it is no longer to be
    sent: the notification is gone, its person deactivated, or that kind's email turned off
    or moved to the daily email since."""
    found = session.execute(
        select(Notification, User)
        .join(User, User.id == Notification.user_id)
        .where(Notification.id == notification_id)
    ).first()
    if found is None:
        return None
    notification, user = found
    chosen = session.scalar(
        select(NotificationPreference.delivery).where(
            NotificationPreference.user_id == user.id,
            NotificationPreference.kind == notification.kind,
        )
    )
    if not user.active or chosen not in (None, Delivery.IMMEDIATELY):
        return None
    return NotificationEmail(
        to=user.email,
        name=user.display_name,
        title=notification.title,
        body=notification.body,
        link=notification.link,
    )


@dataclass(frozen=True)
class DigestEmail:
    """A person's daily email: whom, and what it lists (title, body, link of each)."""

    to: str
    name: str
    items: list[tuple[str, str, str]]


def daily_kinds(session: Session, user_id: int) -> list[str]:
    """The kinds ``user_id`` gets in the daily email."""
    return list(
        session.scalars(
            select(NotificationPreference.kind).where(
                NotificationPreference.user_id == user_id,
                NotificationPreference.delivery == Delivery.DAILY,
            )
        )
    )


def digest_email(
    session: Session, user_id: int, *, since: datetime, until: datetime
) -> DigestEmail | None:
    """The daily email of ``user_id`` for notifications made after ``since`` up to
    ``until``, of the kinds they get daily now; ``None`` if there are none or they were
    deactivated."""
    user = session.get(User, user_id)
    kinds = daily_kinds(session, user_id)
    if user is None or not user.active or not kinds:
        return None
    found = session.execute(
        select(Notification.title, Notification.body, Notification.link)
        .where(
            Notification.user_id == user_id,
            Notification.kind.in_(kinds),
            Notification.created_at > since,
            Notification.created_at <= until,
        )
        .order_by(Notification.id)
    ).all()
    if not found:
        return None
    return DigestEmail(
        to=user.email, name=user.display_name, items=[(t, b, link) for t, b, link in found]
    )
