"""Cohort import: a manager or an admin invites a whole cohort of ambassadors from a CSV.

The file has a header row and one row per ambassador: name, email, programme (its code),
country (US or GB) and cohort status (upcoming, current or alumni). Columns may come in
any order; headers are read in any case, with ``_`` or ``-`` for a space.

Three steps, and nothing is written to anyone's account before the last:

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

Spreadsheet formulas in cells: a cell that starts with ``=``, or with ``+``, ``-`` or ``@``
followed anywhere by ``(``, ``!`` or ``|`` (``@SUM(A1)``, ``-2+3+cmd|' /C calc'!A0``), is
refused with its row: it is a formula, not the value a person meant, and taking it as text
would only store what the spreadsheet failed to work out. Any other cell starting with
``+``, ``-`` or ``@`` is text: names such as "-Dash" or "@Sia" are real, and the service
never hands a name back unguarded (every page escapes it; every CSV it writes passes it
through :func:`grants.csv_cells.safe_cell`).

A file the service cannot read as CSV is refused whole with a message that says why: not
UTF-8 (saved in another encoding, or not a CSV at all), no header, a line longer than
:data:`LINE_MAX`, more than :data:`ROWS_MAX` rows or :data:`FILE_MAX` bytes. A byte order
mark at the start (Excel's "CSV UTF-8") is accepted.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.accounts import clean_display_name, normalise_email
from grants.domain.checks import MANAGERS, require_role
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

FILE_MAX = 1_000_000
"""The largest file read, in bytes: about 10,000 rows."""
ROWS_MAX = 10_000
"""The most ambassadors one file may hold."""
LINE_MAX = 2_000
"""The longest line read, in characters: no row of five short cells comes near it."""
HOLD_FOR = timedelta(hours=24)
"""How long an uploaded file waits for its confirmation."""
ERRORS_SHOWN = 500
"""The most row errors a preview lists (it counts them all)."""

COLUMNS = ("name", "email", "programme", "country", "cohort status")
"""The header's columns, as the README and the upload page name them."""
SAMPLE_HEADER = "name,email,programme,country,cohort status"
ALIASES = {"program": "programme", "status": "cohort status", "full name": "name"}
"""Other names read for a column."""
FORMULA_START = "="
TEXT_SIGNS = ("+", "-", "@")
FORMULA_MARKS = ("(", "!", "|")
UTF8_BOM = b"\xef\xbb\xbf"
SAVE_AS_UTF8 = (
    "This file is not in UTF-8. In your spreadsheet, choose Save As (or Download) and "
    "“CSV UTF-8”, then upload that file."
)


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
class RowError:
    """One problem in one row; ``row`` as a spreadsheet numbers it (the header is row 1)."""

    row: int
    column: str
    message: str


@dataclass(frozen=True)
class CohortRow:
    """One ambassador as the file gives them, checked."""

    row: int
    name: str
    email: str
    programme: str
    country: Country
    cohort_status: CohortStatus


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


# --- reading the file ------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The file's text: UTF-8, with or without a byte order mark; anything else refused."""
    if not data.strip():
        raise InvalidInput("This file is empty. Choose the CSV file of the cohort.", field="file")
    if len(data) > FILE_MAX:
        raise InvalidInput(
            f"This file is larger than {FILE_MAX // 1_000_000} MB; split the cohort into "
            "several files.",
            field="file",
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(SAVE_AS_UTF8, field="file")
    if data.startswith(b"PK\x03\x04") or b"\x00" in data:
        raise InvalidInput(
            "This is not a CSV file (it looks like a spreadsheet workbook). "
            + SAVE_AS_UTF8.split(". ", 1)[1],
            field="file",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(SAVE_AS_UTF8, field="file") from None
    return text.removeprefix("\ufeff")


def parse(data: bytes) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """The header (each column's position) and the rows (with their row numbers, blank rows
    left out) of a CSV file; :class:`InvalidInput` for a file that cannot be read."""
    text = decode(data)
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > LINE_MAX:
            raise InvalidInput(
                f"Line {number} is longer than {LINE_MAX:,} characters: this does not look "
                "like a list of ambassadors. Check that you chose the right file.",
                field="file",
            )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                records.append((number, cells))
            if len(records) > ROWS_MAX + 1:
                raise InvalidInput(
                    f"This file has more than {ROWS_MAX:,} rows; split the cohort into "
                    "several files.",
                    field="file",
                )
    except csv.Error:
        raise InvalidInput(
            f"Row {number + 1} cannot be read as CSV: a quotation mark in it is not closed, "
            "or text follows a closing one. Correct it, or save the file again as CSV UTF-8.",
            field="file",
        ) from None
    if not records:
        raise InvalidInput("This file is empty. Choose the CSV file of the cohort.", field="file")
    header = _header(records[0][1])
    return header, records[1:]


def _header(cells: list[str]) -> dict[str, int]:
    names = [_column_name(cell) for cell in cells]
    if len(cells) == 1 and ";" in cells[0]:
        raise InvalidInput(
            "This file separates its columns with semicolons. Save it as “CSV UTF-8 (comma "
            "delimited)” and upload it again.",
            field="file",
        )
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        found = ", ".join(cell.strip() for cell in cells if cell.strip())[:200]
        raise InvalidInput(
            f"The first row must be the header: {SAMPLE_HEADER}. This file's first row is "
            f"“{found}”, without {_listed(missing)}.",
            field="file",
        )
    unknown = [
        cell.strip()
        for cell, name in zip(cells, names, strict=True)
        if name and name not in COLUMNS
    ]
    if unknown:
        raise InvalidInput(
            f"The header has columns this import does not know: {_listed(unknown)[:200]}. "
            f"Keep only {SAMPLE_HEADER}.",
            field="file",
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise InvalidInput(f"The header names {_listed(repeated)} twice.", field="file")
    return {name: names.index(name) for name in COLUMNS}


def _column_name(cell: str) -> str:
    name = " ".join(cell.replace("_", " ").replace("-", " ").split()).lower()
    return ALIASES.get(name, name)


def _listed(names: Sequence[str]) -> str:
    quoted = [f"“{name}”" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


# --- checking the rows -----------------------------------------------------------------------


def is_formula(cell: str) -> bool:
    """Whether ``cell`` is a spreadsheet formula rather than a value (see the module doc)."""
    text = cell.strip()
    if text.startswith(FORMULA_START):
        return True
    return text.startswith(TEXT_SIGNS) and any(mark in text for mark in FORMULA_MARKS)


def check(
    session: Session, header: dict[str, int], records: Iterable[tuple[int, list[str]]]
) -> tuple[list[CohortRow], list[RowError]]:
    """Every row checked: the good ones, and every error of the others (a row with any error
    is left out of the first list). An email address in an earlier row is an error."""
    programmes = sorted(session.scalars(select(Programme.code).where(Programme.active.is_(True))))
    good: list[CohortRow] = []
    errors: list[RowError] = []
    first_seen: dict[str, int] = {}
    for number, cells in records:
        checked = _check_row(number, _cells(header, cells), programmes)
        if isinstance(checked, CohortRow) and checked.email in first_seen:
            checked = [
                RowError(
                    number,
                    "email",
                    f"{checked.email} is also in row {first_seen[checked.email]}: list each "
                    "person once.",
                )
            ]
        if isinstance(checked, CohortRow):
            first_seen[checked.email] = number
            good.append(checked)
        else:
            errors.extend(checked)
    return good, errors


def _cells(header: dict[str, int], cells: list[str]) -> dict[str, str] | None:
    """A row's cells by column, or ``None`` for a row with more cells than the header."""
    if any(cell.strip() for cell in cells[len(header) :]):
        return None
    return {
        column: cells[position] if position < len(cells) else ""
        for column, position in header.items()
    }


def _check_row(
    number: int, values: dict[str, str] | None, programmes: list[str]
) -> CohortRow | list[RowError]:
    if values is None:
        return [RowError(number, "", "This row has more cells than the header has columns.")]
    formulas = [
        RowError(
            number,
            column,
            f"“{value.strip()[:60]}” is a spreadsheet formula, not a {column}: type the "
            f"{column} itself.",
        )
        for column, value in values.items()
        if is_formula(value)
    ]
    if formulas:
        return formulas
    errors: list[RowError] = []
    name = _checked(errors, number, "name", clean_display_name, values["name"])
    email = _checked(errors, number, "email", _email, values["email"])
    code = values["programme"].strip().upper()
    if not code:
        errors.append(RowError(number, "programme", "Enter the programme's code."))
    elif code not in programmes:
        errors.append(
            RowError(
                number,
                "programme",
                f"There is no open programme “{values['programme'].strip()[:40]}”: use "
                f"{_listed(programmes) if programmes else 'an open programme'}.",
            )
        )
    country = _choice(errors, number, "country", values["country"], Country, "US or GB")
    status = _choice(
        errors,
        number,
        "cohort status",
        values["cohort status"],
        CohortStatus,
        "upcoming, current or alumni",
    )
    if errors or name is None or email is None or country is None or status is None:
        return errors
    return CohortRow(number, name, email, code, Country(country), CohortStatus(status))


def _checked(
    errors: list[RowError], row: int, column: str, read: Callable[[str], str], raw: str
) -> str | None:
    try:
        return read(raw)
    except InvalidInput as error:
        errors.append(RowError(row, column, error.message))
        return None


def _email(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidInput as error:
        shown = raw.strip()[:80]
        if not shown:
            raise
        reason = error.message.removeprefix("That is not a valid email address: ")
        raise InvalidInput(f"“{shown}” is not a valid email address: {reason}") from None


def _choice(
    errors: list[RowError],
    row: int,
    column: str,
    raw: str,
    kind: type[StrEnum],
    allowed: str,
) -> str | None:
    text = raw.strip()
    wanted = text.upper() if kind is Country else text.lower()
    if wanted in {member.value for member in kind}:
        return wanted
    if not text:
        errors.append(RowError(row, column, f"Enter the {column}: {allowed}."))
    elif kind is Country and wanted == "UK":
        errors.append(RowError(row, column, "Write the United Kingdom as GB."))
    else:
        errors.append(RowError(row, column, f"“{text[:40]}” is not a {column}: use {allowed}."))
    return None


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
            f"{entry.email} was invited as {_listed(sorted(role.value for role in others))}: "
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
