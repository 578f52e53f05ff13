"""Attaching a document to a draft application or report version from the partner portal.

The upload views are marked with :func:`grants.web.documents.upload_view`, so their body may
be as large as ``UPLOAD_MAX_BYTES``. A stored file whose transaction does not commit is
removed again, so no file is left that no row names.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from flask_login import current_user

from grants import clock
from grants.domain import applications, documents
from grants.domain.errors import DomainError, InvalidInput
from grants.extensions import db
from grants.models import Document
from grants.web.actions import accepted, attempt
from grants.web.documents import discard_file, uploads_folder
from grants.web.partner.forms import UploadForm


def upload_document(
    *,
    application_id: int | None = None,
    report_version: Callable[[], int] | None = None,
    answers: Callable[[UploadForm], int | None] | None = None,
) -> Document | DomainError:
    """Store the request's upload as a document of the application, or of the report
    version ``report_version`` gives (in the same transaction, so a refused upload begins
    no version); for an application, ``answers`` names the file question it answers, if
    any. The document, committed, or the refusal (nothing stored)."""
    form = UploadForm()
    if not accepted(form):
        return InvalidInput("Choose a file to upload.", field="document")
    upload = form.document.data
    folder = uploads_folder()
    stored: list[str] = []

    def operation() -> Document:
        report_version_id = report_version() if report_version is not None else None
        document = documents.attach_document(
            db.session(),
            actor=current_user,
            upload_stream=upload.stream,
            filename=upload.filename or "",
            folder=folder,
            max_bytes=int(current_app.config["UPLOAD_MAX_BYTES"]),
            application_id=application_id,
            report_version_id=report_version_id,
            now=clock.now(),
        )
        stored.append(document.stored_name)
        question_id = answers(form) if answers is not None else None
        if application_id is not None and question_id is not None:
            applications.link_answer_document(
                db.session(),
                actor=current_user,
                application_id=application_id,
                question_id=question_id,
                document_id=document.id,
                now=clock.now(),
            )
        return document

    try:
        outcome = attempt(operation)
    except BaseException:
        for name in stored:
            discard_file(folder, name)
        raise
    if isinstance(outcome, DomainError):
        for name in stored:
            discard_file(folder, name)
    return outcome


def remove(document_id: int) -> str | DomainError:
    """Remove a document of a draft; its file goes once the removal is committed. The
    document's filename, or the refusal."""
    removed: list[tuple[str, str]] = []

    def operation() -> str:
        found = documents.readable_document(
            db.session(), actor=current_user, document_id=document_id
        )
        filename = found.filename
        removed.append(
            (
                documents.remove_document(
                    db.session(), actor=current_user, document_id=document_id
                ),
                filename,
            )
        )
        return filename

    outcome = attempt(operation)
    if not isinstance(outcome, DomainError):
        for stored_name, _ in removed:
            discard_file(uploads_folder(), stored_name)
    return outcome
