"""The partner portal keeps each organisation to its own: another organisation's people, a
partner's person without an organisation, a deactivated organisation and the managers'
screens, tried with whole, valid forms (a token and a key of the sender's own), so that the
only thing wrong with each request is whose object it names.

The world (``tests/security/world.py``): Backline's person (A, the world's ``partner``
visitor) has a draft application with a document, a grant with a report being written (a
document attached) and a tranche; Music Minds Matter's person (B, ``foreign_partner``) has
a submitted application with a document and a grant whose report is submitted. Every
attempt answers 404, as for an object that does not exist (403 for a screen of another
role), shows nothing of the object, and leaves every row of the database and every stored
file as it was.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.partners import set_partner_active
from grants.models import (
    Application,
    ApplicationState,
    Document,
    Partner,
    ReportingRequirement,
    ReportState,
    ReportVersion,
    Role,
    User,
)
from grants.web.documents import uploads_folder
from tests.factories import make_user
from tests.security.support import FORMS, shown_form, stored_files, text
from tests.security.test_permission_matrix import MATRIX, NOT_GET
from tests.security.world import (
    PNG,
    SecurityWorld,
    build_security_world,
    fresh_round,
    snapshot,
    token_of,
)
from tests.support import form_fields, sign_in

OWN_WORDS = ("Crisis line for crews.", "budget.png", "call-log.png", "Calls answered so far")
"""What A's objects say, which no answer to anyone else may show."""

APPLICATION = {
    "purpose": "Taken over",
    "category": "services",
    "amount": "1,000.00",
    "budget-0-item": "Therapists",
    "budget-0-amount": "1,000.00",
    "action": "save",
}
REPORT = {"narrative": "Written by someone else.", "sessions_held": "3", "action": "save"}


@dataclass
class Portal:
    """The world, A's and B's people signed in, and a source of fresh idempotency keys."""

    app: Flask
    db: Session
    world: SecurityWorld
    own: FlaskClient
    """Backline's person (A)."""
    other: FlaskClient
    """Music Minds Matter's person (B)."""
    keys: Iterator[int]

    def form(self, client: FlaskClient, role: str = "partner") -> dict[str, str]:
        """A valid CSRF token of ``client``'s session and a fresh key."""
        return {"csrf_token": token_of(client, role), "key": f"isolation-{next(self.keys)}"}

    def refused(
        self,
        client: FlaskClient,
        method: str,
        path: str,
        data: Mapping[str, object] | None = None,
        *,
        status: int = 404,
    ) -> str:
        """Send the request: ``status``, none of A's words on the page, the database and
        the stored files as they were. The page."""
        before, files = snapshot(self.app, self.db), stored_files(self.app)
        response = client.open(self.world.path(path), method=method, data=data)
        body = text(response)
        assert response.status_code == status, f"{method} {path}: {response.status_code}"
        assert "Content-Disposition" not in response.headers, f"{method} {path}"
        for words in OWN_WORDS:
            assert words not in body, f"{method} {path} showed {words!r}"
        assert snapshot(self.app, self.db) == before, f"{method} {path} changed the database"
        assert stored_files(self.app) == files, f"{method} {path} stored or removed a file"
        return body


@pytest.fixture
def portal(app: Flask, db: Session) -> Portal:
    world = build_security_world(app, db)
    return Portal(
        app,
        db,
        world,
        sign_in(app, world.emails["partner"]),
        sign_in(app, world.emails["foreign_partner"]),
        itertools.count(1),
    )


def png() -> tuple[io.BytesIO, str]:
    return io.BytesIO(PNG), "logo.png"


def a_is_as_it_was(portal: Portal) -> None:
    """A's draft, documents and report version are still there, as A left them."""
    db, world = portal.db, portal.world
    db.rollback()
    application = db.get_one(Application, world.own_application)
    assert application.state is ApplicationState.DRAFT
    assert application.purpose == "Crisis line for crews."
    for document in (world.own_document, world.own_report_document):
        found = db.get_one(Document, document)
        assert (uploads_folder(portal.app) / found.stored_name).read_bytes() == PNG
    requirement = db.get_one(ReportingRequirement, world.reporting)
    assert requirement.state is ReportState.DUE
    versions = db.scalars(
        select(ReportVersion).where(ReportVersion.requirement_id == world.reporting)
    ).all()
    assert [(v.number, v.submitted_at, v.narrative) for v in versions] == [
        (1, None, "Calls answered so far: 310.")
    ]
    db.rollback()


# ------------------------------------------------------------------------------- B tries A's


def test_another_organisation_cannot_read_or_change_a_draft_application(
    portal: Portal,
) -> None:
    other = portal.other
    page = "/partner/applications/{own_application}"
    portal.refused(other, "GET", page)
    portal.refused(other, "POST", page, {**APPLICATION, **portal.form(other)})
    portal.refused(other, "POST", page, {**APPLICATION, "action": "submit", **portal.form(other)})
    portal.refused(other, "POST", f"{page}/withdraw", {"sure": "y", **portal.form(other)})
    a_is_as_it_was(portal)


def test_another_organisation_cannot_upload_to_a_draft(portal: Portal) -> None:
    other = portal.other
    for path in (
        "/partner/applications/{own_application}/documents",
        "/partner/reports/{reporting}/documents",
    ):
        portal.refused(other, "POST", path, {"document": png(), **portal.form(other)})
    a_is_as_it_was(portal)


def test_another_organisation_cannot_remove_a_document(portal: Portal) -> None:
    other = portal.other
    for document in ("{own_document}", "{own_report_document}"):
        portal.refused(other, "POST", f"/partner/documents/{document}/remove", portal.form(other))
    a_is_as_it_was(portal)


def test_another_organisation_cannot_read_write_or_submit_a_report(portal: Portal) -> None:
    other = portal.other
    page = "/partner/reports/{reporting}"
    portal.refused(other, "GET", page)
    portal.refused(other, "POST", page, {**REPORT, **portal.form(other)})
    portal.refused(other, "POST", page, {**REPORT, "action": "submit", **portal.form(other)})
    portal.refused(other, "GET", "/partner/grants/{grant}")
    a_is_as_it_was(portal)


def test_another_organisation_cannot_download_a_document(portal: Portal) -> None:
    for document in ("{own_document}", "{own_report_document}"):
        portal.refused(portal.other, "GET", f"/documents/{document}")
    response = portal.own.get(portal.world.path("/documents/{own_document}"))
    data = response.get_data()
    response.close()
    assert response.status_code == 200
    assert data == PNG


# ---------------------------------------------------------------------- A's own forms, B's ids


def test_a_form_posted_to_another_organisations_id_is_a_404(portal: Portal) -> None:
    """IDOR: A takes each of its own forms as its pages show them (its token, its key,
    every field) and changes only the id in the address to one of B's: every one is a 404
    that writes nothing, and B's objects stay as they were."""
    own, world = portal.own, portal.world
    application = world.path("/partner/applications/{own_application}")
    report = world.path("/partner/reports/{reporting}")
    shown = {
        "application": form_fields(own, application),
        "withdraw": form_fields(own, application, f"{application}/withdraw"),
        "upload": form_fields(own, application, f"{application}/documents"),
        "remove": form_fields(
            own, application, world.path("/partner/documents/{own_document}/remove")
        ),
        "report": form_fields(own, report),
        "report upload": form_fields(own, report, f"{report}/documents"),
    }
    swapped: list[tuple[str, Mapping[str, object]]] = [
        ("/partner/applications/{foreign_application}", {**shown["application"], **APPLICATION}),
        (
            "/partner/applications/{foreign_application}/withdraw",
            {**shown["withdraw"], "sure": "y"},
        ),
        (
            "/partner/applications/{foreign_application}/documents",
            {**shown["upload"], "document": png()},
        ),
        ("/partner/documents/{foreign_document}/remove", shown["remove"]),
        ("/partner/reports/{foreign_reporting}", {**shown["report"], **REPORT}),
        (
            "/partner/reports/{foreign_reporting}/documents",
            {**shown["report upload"], "document": png()},
        ),
        ("/partner/applications/999999", {**shown["application"], **APPLICATION}),
        ("/partner/documents/999999/remove", shown["remove"]),
        ("/partner/reports/999999", {**shown["report"], **REPORT}),
    ]
    for path, data in swapped:
        portal.refused(own, "POST", path, data)
    db = portal.db
    db.rollback()
    theirs = db.get_one(Application, world.foreign_application)
    assert theirs.state is ApplicationState.SUBMITTED
    assert db.get(Document, world.foreign_document) is not None
    assert db.get_one(ReportingRequirement, world.foreign_reporting).state is ReportState.SUBMITTED
    db.rollback()


def test_a_round_that_has_not_opened_cannot_be_applied_to(portal: Portal) -> None:
    """Starting an application names a round by its id: one not open yet is a 404, as if it
    did not exist, and no application is begun."""
    own = portal.own
    for path in ("/partner/rounds/{upcoming_round}/apply", "/partner/rounds/999999/apply"):
        portal.refused(own, "POST", path, portal.form(own))


# ------------------------------------------------------------------------------- who is let in


def test_a_partners_person_without_an_organisation_gets_404_everywhere(portal: Portal) -> None:
    """Someone holding the partner role whose ``partner_id`` is not set (an invitation half
    done, an organisation removed from them) belongs to no organisation: every page of the
    portal and every document is a 404, and nothing can be begun."""
    db = portal.db
    make_user(db, Role.PARTNER, email="orphan@example.org")
    db.commit()
    orphan = sign_in(portal.app, "orphan@example.org")
    for path in (
        "/partner/",
        "/partner/rounds/{funding_round}",
        "/partner/applications/{own_application}",
        "/partner/grants/{grant}",
        "/partner/reports/{reporting}",
        "/documents/{own_document}",
        "/documents/{foreign_document}",
    ):
        portal.refused(orphan, "GET", path)
    for path, data in (
        ("/partner/rounds/{funding_round}/apply", {}),
        ("/partner/applications/{own_application}", APPLICATION),
        ("/partner/applications/{own_application}/documents", {"document": png()}),
        ("/partner/documents/{own_document}/remove", {}),
        ("/partner/reports/{reporting}", REPORT),
    ):
        portal.refused(orphan, "POST", path, {**data, **portal.form(orphan)})
    a_is_as_it_was(portal)


def test_a_deactivated_organisation_cannot_start_an_application(portal: Portal) -> None:
    """Backline deactivated: its person pressing "Start an application" on an open round it
    has not applied to is sent back to the round, told why, and nothing is begun."""
    db, world = portal.db, portal.world
    manager = db.scalars(select(User).where(User.email == world.emails["manager"])).one()
    set_partner_active(db, key="deactivate", actor=manager, partner_id=world.partner, active=False)
    db.commit()
    round_id, _ = fresh_round(db, world)
    own = portal.own
    page = f"/partner/rounds/{round_id}"
    pressed = form_fields(own, page, f"{page}/apply")
    before = snapshot(portal.app, db)
    response = own.post(f"{page}/apply", data=pressed)
    text(response)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(page)
    assert "Backline is deactivated and cannot apply." in text(own.get(page))
    assert snapshot(portal.app, db) == before
    db.rollback()
    begun = db.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.round_id == round_id, Application.partner_id == world.partner)
    )
    assert begun == 0
    assert db.get_one(Partner, world.partner).active is False


# ------------------------------------------------------------------------ other roles' screens


STAFF = ("manager.", "admin.", "finance.")


def test_a_partner_reaches_no_managers_admins_or_finance_screen(portal: Portal) -> None:
    """Every address the permission matrix tries on a staff screen, as A: 403 (405 where
    the route takes no GET). Each state-changing one is also sent the whole form its
    page shows to the staff member who may use it, with A's own token and key: 403, and
    nothing written."""
    own, world = portal.own, portal.world
    token = token_of(own, "partner")
    staff = {"manager": sign_in(portal.app, world.emails["manager"])}
    staff["admin"] = sign_in(portal.app, world.emails["admin"])
    staff["finance"] = sign_in(portal.app, world.emails["finance"])
    tried = 0
    for endpoint, cases in MATRIX.items():
        if not endpoint.startswith(STAFF):
            continue
        for case in cases:
            status = 405 if case.get == NOT_GET else 403
            portal.refused(own, "GET", case.path, status=status)
            tried += 1
        if endpoint not in FORMS:
            continue
        role, page, action = FORMS[endpoint]
        fields = shown_form(staff[role], world.path(page), action and world.path(action))
        data = {**fields, "csrf_token": token, "key": f"isolation-{next(portal.keys)}"}
        portal.refused(own, "POST", action or page, data, status=403)
        tried += 1
    assert tried > 100, tried
