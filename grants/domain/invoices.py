"""The provider's invoice or receipt for a session: uploaded by the person who booked it,
read by finance beside the request.

An invoice is a document of the uploads (:mod:`grants.domain.documents`), checked by its
content like a partner's, and limited to what an invoice is: a PDF or a photo (PNG or
JPEG). It belongs to the redemption, not to a partner, and only the person who booked the
session and finance may read it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.checks import require_role
from grants.domain.documents import document_path, keep_upload
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.idempotency import Receipt, idempotent
from grants.domain.upload_checks import JPEG, NOT_ACCEPTED, PDF, PNG, inspect_upload
from grants.models import Document, Redemption, RedemptionState, Role, User, Wallet

INVOICE_TYPES = frozenset({PDF.content_type, PNG.content_type, JPEG.content_type})
"""What an invoice may be: a PDF, or a photo or scan as PNG or JPEG."""
MAX_INVOICES = 5
"""The most files one session may carry (an invoice and a receipt or two)."""
FIELD = "invoice"
NOT_AN_INVOICE = "An invoice or receipt must be a PDF, or a photo or scan as PNG or JPEG."


def has_invoice(session: Session, redemption_id: int) -> bool:
    """Whether the session has at least one invoice or receipt."""
    found = session.scalar(select(Document.id).where(Document.redemption_id == redemption_id))
    return found is not None


def invoices_of(session: Session, redemption_id: int) -> list[Document]:
    """The session's invoices and receipts, first uploaded first."""
    return list(
        session.scalars(
            select(Document)
            .where(Document.redemption_id == redemption_id)
            .order_by(Document.uploaded_at, Document.id)
        )
    )


def attach_invoice(
    session: Session,
    *,
    actor: User,
    redemption_id: int,
    upload_stream: IO[bytes],
    filename: str,
    folder: str | Path,
    max_bytes: int,
    now: datetime,
) -> Document:
    """Store the upload as the invoice of the actor's own session ``redemption_id``, while
    finance has not decided it.

    Someone else's session is :class:`NotFound`; a decided one :class:`InvalidState`; a
    file that is not a PDF, PNG or JPEG by its content, or a sixth file,
    :class:`InvalidInput`. The file is renamed into ``folder`` before the row is flushed;
    when the caller's transaction fails, the caller removes it.
    """
    require_role(actor, Role.AMBASSADOR, Role.RECIPIENT, doing="add an invoice")
    redemption = session.scalar(
        select(Redemption)
        .join(Wallet, Wallet.id == Redemption.wallet_id)
        .where(Redemption.id == redemption_id, Wallet.user_id == actor.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if redemption is None:
        raise NotFound("There is no such session request.")
    if redemption.state is not RedemptionState.REQUESTED:
        raise InvalidState(
            f"Finance has decided this session ({redemption.state.value}); its invoice can no "
            "longer change."
        )
    if len(invoices_of(session, redemption_id)) >= MAX_INVOICES:
        raise InvalidInput(
            f"A session carries at most {MAX_INVOICES} files; this one has them already.",
            field=FIELD,
        )
    try:
        inspected = inspect_upload(upload_stream, max_bytes=max_bytes, folder=folder)
    except InvalidInput as refused:
        if refused.message == NOT_ACCEPTED:
            raise InvalidInput(NOT_AN_INVOICE, field=FIELD) from None
        raise InvalidInput(refused.message, field=FIELD) from None
    if inspected.content_type not in INVOICE_TYPES:
        inspected.path.unlink(missing_ok=True)
        raise InvalidInput(NOT_AN_INVOICE, field=FIELD)
    return keep_upload(
        session,
        inspected,
        actor=actor,
        filename=filename,
        folder=folder,
        action="invoice.attached",
        now=now,
        partner_id=None,
        redemption_id=redemption_id,
    )


def attach_invoice_once(
    session: Session,
    *,
    key: str,
    actor: User,
    redemption_id: int,
    upload_stream: IO[bytes],
    filename: str,
    folder: str | Path,
    max_bytes: int,
    now: datetime,
) -> tuple[Document, bool]:
    """:func:`attach_invoice` once per idempotency ``key``: the same form sent again (a
    double click, a page sent anew) gives back the document the first stored, and ``True``
    for a replay; its own copy of the file is never stored (one that raced the first and lost
    is removed again). The
    same key with another file or session is refused
    (:class:`~grants.domain.errors.IdempotencyConflict`)."""
    stored: list[Document] = []

    def perform() -> Receipt:
        document = attach_invoice(
            session,
            actor=actor,
            redemption_id=redemption_id,
            upload_stream=upload_stream,
            filename=filename,
            folder=folder,
            max_bytes=max_bytes,
            now=now,
        )
        stored.append(document)
        return Receipt("invoice.attach", object_id=document.id)

    receipt = idempotent(
        session,
        key=key,
        actor_id=actor.id,
        operation="invoice.attach",
        request={"redemption": redemption_id, "file": filename},
        perform=perform,
    )
    if stored and stored[0].id == receipt.object_id:
        return stored[0], False
    for lost in stored:
        document_path(folder, lost.stored_name).unlink(missing_ok=True)
    found = session.get(Document, receipt.object_id)
    if found is None:
        raise NotFound("That invoice is gone.")
    return found, True
