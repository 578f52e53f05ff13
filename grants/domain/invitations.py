"""Invitations: an admin invites a person by email, with their roles; the person follows the
link, chooses a password and is signed in.

The account is made when the person is invited: inactive, without a password, holding the
roles (and, for an ambassador, the programme, country and cohort status) the admin chose. So
one email is always one account, found again (in any case) by the next invitation, which
updates it rather than making another; and an invited admin is not an active admin until
they accept. Accepting sets the password and makes the account active.

Each invitation is one link: a token of 256 bits of which only the SHA-256 is kept, valid for
:data:`INVITATION_VALIDITY`, used once. A new invitation of the same person (sending it again)
revokes every earlier one. :func:`invite_person` invites one person and can be called for
many in one transaction (a cohort's list); :func:`invite` is the admin's form, and
:func:`invite_partner_person` a manager's, for one of a partner organisation's people.

The invitation email is recorded in the outbox with the invitation: a refused or rolled back
invitation sends nothing. It is a security message, sent whatever the person's choices about
other messages.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grants.domain import audit, outbox
from grants.domain.accounts import (
    PasswordRules,
    check_password_strength,
    clean_display_name,
    find_user_by_email,
    normalise_email,
)
from grants.domain.audit import Event
from grants.domain.checks import MANAGERS, require_role
from grants.domain.errors import Conflict, InvalidInput, InvalidState, NotFound
from grants.domain.gifts import hash_token
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.user_admin import (
    AccountStatus,
    Membership,
    apply_access,
    check_membership,
    clean_roles,
    describe_access,
    membership_of,
    status_of,
)
from grants.models import Invitation, Partner, Role, User

INVITATION_VALIDITY = timedelta(days=7)
"""How long an invitation link works."""
INVITATION_EMAIL = "account.invitation"
"""The outbox kind of the invitation email; payload ``invitation``, ``token``."""
TOKEN_MAX = 200
"""Longer text in a link is not a token: refused before it is hashed."""


@dataclass(frozen=True)
class InvitationDetails:
    """Whom to invite, as the admin typed it: checked by :func:`invite_person`."""

    email: str
    display_name: str
    roles: tuple[str | Role, ...]
    membership: Membership | None = None
    partner_id: int | None = None
    """The organisation a ``partner`` works for; required of one, ignored for anyone else."""


class InviteOutcome(StrEnum):
    """What inviting one person did."""

    CREATED = "created"
    """A new account, invited."""
    UPDATED = "updated"
    """An account already invited: its details updated and a new link sent (the old one
    no longer works)."""
    ALREADY_ACTIVE = "already active"
    """The person already has an active account: nothing written, nothing sent."""
    DEACTIVATED = "deactivated"
    """The person's account was deactivated: nothing written, nothing sent (reactivating
    it is a decision of its own)."""


@dataclass(frozen=True)
class Invited:
    """What :func:`invite_person` did, and to whom."""

    outcome: InviteOutcome
    user_id: int
    invitation_id: int | None = None
    token: str | None = None
    """The link's token, given only to the call that made it (it is stored hashed)."""


def invite_person(
    session: Session,
    *,
    actor: User,
    details: InvitationDetails,
    now: datetime,
    validity: timedelta = INVITATION_VALIDITY,
) -> Invited:
    """Invite one person: make their account (or update the invited one with the same email,
    in any case) and send them a new link. Writes nothing for someone whose account is
    active or deactivated, and says so in its outcome. :class:`InvalidInput` for bad
    details. Flushes; the caller commits, one person or a whole list at once. A manager
    may invite ambassadors (a cohort's list) and a partner organisation's people; anyone
    else, only an admin."""
    require_role(actor, *MANAGERS, doing="invite people")
    email = normalise_email(details.email)
    name = clean_display_name(details.display_name)
    roles = clean_roles(details.roles)
    if roles not in ([Role.AMBASSADOR], [Role.PARTNER]):
        require_role(actor, Role.ADMIN, doing="invite people")
    membership = check_membership(session, roles, details.membership)
    partner_id = _partner_of(session, roles, details.partner_id)
    user = find_user_by_email(session, email)
    events: list[Event] = []
    if user is None:
        user = User(email=email, display_name=name, password_hash=None, active=False)
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:
            raise Conflict(f"{email} was invited by someone else a moment ago.") from None
        apply_access(session, user, roles, membership)
        if partner_id is not None:
            user.partner_id = partner_id
        outcome = InviteOutcome.CREATED
        events.append(
            Event(
                actor.id,
                "user.invite",
                "user",
                user.id,
                after={"email": email, "display_name": name, "active": False}
                | _access(session, user),
            )
        )
    else:
        status = status_of(session, user)
        if status is AccountStatus.ACTIVE:
            return Invited(InviteOutcome.ALREADY_ACTIVE, user.id)
        if status is AccountStatus.DEACTIVATED:
            return Invited(InviteOutcome.DEACTIVATED, user.id)
        before = {"display_name": user.display_name} | _access(session, user)
        user.display_name = name
        apply_access(session, user, roles, membership)
        if partner_id is not None:
            user.partner_id = partner_id
        after = {"display_name": name} | _access(session, user)
        outcome = InviteOutcome.UPDATED
        if before != after:
            events.append(Event(actor.id, "user.invite", "user", user.id, before, after))
    invitation, token, revoked = _new_link(
        session, actor, user, roles, membership, now, validity, partner_id=partner_id
    )
    events.extend(_revoked_events(actor, revoked))
    events.append(_sent_event(actor, invitation))
    audit.record_all(session, events)
    return Invited(outcome, user.id, invitation.id, token)


def invite(
    session: Session, *, key: str, actor: User, details: InvitationDetails, now: datetime
) -> Receipt:
    """The admin's invitation of one person: :func:`invite_person`, refusing with
    :class:`Conflict` someone whose account is active (their roles are changed on their
    page instead) or deactivated (reactivated there)."""
    require_role(actor, Role.ADMIN, doing="invite people")

    def perform() -> Receipt:
        invited = invite_person(session, actor=actor, details=details, now=now)
        if invited.outcome is InviteOutcome.ALREADY_ACTIVE:
            raise Conflict(
                f"{normalise_email(details.email)} already has an active account: change "
                "their roles on their page instead."
            )
        if invited.outcome is InviteOutcome.DEACTIVATED:
            raise Conflict(
                f"{normalise_email(details.email)} has an account that was deactivated: "
                "reactivate it on their page if they should come back."
            )
        return Receipt("user.invite", object_id=invited.invitation_id, user_id=invited.user_id)

    membership = details.membership
    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="user.invite",
        request={
            "email": details.email,
            "name": details.display_name,
            "roles": sorted(str(role) for role in details.roles),
            "membership": None
            if membership is None
            else [membership.programme_id, membership.country, membership.cohort_status],
            **({} if details.partner_id is None else {"partner": details.partner_id}),
        },
        perform=perform,
    )


def invite_partner_person(
    session: Session,
    *,
    key: str,
    actor: User,
    partner_id: int,
    email: str,
    display_name: str,
    now: datetime,
) -> Receipt:
    """A manager's invitation of one of a partner organisation's people, who then applies
    and reports for it: :func:`invite_person` with the ``partner`` role, refusing with
    :class:`Conflict` someone whose account is active or deactivated (an admin changes
    those). Inviting an invited person again sends them a new link."""
    require_role(actor, *MANAGERS, doing="invite people")

    def perform() -> Receipt:
        details = InvitationDetails(
            email=email, display_name=display_name, roles=(Role.PARTNER,), partner_id=partner_id
        )
        invited = invite_person(session, actor=actor, details=details, now=now)
        if invited.outcome is InviteOutcome.ALREADY_ACTIVE:
            raise Conflict(
                f"{normalise_email(email)} already has an active account: an admin can change "
                "what it may do."
            )
        if invited.outcome is InviteOutcome.DEACTIVATED:
            raise Conflict(
                f"{normalise_email(email)} has an account that was deactivated: an admin can "
                "reactivate it."
            )
        return Receipt("partner.invite", object_id=invited.invitation_id, user_id=invited.user_id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="partner.invite",
        request={"partner": partner_id, "email": email, "name": display_name},
        perform=perform,
    )


def pending_invitation(session: Session, user_id: int, now: datetime) -> Invitation | None:
    """The invitation of ``user_id`` that can still be accepted, if any."""
    latest = session.scalar(
        select(Invitation)
        .where(Invitation.user_id == user_id)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .limit(1)
    )
    return latest if latest is not None and latest.is_pending(now) else None


def latest_invitation(session: Session, user_id: int) -> Invitation | None:
    """The last invitation sent to ``user_id``, whatever became of it."""
    return session.scalar(
        select(Invitation)
        .where(Invitation.user_id == user_id)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .limit(1)
    )


def resend(session: Session, *, key: str, actor: User, user_id: int, now: datetime) -> Receipt:
    """Send an invited person a new link, valid afresh; every earlier link stops working.
    For someone who has not accepted yet, whether their last link expired or not."""
    require_role(actor, Role.ADMIN, doing="invite people")

    def perform() -> Receipt:
        user = _invited_user(session, user_id)
        ambassador = membership_of(session, user.id)
        membership = (
            Membership(ambassador.programme_id, ambassador.country, ambassador.cohort_status)
            if ambassador is not None and user.has_role(Role.AMBASSADOR)
            else None
        )
        invitation, _, revoked = _new_link(
            session,
            actor,
            user,
            user.roles,
            membership,
            now,
            INVITATION_VALIDITY,
            partner_id=user.partner_id if user.has_role(Role.PARTNER) else None,
        )
        audit.record_all(
            session, [*_revoked_events(actor, revoked), _sent_event(actor, invitation)]
        )
        return Receipt("invitation.resend", object_id=invitation.id, user_id=user.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="invitation.resend",
        request={"user": user_id},
        perform=perform,
    )


def revoke(session: Session, *, key: str, actor: User, user_id: int, now: datetime) -> Receipt:
    """Stop the pending invitation of ``user_id`` working; the account stays, invited, and
    a new invitation can be sent later."""
    require_role(actor, Role.ADMIN, doing="invite people")

    def perform() -> Receipt:
        user = _invited_user(session, user_id)
        revoked = _revoke_pending(session, user.id, now)
        if not revoked:
            raise InvalidState(f"{user.display_name} has no invitation waiting to be accepted.")
        audit.record_all(session, _revoked_events(actor, revoked))
        return Receipt("invitation.revoke", object_id=revoked[-1], user_id=user.id)

    return idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="invitation.revoke",
        request={"user": user_id},
        perform=perform,
    )


def find_invitation(session: Session, token: str, *, lock: bool = False) -> Invitation:
    """The invitation a link names, or :class:`NotFound` (an unknown or altered link)."""
    if not token or len(token) > TOKEN_MAX:
        raise NotFound("This invitation link is not valid.")
    query = select(Invitation).where(Invitation.token_hash == hash_token(token))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    invitation = session.scalar(query)
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
    return invitation


def usability(invitation: Invitation, now: datetime) -> InvalidState | None:
    """Why ``invitation`` cannot be accepted at ``now``, or ``None`` if it can."""
    if invitation.accepted_at is not None:
        return InvalidState("This invitation has already been accepted: sign in instead.")
    if invitation.revoked_at is not None:
        return InvalidState(
            "This invitation link no longer works: a newer one was sent, or it was withdrawn."
        )
    if now >= invitation.expires_at:
        return InvalidState("This invitation link has expired.")
    return None


def accept(
    session: Session,
    *,
    token: str,
    password: str,
    hasher: PasswordHasher,
    rules: PasswordRules,
    now: datetime,
) -> User:
    """The invited person chooses their password: their account becomes active with the
    roles they were invited with, and the link stops working. :class:`NotFound` for an
    unknown link, :class:`InvalidState` for a used, revoked or expired one,
    :class:`WeakPassword` for a password the policy refuses; nothing is written then."""
    invitation = find_invitation(session, token, lock=True)
    refusal = usability(invitation, now)
    if refusal is not None:
        raise refusal
    user = session.scalar(
        select(User)
        .where(User.id == invitation.user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if user is None or user.active or user.password_hash is not None:
        raise InvalidState("This account is already set up: sign in instead.")
    check_password_strength(password, email=user.email, display_name=user.display_name, rules=rules)
    user.password_hash = hasher.hash(password)
    user.active = True
    user.last_login_at = now
    invitation.accepted_at = now
    session.flush()
    audit.record_all(
        session,
        [
            Event(
                user.id,
                "invitation.accept",
                "invitation",
                invitation.id,
                {"state": "pending"},
                {"state": "accepted"},
            ),
            Event(
                user.id,
                "user.activate",
                "user",
                user.id,
                {"active": False, "password": False},
                {"active": True, "password": True},
            ),
        ],
    )
    return user


# --- the steps invitations share ------------------------------------------------------------


def _partner_of(session: Session, roles: list[Role], partner_id: int | None) -> int | None:
    """The organisation to keep for someone holding ``roles``: required of a ``partner``,
    an active one; ignored for anyone else."""
    if Role.PARTNER not in roles:
        return None
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    if partner is None or not partner.active:
        raise InvalidInput("Choose an active partner organisation.", field="partner_id")
    return partner.id


def _access(session: Session, user: User) -> dict[str, object]:
    """:func:`describe_access`, and the organisation of a ``partner``."""
    described = describe_access(user, membership_of(session, user.id))
    if user.has_role(Role.PARTNER):
        described["partner_id"] = user.partner_id
    return described


def _invited_user(session: Session, user_id: int) -> User:
    user = session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if user is None:
        raise NotFound("There is no such user.")
    if status_of(session, user) is not AccountStatus.INVITED:
        raise InvalidState(f"{user.display_name} is not waiting for an invitation.")
    return user


def _revoke_pending(session: Session, user_id: int, now: datetime) -> list[int]:
    """Revoke every invitation of ``user_id`` not yet accepted or revoked (an expired one
    too, so the record says it will not be used); their ids."""
    revoked = session.scalars(
        update(Invitation)
        .where(
            Invitation.user_id == user_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(Invitation.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(revoked)


def _new_link(
    session: Session,
    actor: User,
    user: User,
    roles: list[Role],
    membership: Membership | None,
    now: datetime,
    validity: timedelta,
    *,
    partner_id: int | None = None,
) -> tuple[Invitation, str, list[int]]:
    """Revoke ``user``'s earlier links, make a new one and record its email in the outbox:
    the invitation, its token and the ids of the links revoked."""
    revoked = _revoke_pending(session, user.id, now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        token_hash=hash_token(token),
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=[role.value for role in roles],
        programme_id=membership.programme_id if membership else None,
        country=membership.country if membership else None,
        cohort_status=membership.cohort_status if membership else None,
        partner_id=partner_id,
        invited_by_id=actor.id,
        created_at=now,
        expires_at=now + validity,
    )
    session.add(invitation)
    session.flush()
    outbox.record(
        session,
        kind=INVITATION_EMAIL,
        payload={"invitation": invitation.id, "token": token},
        now=now,
        to=invitation.email,
    )
    return invitation, token, revoked


def _sent_event(actor: User, invitation: Invitation) -> Event:
    return Event(
        actor.id,
        "invitation.send",
        "invitation",
        invitation.id,
        after={
            "user_id": invitation.user_id,
            "email": invitation.email,
            "roles": invitation.roles,
            "expires_at": invitation.expires_at.isoformat(),
        },
    )


def _revoked_events(actor: User, revoked: list[int]) -> list[Event]:
    return [
        Event(
            actor.id,
            "invitation.revoke",
            "invitation",
            invitation_id,
            {"state": "pending"},
            {"state": "revoked"},
        )
        for invitation_id in revoked
    ]
