"""Cohort import: a manager or an admin uploads a CSV of ambassadors, reads the preview of
every row, and confirms it; everyone is invited at once, or nobody.

The upload is kept server-side by the file's SHA-256 (:mod:`grants.domain.cohort_import`
says why); after it the browser is sent to the file's own page, which shows the preview
(worked out again from the kept file, so reloading it sends nothing twice), and once the
file is imported, what the import did.
"""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.file import FileField
from werkzeug.exceptions import RequestEntityTooLarge

from grants import clock
from grants.domain import cohort_import
from grants.domain.checks import MANAGERS
from grants.domain.cohort_file import FILE_MAX, ROWS_MAX, SAMPLE_HEADER
from grants.domain.cohort_import import Preview, RowAction
from grants.domain.errors import DomainError
from grants.extensions import db
from grants.web import roles_required
from grants.web.actions import ConfirmForm, PlainTextForm, attempt, confirm, read, refusal_status
from grants.web.errors import render_error
from grants.web.manager.blueprint import bp

PREVIEW_ROWS = 200
"""The most rows the preview's table lists (the counts cover them all)."""


class UploadForm(PlainTextForm):
    """The cohort's CSV file."""

    file = FileField("CSV file")


def _upload_page(form: UploadForm, status: int = 200) -> ResponseReturnValue:
    page = render_template(
        "manager/cohort_import.html",
        form=form,
        header=SAMPLE_HEADER,
        file_max=FILE_MAX,
        rows_max=ROWS_MAX,
    )
    return page, status


@bp.route("/cohort-import", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def cohort_import_upload() -> ResponseReturnValue:
    """The upload form; a file sent is read, checked and kept, and the browser sent to its
    preview. A file that cannot be read is refused here, with why."""
    form = UploadForm()
    if request.method == "GET":
        return _upload_page(form)
    if not form.validate_on_submit():
        return _upload_page(form, 422)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.file.errors = ["Choose the CSV file of the cohort."]
        return _upload_page(form, 422)
    try:
        data = upload.read(FILE_MAX + 1)
    finally:
        upload.close()
    held = attempt(
        lambda: cohort_import.hold(db.session(), actor=current_user, data=data, now=clock.now())
    )
    if isinstance(held, DomainError):
        form.file.errors = [held.message]
        return _upload_page(form, refusal_status(held))
    if held.already_imported:
        flash("You imported this same file already: here is what it did. Nobody is invited twice.")
    return redirect(url_for("manager.cohort_import_file", digest=held.digest), 303)


@bp.route("/cohort-import/<digest>", methods=["GET"])
@roles_required(*MANAGERS)
def cohort_import_file(digest: str) -> ResponseReturnValue:
    """A kept file's preview with its confirmation, or, once imported, what importing it did."""
    now = clock.now()
    done = read(lambda: cohort_import.result_of(db.session(), actor=current_user, digest=digest))
    if not isinstance(done, DomainError):
        return render_template("manager/cohort_import_done.html", counts=done.counts)
    preview = read(lambda: _preview(digest, now))
    if isinstance(preview, DomainError):
        return render_error(refusal_status(preview), "Not found", preview.message)
    return _preview_page(preview, ConfirmForm())


@bp.route("/cohort-import/<digest>", methods=["POST"])
@roles_required(*MANAGERS)
def cohort_import_confirm(digest: str) -> ResponseReturnValue:
    """Import the kept file: everyone in it invited, or nobody; once."""
    form = ConfirmForm()
    now = clock.now()
    session = db.session()
    imported = read(lambda: cohort_import.result_of(session, actor=current_user, digest=digest))
    if not isinstance(imported, DomainError):
        flash("This file was already imported: nobody was invited again.", "success")
        return redirect(url_for("manager.cohort_import_file", digest=digest), 303)
    data = read(lambda: cohort_import.held(session, actor=current_user, digest=digest, now=now))
    if isinstance(data, DomainError):
        return render_error(refusal_status(data), "Not found", data.message)

    def perform(_key: str) -> cohort_import.ImportResult:
        return cohort_import.import_cohort(
            session, actor=current_user, data=data, digest=digest, now=now
        )

    outcome = confirm(perform, form)
    if isinstance(outcome, DomainError):
        preview = read(lambda: _preview(digest, now))
        if isinstance(preview, DomainError):
            return render_error(refusal_status(outcome), "Nothing was imported", outcome.message)
        form.form_errors.append(outcome.message)
        return _preview_page(preview, form, refusal_status(outcome))
    if outcome.replayed:
        flash("This file was already imported: nobody was invited again.", "success")
    return redirect(url_for("manager.cohort_import_file", digest=digest), 303)


def _preview(digest: str, now: datetime) -> Preview:
    """The preview of the file ``digest`` the current user uploaded, worked out again."""
    session = db.session()
    data = cohort_import.held(session, actor=current_user, digest=digest, now=now)
    return cohort_import.plan(session, actor=current_user, data=data, now=now)


def _preview_page(preview: Preview, form: ConfirmForm, status: int = 200) -> ResponseReturnValue:
    page = render_template(
        "manager/cohort_import_preview.html",
        preview=preview,
        form=form,
        actions=list(RowAction),
        shown=preview.rows[:PREVIEW_ROWS],
        header=SAMPLE_HEADER,
    )
    return page, status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """An upload over the request limit: the upload page again, saying so; on any other of
    the managers' pages, the plain error page."""
    if request.endpoint != "manager.cohort_import_upload":
        return render_error(413, "Too large", "What you sent is larger than this service accepts.")
    form = UploadForm(formdata=None, meta={"csrf": True})
    form.file.errors = [
        f"This file is larger than {FILE_MAX // 1_000_000} MB, the most one upload can be. "
        "Split the cohort into several files. Nothing was imported."
    ]
    return _upload_page(form, 413)
