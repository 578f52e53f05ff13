"""Cohort import: a manager or an admin invites a whole cohort of ambassadors from a CSV.

The file, a header and one row per ambassador (name, email, programme, country, cohort
status), is read and checked by :mod:`grants.domain.cohort_file`. Three steps, and nothing
is written to anyone's account before the last:

1. :func:`hold` reads the file (:func:`parse`), checks every row (:func:`check`) and keeps
   the bytes server-side, in a ``cohort_uploads`` row named by the file's SHA-256 and its
   uploader, for :data:`HOLD_FOR`. It returns the :class:`Preview`: what importing would
   do to each row, and every row's errors with its row number as a spreadsheet shows it
   (the header is row 1).
2. The preview page's confirmation carries only that digest. The bytes wait in the
   database rather than in the session cookie (far too small for a cohort) or in hidden
   fields of the page (the whole file sent back, and a signature to check, for nothing
   gained): :func:`held` finds them again for the same uploader only, so one person can
   never confirm another's file. Expired holds are deleted whenever anyone uploads.
3. :func:`import_cohort` checks the same bytes again, against the database as it is now,
   and invites everyone in one transaction through
   :func:`grants.domain.invitations.invite_person`, which records each invitation email in
   the outbox. It is idempotent by the file's SHA-256 and the actor: confirming twice, or
   uploading and confirming the same file again later, invites nobody twice. A file with
   any error imports nothing.

What each row does, decided by the email address (in any case):

- nobody has it: a new account, invited (:attr:`RowAction.INVITE`);
- someone invited but not yet signed up: their details updated and a new link sent
  (:attr:`RowAction.UPDATE`), unless their details are already these and their link still
  works (:attr:`RowAction.UNCHANGED`, nothing sent);
- an active account: left alone (:attr:`RowAction.ACTIVE`): their programme and status are
  changed on their own page;
- a deactivated account: left alone (:attr:`RowAction.DEACTIVATED`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import MANAGERS, require_role
from grants.domain.cohort_file import COLUMNS, CohortRow, RowError, check, listed, parse
from grants.domain.errors import DomainError, InvalidInput, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.invitations import InvitationDetails, InviteOutcome, invite_person
from grants.domain.user_admin import Membership
from grants.models import (
    Ambassador,
    CohortStatus,
    CohortUpload,
    Country,
    Invitation,
    Programme,
    Role,
    User,
    UserRole,
)

HOLD_FOR = timedelta(hours=24)
"""How long an uploaded file waits for its confirmation."""

ERRORS_SHOWN = 500
"""The most row errors a preview lists (it counts them all)."""


class RowAction(StrEnum):
    """What importing a row does."""

    INVITE = "invite"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"

    @property
    def label(self) -> str:
        """What the preview says of a row."""
        return {
            "invite": "Invited: a new account",
            "update": "Invited again: details updated, a new link sent",
            "unchanged": "Already invited with these details: nothing sent",
            "active": "Already has an account: left as it is",
            "deactivated": "Account deactivated: left as it is",
        }[self.value]


@dataclass(frozen=True)
class PlannedRow:
    """A checked row, what importing it does, and the roles the person is invited with:
    an ambassador's, and any others an invited person already holds."""

    entry: CohortRow
    action: RowAction
    roles: tuple[Role, ...] = (Role.AMBASSADOR,)


@dataclass(frozen=True)
class Preview:
    """What importing a file would do, and why it cannot, if it cannot."""

    digest: str
    rows: tuple[PlannedRow, ...]
    errors: tuple[RowError, ...]
    error_count: int
    rows_read: int
    already_imported: bool = False

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def count(self, action: RowAction) -> int:
        return sum(1 for planned in self.rows if planned.action is action)


@dataclass(frozen=True)
class ImportResult:
    """What importing a file did; ``replayed`` when it had been imported already."""

    upload_id: int | None
    counts: dict[str, int] = field(default_factory=dict)
    replayed: bool = False


def digest_of(data: bytes) -> str:
    """The file's SHA-256, in hexadecimal: what names it."""
    return hashlib.sha256(data).hexdigest()


# --- what importing does ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    """What the database says of someone a row names."""

    user_id: int
    active: bool
    has_password: bool
    display_name: str
    roles: frozenset[Role]
    membership: tuple[int, Country, CohortStatus] | None
    awaiting: bool
    """An invitation not yet accepted, whatever became of it."""
    link_works: bool
    """An invitation that can still be accepted now."""


def _known(session: Session, emails: list[str], now: datetime) -> dict[str, _Known]:
    """The accounts of ``emails``, read in batches."""
    found: dict[str, _Known] = {}
    for start in range(0, len(emails), 500):
        batch = emails[start : start + 500]
        users = session.execute(
            select(User.id, User.email, User.active, User.password_hash, User.display_name).where(
                User.email.in_(batch)
            )
        ).all()
        ids = [user.id for user in users]
        if not ids:
            continue
        roles: dict[int, set[Role]] = {}
        for user_id, role in session.execute(
            select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids))
        ):
            roles.setdefault(user_id, set()).add(role)
        memberships = {
            row.user_id: (row.programme_id, row.country, row.cohort_status)
            for row in session.execute(
                select(
                    Ambassador.user_id,
                    Ambassador.programme_id,
                    Ambassador.country,
                    Ambassador.cohort_status,
                ).where(Ambassador.user_id.in_(ids))
            )
        }
        awaiting: set[int] = set()
        working: set[int] = set()
        for invitation in session.execute(
            select(Invitation.user_id, Invitation.revoked_at, Invitation.expires_at).where(
                Invitation.user_id.in_(ids), Invitation.accepted_at.is_(None)
            )
        ):
            awaiting.add(invitation.user_id)
            if invitation.revoked_at is None and now < invitation.expires_at:
                working.add(invitation.user_id)
        for user in users:
            found[user.email] = _Known(
                user.id,
                user.active,
                user.password_hash is not None,
                user.display_name,
                frozenset(roles.get(user.id, ())),
                memberships.get(user.id),
                user.id in awaiting,
                user.id in working,
            )
    return found


def _plan(
    entry: CohortRow, known: _Known | None, programmes: dict[str, int], actor: User
) -> RowAction | RowError:
    if known is None:
        return RowAction.INVITE
    if known.active:
        return RowAction.ACTIVE
    if not known.awaiting or known.has_password:
        return RowAction.DEACTIVATED
    others = known.roles - {Role.AMBASSADOR}
    if others and not actor.has_role(Role.ADMIN):
        return RowError(
            entry.row,
            "email",
            f"{entry.email} was invited as {listed(sorted(role.value for role in others))}: "
            "only an admin can change their invitation.",
        )
    same = (
        known.display_name == entry.name
        and Role.AMBASSADOR in known.roles
        and known.membership == (programmes[entry.programme], entry.country, entry.cohort_status)
    )
    return RowAction.UNCHANGED if same and known.link_works else RowAction.UPDATE


def plan(session: Session, *, actor: User, data: bytes, now: datetime) -> Preview:
    """What importing ``data`` would do, row by row, and every error; writes nothing.
    :class:`InvalidInput` for a file that cannot be read at all."""
    require_role(actor, *MANAGERS, doing="import a cohort")
    digest = digest_of(data)
    header, records = parse(data)
    entries, errors = check(session, header, records)
    programmes = _programme_ids(session)
    known = _known(session, [entry.email for entry in entries], now)
    planned: list[PlannedRow] = []
    for entry in entries:
        action = _plan(entry, known.get(entry.email), programmes, actor)
        if isinstance(action, RowError):
            errors.append(action)
            continue
        person = known.get(entry.email)
        roles = {Role.AMBASSADOR} | (person.roles if person is not None else set())
        planned.append(PlannedRow(entry, action, tuple(sorted(roles))))
    errors.sort(key=lambda error: (error.row, COLUMNS.index(error.column) if error.column else -1))
    return Preview(
        digest=digest,
        rows=tuple(planned),
        errors=tuple(errors[:ERRORS_SHOWN]),
        error_count=len(errors),
        rows_read=len(records),
        already_imported=_imported(session, actor, digest) is not None,
    )


def _programme_ids(session: Session) -> dict[str, int]:
    """The open programmes' ids by code."""
    rows = session.execute(select(Programme.code, Programme.id).where(Programme.active.is_(True)))
    return {row.code: row.id for row in rows}


# --- holding the file between preview and confirmation ---------------------------------------


def hold(session: Session, *, actor: User, data: bytes, now: datetime) -> Preview:
    """Preview ``data`` (:func:`plan`) and keep it for its confirmation: a file that cannot be
    read is refused and not kept. Deletes every hold that has expired. Flushes."""
    preview = plan(session, actor=actor, data=data, now=now)
    session.execute(delete(CohortUpload).where(CohortUpload.expires_at <= now))
    upload = _upload(session, actor, preview.digest)
    if upload is None:
        session.add(
            CohortUpload(
                actor_id=actor.id,
                digest=preview.digest,
                data=data,
                created_at=now,
                expires_at=now + HOLD_FOR,
            )
        )
    elif upload.imported_at is None:
        upload.data = data
        upload.expires_at = now + HOLD_FOR
    session.flush()
    return preview


def held(session: Session, *, actor: User, digest: str, now: datetime) -> bytes:
    """The bytes ``actor`` uploaded as ``digest``, still waiting; :class:`NotFound` if they
    are not (never uploaded by this person, expired, or imported since)."""
    require_role(actor, *MANAGERS, doing="import a cohort")
    upload = _upload(session, actor, digest)
    if upload is None or upload.data is None or upload.expires_at <= now:
        raise NotFound(
            "This file is no longer waiting to be imported (a file waits a day). Upload it again."
        )
    return upload.data


def _upload(session: Session, actor: User, digest: str) -> CohortUpload | None:
    if len(digest) != 64:
        return None
    return session.scalar(
        select(CohortUpload).where(CohortUpload.actor_id == actor.id, CohortUpload.digest == digest)
    )


def _imported(session: Session, actor: User, digest: str) -> CohortUpload | None:
    upload = _upload(session, actor, digest)
    return upload if upload is not None and upload.imported_at is not None else None


def result_of(session: Session, *, actor: User, digest: str) -> ImportResult:
    """What importing ``digest`` did, for the person who imported it; :class:`NotFound`
    otherwise."""
    require_role(actor, *MANAGERS, doing="import a cohort")
    upload = _imported(session, actor, digest)
    if upload is None:
        raise NotFound("There is no import of this file to show.")
    return ImportResult(upload.id, dict(upload.outcome or {}))


# --- importing -------------------------------------------------------------------------------


class _Refused(Exception):
    """A refusal of an import, carried through :func:`idempotent` so that it is not recorded
    under the file's key: the same file can be confirmed again once the cause is gone (a
    programme reopened, say), where a recorded refusal would be replayed to it for good."""

    def __init__(self, refusal: DomainError) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def import_key(actor: User, digest: str) -> str:
    """The idempotency key of importing the file ``digest`` as ``actor``."""
    return f"cohort-import:{actor.id}:{digest}"


def import_cohort(
    session: Session, *, actor: User, data: bytes, digest: str, now: datetime
) -> ImportResult:
    """Invite everyone in ``data`` (the file whose SHA-256 is ``digest``) in the caller's
    transaction, or nobody: :class:`InvalidInput` if any row has an error now. Once per file
    and actor; a replay invites nobody and says so. A refusal is not recorded against the
    file: confirming it again tries again. Flushes; the caller commits.

    The rows are invited with autoflush off: :func:`invite_person` flushes each step whose
    rows the next one reads, and the flushes before each of its queries besides (a sixth of
    the import's time) had nothing left to write."""
    require_role(actor, *MANAGERS, doing="import a cohort")
    if digest_of(data) != digest:
        raise InvalidInput("This file changed since its preview; upload it again.")
    imported = _imported(session, actor, digest)
    if imported is not None:
        return ImportResult(imported.id, dict(imported.outcome or {}), replayed=True)
    counts: dict[str, int] = {}

    def perform() -> Receipt:
        preview = plan(session, actor=actor, data=data, now=now)
        if not preview.valid:
            noun = "row has an error" if preview.error_count == 1 else "rows have errors"
            raise InvalidInput(
                f"Nothing was imported: {preview.error_count} {noun} now. Upload the file "
                "again to see them."
            )
        held_open = session.scalars(select(Programme).where(Programme.active.is_(True))).all()
        programmes = {programme.code: programme.id for programme in held_open}
        tally = {str(outcome): 0 for outcome in InviteOutcome} | {str(RowAction.UNCHANGED): 0}
        with session.no_autoflush:
            for planned in preview.rows:
                if planned.action is RowAction.UNCHANGED:
                    tally[RowAction.UNCHANGED] += 1
                    continue
                entry = planned.entry
                invited = invite_person(
                    session,
                    actor=actor,
                    details=InvitationDetails(
                        email=entry.email,
                        display_name=entry.name,
                        roles=planned.roles,
                        membership=Membership(
                            programmes[entry.programme], entry.country, entry.cohort_status
                        ),
                    ),
                    now=now,
                )
                tally[invited.outcome] += 1
        counts.update(tally)
        upload = _upload(session, actor, digest)
        if upload is None:
            upload = CohortUpload(actor_id=actor.id, digest=digest, created_at=now)
            session.add(upload)
        upload.data = None
        upload.imported_at = now
        upload.expires_at = now + HOLD_FOR
        upload.outcome = dict(counts)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="cohort.import",
            object_type="cohort_upload",
            object_id=upload.id,
            after={"digest": digest, "rows": len(preview.rows)} | counts,
        )
        return Receipt("cohort.import", object_id=upload.id)

    def perform_unrecorded() -> Receipt:
        try:
            return perform()
        except DomainError as refusal:
            raise _Refused(refusal) from refusal

    try:
        receipt = idempotent(
            session,
            key=import_key(actor, digest),
            actor_id=actor.id,
            operation="cohort.import",
            request={"digest": digest},
            perform=perform_unrecorded,
        )
    except _Refused as refused:
        raise refused.refusal from None
    if not receipt.replayed:
        return ImportResult(receipt.object_id, counts)
    upload = session.get(CohortUpload, receipt.object_id) if receipt.object_id else None
    return ImportResult(
        receipt.object_id, dict(upload.outcome or {}) if upload else {}, replayed=True
    )
