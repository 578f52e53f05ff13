"""Cohort import on the managers' screens: upload, preview with row-numbered problems,
confirmation, the result; bad files answered with a clear message and nothing written;
only managers and admins, and only the uploader's own file; invitations sent by email."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import EnvironBuilder, TestResponse

from grants.domain.invitations import INVITATION_EMAIL
from grants.models import CohortUpload, Invitation, OutboxMessage, Role, User
from tests.factories import make_ambassador, make_programme, make_user
from tests.support import form_fields, sign_in
from tests.wallets import body_of, outbox

UPLOAD = "/manager/cohort-import"
HEADER = "name,email,programme,country,cohort status\r\n"
GOOD = HEADER + (
    "Ana Lima,ana@example.org,GLOW,US,current\r\n"
    "Bo Reyes,Bo@Example.org,RADAR,GB,upcoming\r\n"
    "-Dash,dash@example.org,GLOW,US,alumni\r\n"
)


@pytest.fixture
def people(db: Session) -> dict[str, str]:
    make_programme(db, "GLOW")
    make_programme(db, "RADAR")
    found = {
        "manager": make_user(db, Role.MANAGER).email,
        "admin": make_user(db, Role.ADMIN).email,
        "finance": make_user(db, Role.FINANCE).email,
        "ambassador": make_ambassador(db).user.email,
        "other manager": make_user(db, Role.MANAGER).email,
    }
    db.commit()
    return found


def upload(client: FlaskClient, data: bytes, name: str = "cohort.csv") -> TestResponse:
    """Post ``data`` as the upload form's file. The request body is built here so that its
    temporary file (a large body is spooled to disk) is closed after the request."""
    fields: dict[str, object] = {**form_fields(client, UPLOAD), "file": (io.BytesIO(data), name)}
    builder = EnvironBuilder(path=UPLOAD, method="POST", data=fields)
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def page(response: TestResponse) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def written(db: Session) -> tuple[int, int, int]:
    db.rollback()
    return (
        db.scalar(select(func.count()).select_from(User)) or 0,
        db.scalar(select(func.count()).select_from(Invitation)) or 0,
        db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == INVITATION_EMAIL)
        )
        or 0,
    )


def test_upload_preview_confirm_and_result(app: Flask, db: Session, people: dict[str, str]) -> None:
    client = sign_in(app, people["manager"])
    assert "name,email,programme,country,cohort status" in page(client.get(UPLOAD))
    before = written(db)

    sent = upload(client, GOOD.encode())
    assert sent.status_code == 303
    preview_url = sent.headers["Location"]
    shown = page(client.get(preview_url))
    assert "3 people will get an invitation email." in shown
    assert "Import 3 rows" in shown
    assert "-Dash" in shown
    assert "bo@example.org" in shown
    assert written(db) == before, "nothing is written before the confirmation"

    done = client.post(preview_url, data=form_fields(client, preview_url))
    assert done.status_code == 303
    result = page(client.get(done.headers["Location"]))
    assert "3 invited." in result
    assert "3 invitation emails are on their way" in result
    assert written(db) == (before[0] + 3, before[1] + 3, before[2] + 3)

    emails = outbox(app)
    assert sorted(message["To"] for message in emails) == [
        "ana@example.org",
        "bo@example.org",
        "dash@example.org",
    ]
    text = next(
        body_of(part) for part in emails[0].walk() if part.get_content_type() == "text/plain"
    )
    assert "/invitations/" in text


def test_confirming_twice_invites_nobody_twice(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    client = sign_in(app, people["admin"])
    preview_url = upload(client, GOOD.encode()).headers["Location"]
    confirmation = form_fields(client, preview_url)
    assert client.post(preview_url, data=confirmation).status_code == 303
    after = written(db)
    again = client.post(preview_url, data=confirmation, follow_redirects=True)
    assert "already imported: nobody was invited again" in page(again)
    assert written(db) == after
    reupload = upload(client, GOOD.encode())
    shown = page(client.get(reupload.headers["Location"]))
    assert "You imported this same file already" in shown
    assert "3 invited." in shown
    assert written(db) == after


def test_errors_are_listed_by_row_and_nothing_can_be_imported(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    client = sign_in(app, people["manager"])
    bad = HEADER + (
        "Ana Lima,ana@example.org,GLOW,US,current\r\n"
        "Bo,not-an-email,GLOW,US,current\r\n"
        "Cy,cy@example.org,JAZZ,US,current\r\n"
        "Di,di@example.org,GLOW,FR,current\r\n"
        "Ed,ANA@example.org,GLOW,US,current\r\n"
        "=1+1,f@example.org,GLOW,US,current\r\n"
    )
    before = written(db)
    preview_url = upload(client, bad.encode()).headers["Location"]
    shown = page(client.get(preview_url))
    assert "5 problems in 6 rows" in shown
    for row, column, message in (
        (3, "email", "“not-an-email” is not a valid email address"),
        (4, "programme", "There is no open programme “JAZZ”"),
        (5, "country", "“FR” is not a country: use US or GB."),
        (6, "email", "ana@example.org is also in row 2: list each person once."),
        (7, "name", "“=1+1” is a spreadsheet formula"),
    ):
        assert re.search(
            rf'<td class="num">{row}</td> ?<td>{column}</td> ?<td>{re.escape(message)}', shown
        ), (row, message)
    assert "will get an invitation email" not in shown
    assert '<button type="submit" class="button">Import' not in shown
    forced = client.post(preview_url, data=form_fields(client, UPLOAD) | {"key": "k-1"})
    assert forced.status_code == 422
    assert "Nothing was imported: 5 rows have errors now" in page(forced)
    assert written(db) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Zoë,zoe@example.org,GLOW,US,current\r\n".encode("latin-1"), "“CSV UTF-8”"),
        (HEADER.encode("utf-16"), "“CSV UTF-8”"),
        (b"Ana,ana@example.org,GLOW,US,current\r\n", "The first row must be the header"),
        (b"name,email\r\n" + b"x" * 900_000, "Line 2 is longer than 2,000 characters"),
        (b"", "Choose the CSV file of the cohort."),
    ],
    ids=["latin-1", "utf-16", "no header", "one long line", "empty"],
)
def test_a_file_that_cannot_be_read_is_refused_on_the_upload_page(
    app: Flask, db: Session, people: dict[str, str], data: bytes, message: str
) -> None:
    client = sign_in(app, people["manager"])
    before = written(db)
    answer = upload(client, data)
    assert answer.status_code == 422
    shown = page(answer)
    assert message in shown
    assert '<input type="file" id="file" name="file"' in shown
    assert written(db) == before
    db.rollback()
    assert db.scalar(select(func.count()).select_from(CohortUpload)) == 0


def test_ten_megabytes_are_answered_413_with_the_upload_page(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    client = sign_in(app, people["manager"])
    answer = upload(client, b"name," + b"x" * (10 * 1024 * 1024))
    assert answer.status_code == 413
    shown = page(answer)
    assert "This file is larger than 1 MB" in shown
    assert "Traceback" not in shown
    assert written(db)[0] == db.scalar(select(func.count()).select_from(User))


def test_a_byte_order_mark_is_read_as_excel_writes_it(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    client = sign_in(app, people["manager"])
    sent = upload(
        client,
        b"\xef\xbb\xbf"
        + "Zoë Núñez,zoe@example.org,GLOW,GB,current\r\n".join([HEADER, ""]).encode(),
    )
    assert sent.status_code == 303
    shown = page(client.get(sent.headers["Location"]))
    assert "Zoë Núñez" in shown
    assert "Import 1 row" in shown


def test_existing_people_are_updated_not_duplicated(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    client = sign_in(app, people["manager"])
    preview_url = upload(client, GOOD.encode()).headers["Location"]
    client.post(preview_url, data=form_fields(client, preview_url))
    users = written(db)[0]
    changed = GOOD.replace("Ana Lima,ana@example.org,GLOW", "Ana Lima-Sousa,ANA@EXAMPLE.ORG,RADAR")
    changed += f"Manny,{people['ambassador'].upper()},GLOW,US,current\r\n"
    second = upload(client, changed.encode()).headers["Location"]
    shown = page(client.get(second))
    assert "Invited again: details updated, a new link sent" in shown
    assert "Already has an account: left as it is" in shown
    client.post(second, data=form_fields(client, second))
    result = page(client.get(second))
    assert (
        "1 invited again with updated details, 2 already invited with these details, 1 "
        "already active." in result
    )
    assert written(db)[0] == users
    db.rollback()
    ana = db.scalars(select(User).where(User.email == "ana@example.org")).one()
    assert ana.display_name == "Ana Lima-Sousa"


@pytest.mark.parametrize("role", ["finance", "ambassador"])
def test_other_roles_cannot_import(
    app: Flask, db: Session, people: dict[str, str], role: str
) -> None:
    client = sign_in(app, people[role])
    assert client.get(UPLOAD).status_code == 403
    manager = sign_in(app, people["manager"])
    preview_url = upload(manager, GOOD.encode()).headers["Location"]
    assert client.get(preview_url).status_code == 403
    assert client.post(preview_url, data={}).status_code in (400, 403)
    assert written(db)[1] == 0


def test_a_file_is_for_its_uploader_only(app: Flask, db: Session, people: dict[str, str]) -> None:
    preview_url = upload(sign_in(app, people["manager"]), GOOD.encode()).headers["Location"]
    other = sign_in(app, people["other manager"])
    answer = other.get(preview_url)
    assert answer.status_code == 404
    assert "no longer waiting to be imported" in page(answer)
    fields = form_fields(other, UPLOAD) | {"key": "k-other"}
    assert other.post(preview_url, data=fields).status_code == 404
    assert written(db)[1] == 0
    assert other.get("/manager/cohort-import/not-a-digest").status_code == 404


def test_posts_without_a_csrf_token_are_refused(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    client = sign_in(app, people["manager"])
    refused = client.post(
        UPLOAD,
        data={"file": (io.BytesIO(GOOD.encode()), "cohort.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    db.rollback()
    assert db.scalar(select(func.count()).select_from(CohortUpload)) == 0
    preview_url = upload(client, GOOD.encode()).headers["Location"]
    key = form_fields(client, preview_url)["key"]
    assert client.post(preview_url, data={"key": key}).status_code == 400
    assert written(db)[1] == 0


def test_the_dashboard_and_the_people_page_link_to_the_import(
    app: Flask, db: Session, people: dict[str, str]
) -> None:
    assert f'href="{UPLOAD}"' in page(sign_in(app, people["manager"]).get("/manager/"))
    assert f'href="{UPLOAD}"' in page(sign_in(app, people["admin"]).get("/admin/users"))
