"""Partners' documents on the web: the download, and what an upload view needs.

An upload view is marked with :func:`upload_view` and calls :func:`allow_upload_body`
first: its request may then carry ``UPLOAD_MAX_BYTES`` and 64 KiB for the rest of its form,
while every other request stays within ``MAX_CONTENT_LENGTH``. (Flask-WTF's CSRF check reads
the form before any view runs, so the mark raises the limit ahead of it; a 413 on such a
request names the upload limit, see :func:`upload_limit_message`.) The view then calls
:func:`~grants.domain.documents.attach_document` with ``folder=uploads_folder()``; if its
commit fails it calls :func:`discard_file` with the document's stored name, as it does after
:func:`~grants.domain.documents.remove_document` commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, has_request_context, request, send_file
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from grants.domain import documents, upload_checks
from grants.domain.errors import NotFound
from grants.extensions import db
from grants.models import Document

bp = Blueprint("documents", __name__)

UPLOAD_FORM_OVERHEAD = 64 * 1024
"""Room an upload request has beyond the file itself, for the rest of its form."""
UPLOAD_MARK = "accepts_uploads"
"""The attribute :func:`upload_view` sets on a view."""
DOWNLOAD_POLICY = "default-src 'none'; sandbox"
"""A downloaded document may run nothing and load nothing, should a browser ever show it."""

View = TypeVar("View", bound=Callable[..., Any])


def upload_body_limit() -> int:
    """The largest body an upload request may carry: ``UPLOAD_MAX_BYTES`` and
    :data:`UPLOAD_FORM_OVERHEAD`."""
    return int(current_app.config["UPLOAD_MAX_BYTES"]) + UPLOAD_FORM_OVERHEAD


def allow_upload_body() -> None:
    """Let this request's body be as large as an upload's (:func:`upload_body_limit`).

    Raises :class:`RuntimeError` when the body was already read under the ordinary limit:
    the view must then be marked with :func:`upload_view`, which raises the limit before
    the CSRF check reads the form."""
    limit = upload_body_limit()
    if request.max_content_length == limit:
        return
    if "stream" in vars(request):
        raise RuntimeError(
            "allow_upload_body() came after the request body was read (the CSRF check reads "
            f"it before any view): mark the view {request.endpoint!r} with @upload_view."
        )
    request.max_content_length = limit


def upload_view(view: View) -> View:
    """Mark ``view`` as taking uploads: its requests get the upload body limit before the
    form is read. Place it nearest the function, below ``route`` and the role checks."""
    setattr(view, UPLOAD_MARK, True)
    return view


def is_upload_request() -> bool:
    """Whether the current request goes to a view marked with :func:`upload_view`."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, UPLOAD_MARK, False))


@bp.record_once
def _raise_limit_first(state: BlueprintSetupState) -> None:
    """Run :func:`_upload_limit` before every other hook of the app, CSRF's included."""
    state.app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)


def _upload_limit() -> None:
    if is_upload_request():
        allow_upload_body()


def upload_limit_message() -> str | None:
    """The 413 page's message for an upload request, naming the limit; ``None`` for any
    other request."""
    if not has_request_context():
        return None
    if not is_upload_request() and request.max_content_length != upload_body_limit():
        return None
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    return f"{upload_checks.too_large_message(limit)} Nothing was saved."


def uploads_folder(app: Flask | None = None) -> Path:
    """The folder of uploaded files, in ``app``'s (or the current app's) instance folder;
    created if missing."""
    folder = documents.uploads_folder((app or current_app).instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def discard_file(app_or_folder: Flask | str | Path, stored_name: str) -> None:
    """Remove the file stored as ``stored_name``, in ``app_or_folder`` (an app, whose
    uploads folder is meant, or the folder itself), if it is there."""
    if isinstance(app_or_folder, Flask):
        folder = documents.uploads_folder(app_or_folder.instance_path)
    else:
        folder = Path(app_or_folder)
    documents.document_path(folder, stored_name).unlink(missing_ok=True)


@bp.route("/documents/<int:document_id>")
@login_required
def download(document_id: int) -> ResponseReturnValue:
    """Document ``document_id`` as an attachment, for whoever may read it (404 for anyone
    else); never shown in the browser. A file that no longer matches its row is a logged
    500, never a wrong file sent."""
    try:
        document = documents.readable_document(
            db.session(), actor=current_user, document_id=document_id
        )
    except NotFound:
        abort(404)
    file = _checked_file(document)
    response = send_file(
        file,
        mimetype=document.content_type,
        as_attachment=True,
        download_name=document.filename,
        conditional=False,
        etag=False,
    )
    response.content_length = document.size
    response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _checked_file(document: Document) -> IO[bytes]:
    """The document's file, open at its start, once its size and SHA-256 match the row's."""
    path = documents.document_path(uploads_folder(), document.stored_name)
    try:
        file = path.open("rb")
    except FileNotFoundError:
        current_app.logger.error("Document %s: its file %s is missing.", document.id, path)
        abort(500)
    digest = hashlib.sha256()
    size = 0
    while chunk := file.read(upload_checks.CHUNK):
        size += len(chunk)
        digest.update(chunk)
    if size != document.size or digest.hexdigest() != document.sha256:
        file.close()
        current_app.logger.error(
            "Document %s: its file %s does not match its size and SHA-256 (%s bytes, %s).",
            document.id,
            path,
            size,
            digest.hexdigest(),
        )
        abort(500)
    file.seek(0)
    return file
