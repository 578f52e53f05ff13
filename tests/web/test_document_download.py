"""Downloading a partner's document: only for its partner's people and staff (404 for anyone
else), always as an attachment with headers that let nothing run, the very bytes uploaded,
and never a file that no longer matches its row. And the body limit of upload requests."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from flask import Flask, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.test import EnvironBuilder

from grants.domain.documents import attach_document, document_path
from grants.web.documents import allow_upload_body, discard_file, upload_view, uploads_folder
from tests.domain.test_documents import NOW, Portal, build_portal, office, pdf
from tests.factories import make_ambassador
from tests.support import csrf_token, sign_in

MiB = 1024 * 1024


@dataclass(frozen=True)
class Stored:
    """A document attached and committed: its id, the bytes uploaded, the people."""

    id: int
    content: bytes
    stored_name: str
    portal: Portal
    ambassador: str


def store(app: Flask, db: Session, content: bytes, filename: str) -> Stored:
    portal = build_portal(db)
    ambassador = make_ambassador(db, email="amb@example.org").user.email
    with app.test_request_context():
        folder = uploads_folder()
    document = attach_document(
        db,
        actor=portal.user,
        upload_stream=io.BytesIO(content),
        filename=filename,
        folder=folder,
        max_bytes=app.config["UPLOAD_MAX_BYTES"],
        application_id=portal.application.id,
        now=NOW,
    )
    db.commit()
    return Stored(document.id, content, document.stored_name, portal, ambassador)


@pytest.fixture
def stored(app: Flask, db: Session) -> Stored:
    return store(app, db, pdf(), "Annual report.pdf")


def test_the_partner_gets_the_bytes_uploaded_as_an_attachment(app: Flask, stored: Stored) -> None:
    client = sign_in(app, stored.portal.user.email)
    response = client.get(f"/documents/{stored.id}", buffered=True)
    assert response.status_code == 200
    assert response.data == stored.content
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Length"] == str(len(stored.content))
    assert response.headers["Content-Disposition"] == 'attachment; filename="Annual report.pdf"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers


def test_a_colleague_and_staff_may_read_it(app: Flask, stored: Stored) -> None:
    portal = stored.portal
    for person in (portal.colleague, portal.manager, portal.finance, portal.admin):
        response = sign_in(app, person.email).get(f"/documents/{stored.id}", buffered=True)
        assert response.status_code == 200, person.email
        assert response.data == stored.content


def test_anyone_else_gets_404(app: Flask, stored: Stored) -> None:
    for email in (stored.portal.stranger.email, stored.ambassador):
        response = sign_in(app, email).get(f"/documents/{stored.id}", buffered=True)
        assert response.status_code == 404, email
        assert stored.content not in response.data
    manager = sign_in(app, stored.portal.manager.email)
    assert manager.get(f"/documents/{stored.id + 1}", buffered=True).status_code == 404
    anonymous = app.test_client().get(f"/documents/{stored.id}", buffered=True)
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]


def test_a_name_beyond_ascii_is_offered_as_rfc_5987(app: Flask, db: Session) -> None:
    name = "Übersicht \u2013 Haushalt 2026.docx"
    stored = store(app, db, office("word"), name)
    response = sign_in(app, stored.portal.user.email).get(f"/documents/{stored.id}", buffered=True)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(name)}" in disposition
    assert 'filename="Ubersicht  Haushalt 2026.docx"' in disposition
    assert response.headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )


def test_a_file_that_no_longer_matches_its_row_is_a_logged_500(
    app: Flask, stored: Stored, caplog: pytest.LogCaptureFixture
) -> None:
    path = document_path(uploads_folder(app), stored.stored_name)
    path.write_bytes(stored.content.replace(b"Producer", b"Pr0ducer"))
    client = sign_in(app, stored.portal.user.email)
    with caplog.at_level(logging.ERROR):
        response = client.get(f"/documents/{stored.id}", buffered=True)
    assert response.status_code == 500
    assert b"Pr0ducer" not in response.data
    assert "does not match its size and SHA-256" in caplog.text

    discard_file(app, stored.stored_name)
    assert not path.exists()
    with caplog.at_level(logging.ERROR):
        assert client.get(f"/documents/{stored.id}", buffered=True).status_code == 500
    assert "is missing" in caplog.text


# The body limit of upload requests.


@pytest.fixture
def upload_app(make_app) -> Flask:  # type: ignore[no-untyped-def]
    """An app with an upload view (marked), a plain form view, and a view that raises the
    limit too late."""
    app: Flask = make_app(UPLOAD_MAX_BYTES=2 * MiB)

    @upload_view
    def take_upload() -> ResponseReturnValue:
        allow_upload_body()
        return f"{len(request.files['file'].read())} bytes"

    def plain_form() -> ResponseReturnValue:
        return "ok"

    def late_upload() -> ResponseReturnValue:
        allow_upload_body()
        return "never"

    app.add_url_rule("/test/upload", view_func=take_upload, methods=["POST"])
    app.add_url_rule("/test/plain", view_func=plain_form, methods=["POST"])
    app.add_url_rule("/test/late", view_func=late_upload, methods=["POST"])
    return app


def post_file(app: Flask, url: str, size: int) -> tuple[int, str]:
    """Post ``size`` bytes as a form's file to ``url``. The body is built here so that its
    temporary file (a large body is spooled to disk) is closed after the request."""
    client = app.test_client()
    fields = {
        "csrf_token": csrf_token(client, "/login"),
        "file": (io.BytesIO(bytes(size)), "a.png"),
    }
    builder = EnvironBuilder(path=url, method="POST", data=fields)
    environ = builder.get_environ()
    try:
        response = client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()
    return response.status_code, response.get_data(as_text=True)


def test_upload_views_take_bodies_over_the_ordinary_limit(upload_app: Flask) -> None:
    assert upload_app.config["MAX_CONTENT_LENGTH"] == MiB
    assert post_file(upload_app, "/test/upload", 2 * MiB) == (200, f"{2 * MiB} bytes")


def test_every_other_view_keeps_the_ordinary_limit(upload_app: Flask) -> None:
    status, page = post_file(upload_app, "/test/plain", MiB + 1)
    assert status == 413
    assert "larger than this service accepts" in page
    assert "2 MB" not in page


def test_a_body_over_the_upload_limit_gets_a_413_naming_it(upload_app: Flask) -> None:
    status, page = post_file(upload_app, "/test/upload", 2 * MiB + 64 * 1024 + 1)
    assert status == 413
    assert "This file is larger than 2 MB, the most one upload can be" in page
    assert "Nothing was saved." in page


def test_the_default_upload_limit_is_named_on_its_413(app: Flask) -> None:
    app.add_url_rule(
        "/test/upload", view_func=upload_view(lambda: "ok"), endpoint="up", methods=["POST"]
    )
    status, page = post_file(app, "/test/upload", 21 * MiB)
    assert status == 413
    assert "This file is larger than 20 MB, the most one upload can be" in page


def test_raising_the_limit_after_the_form_was_read_is_a_clear_error(upload_app: Flask) -> None:
    with pytest.raises(RuntimeError, match="mark the view 'late_upload' with @upload_view"):
        post_file(upload_app, "/test/late", 10)
