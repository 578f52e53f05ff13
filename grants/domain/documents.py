"""Documents partners upload with a draft application or an unsubmitted progress report,
and who may read them.

An upload is checked by its content (:func:`grants.domain.upload_checks.inspect_upload`);
what passes is renamed to a random name (:func:`document_path`) and recorded with its
SHA-256 (:func:`keep_upload`, for a partner's document :func:`attach_document`); the web
layer removes the file again if its transaction fails, and after a removal commits
(:func:`remove_document` returns the name to remove).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import require_role
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.upload_checks import FIELD, KINDS, Inspected, clean_filename, inspect_upload
from grants.models import (
    Application,
    ApplicationAnswer,
    ApplicationState,
    Document,
    Grant,
    Redemption,
    ReportingRequirement,
    ReportVersion,
    Role,
    User,
    Wallet,
)

UPLOADS = "uploads"
"""The folder, in the instance folder, that holds the uploaded files."""
MAX_DOCUMENTS = 20
"""The most documents one application or one report version may have."""
READERS = (Role.MANAGER, Role.FINANCE, Role.ADMIN)
"""Who may read every partner's documents."""
STORED_NAME = re.compile(r"[0-9a-f]{32}")


def uploads_folder(instance_path: str | Path) -> Path:
    """The uploads folder of the instance folder ``instance_path`` (not created here)."""
    return Path(instance_path) / UPLOADS


def document_path(folder: str | Path, stored_name: str) -> Path:
    """Where the file stored as ``stored_name`` is kept in ``folder``. Raises
    :class:`ValueError` for anything but a stored name (32 hex digits), so nothing else can
    ever become a path."""
    if not STORED_NAME.fullmatch(stored_name):
        raise ValueError(f"not a stored document name: {stored_name!r}")
    return Path(folder) / stored_name


def attach_document(
    session: Session,
    *,
    actor: User,
    upload_stream: IO[bytes],
    filename: str,
    folder: str | Path,
    max_bytes: int,
    application_id: int | None = None,
    report_version_id: int | None = None,
    now: datetime,
) -> Document:
    """Store the upload read from ``upload_stream`` as a document of draft application
    ``application_id`` or of unsubmitted report version ``report_version_id`` (exactly one).

    Only the partner's own users may: anyone else with the partner role gets
    :class:`NotFound`, other roles :class:`~grants.domain.errors.NotAllowed`. An application
    that is no longer a draft, or a submitted report, is :class:`InvalidState`; one that has
    :data:`MAX_DOCUMENTS` already, or a file refused by :func:`inspect_upload`,
    :class:`InvalidInput`. The file is renamed into ``folder`` before the row is flushed;
    when the caller's transaction fails, the caller removes it.
    """
    require_role(actor, Role.PARTNER, doing="upload documents")
    _lock_draft(session, actor, application_id, report_version_id)
    held = session.scalar(
        select(func.count())
        .select_from(Document)
        .where(
            Document.application_id == application_id
            if application_id is not None
            else Document.report_version_id == report_version_id
        )
    )
    if (held or 0) >= MAX_DOCUMENTS:
        raise InvalidInput(
            f"There can be at most {MAX_DOCUMENTS} documents here; remove one before adding "
            "another.",
            field=FIELD,
        )
    inspected = inspect_upload(upload_stream, max_bytes=max_bytes, folder=folder)
    return keep_upload(
        session,
        inspected,
        actor=actor,
        filename=filename,
        folder=folder,
        action="document.attached",
        now=now,
        partner_id=actor.partner_id,
        application_id=application_id,
        report_version_id=report_version_id,
    )


def keep_upload(
    session: Session,
    inspected: Inspected,
    *,
    actor: User,
    filename: str,
    folder: str | Path,
    action: str,
    now: datetime,
    **owner: int | None,
) -> Document:
    """Rename an inspected upload into ``folder`` by a random name and flush its row,
    belonging to ``owner`` (the document's owning columns), with an audit event ``action``.

    On any failure both the inspected file and the renamed one are removed; once this
    returns, a failure of the caller's transaction is the caller's to clean up.
    """
    final = document_path(folder, secrets.token_hex(16))
    try:
        os.replace(inspected.path, final)
        sync_folder(Path(folder))
        document = Document(
            **owner,
            stored_name=final.name,
            filename=clean_filename(filename, KINDS[inspected.content_type]),
            content_type=inspected.content_type,
            size=inspected.size,
            sha256=inspected.sha256,
            uploaded_by_id=actor.id,
            uploaded_at=now,
        )
        session.add(document)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action=action,
            object_type="document",
            object_id=document.id,
            after=_snapshot(document),
        )
    except BaseException:
        inspected.path.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise
    return document


def readable_document(session: Session, *, actor: User, document_id: int) -> Document:
    """Document ``document_id`` if ``actor`` may read it: a user of its partner with the
    partner role, a manager, finance or an admin; for a provider's invoice, only the person
    who booked the session and finance (it is health information). Anyone else gets
    :class:`NotFound`."""
    document = session.get(Document, document_id)
    if document is not None and document.redemption_id is not None:
        return _readable_invoice(session, actor, document)
    if document is not None and (
        actor.has_role(*READERS)
        or (actor.has_role(Role.PARTNER) and actor.partner_id == document.partner_id)
    ):
        return document
    raise NotFound("There is no such document, or it is not yours to see.")


def _readable_invoice(session: Session, actor: User, document: Document) -> Document:
    """An invoice, for finance or the person whose session it is; anyone else: not found."""
    booked_by = session.scalar(
        select(Wallet.user_id)
        .join(Redemption, Redemption.wallet_id == Wallet.id)
        .where(Redemption.id == document.redemption_id)
    )
    if actor.has_role(Role.FINANCE) or booked_by == actor.id:
        return document
    raise NotFound("There is no such document, or it is not yours to see.")


def remove_document(session: Session, *, actor: User, document_id: int) -> str:
    """Delete document ``document_id`` of a draft application or an unsubmitted report,
    clearing any answer that pointed at it; returns its stored name, whose file the caller
    removes once the transaction commits. Refuses as :func:`attach_document` does."""
    require_role(actor, Role.PARTNER, doing="remove documents")
    document = session.get(Document, document_id)
    if document is None or document.partner_id != actor.partner_id:
        raise NotFound("There is no such document, or it is not yours to see.")
    _lock_draft(session, actor, document.application_id, document.report_version_id)
    session.execute(
        update(ApplicationAnswer)
        .where(ApplicationAnswer.document_id == document.id)
        .values(document_id=None)
    )
    stored_name, before = document.stored_name, _snapshot(document)
    session.delete(document)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="document.removed",
        object_type="document",
        object_id=document_id,
        before=before,
    )
    return stored_name


def _lock_draft(
    session: Session, actor: User, application_id: int | None, report_version_id: int | None
) -> None:
    """Lock the actor's partner's draft application or unsubmitted report version, or
    refuse: :class:`NotFound` when it is missing or another partner's, :class:`InvalidState`
    when it is no longer open to changes."""
    if (application_id is None) == (report_version_id is None):
        raise ValueError("a document belongs to exactly one application or report version")
    if application_id is not None:
        application = session.scalar(
            select(Application)
            .where(Application.id == application_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if application is None or application.partner_id != actor.partner_id:
            raise NotFound("There is no such application, or it is not yours to see.")
        if application.state is not ApplicationState.DRAFT:
            raise InvalidState(
                "This application is no longer a draft, so its documents cannot change."
            )
        return
    version = session.scalar(
        select(ReportVersion)
        .where(ReportVersion.id == report_version_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    partner_id = (
        session.scalar(
            select(Grant.partner_id)
            .join(ReportingRequirement, ReportingRequirement.grant_id == Grant.id)
            .where(ReportingRequirement.id == version.requirement_id)
        )
        if version is not None
        else None
    )
    if version is None or partner_id != actor.partner_id:
        raise NotFound("There is no such report, or it is not yours to see.")
    if version.submitted_at is not None:
        raise InvalidState("This report has been submitted, so its documents cannot change.")


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system lets a folder be opened)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _snapshot(document: Document) -> dict[str, object]:
    """What the audit trail keeps of a document; an invoice's file name is left out (it may
    name the person in therapy)."""
    if document.redemption_id is not None:
        return {
            "redemption_id": document.redemption_id,
            "content_type": document.content_type,
            "size": document.size,
            "sha256": document.sha256,
        }
    return {
        "application_id": document.application_id,
        "report_version_id": document.report_version_id,
        "filename": document.filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
    }
