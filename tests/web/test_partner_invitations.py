"""Managers invite a partner organisation's people from the partner's page: the account is
made for that organisation, the email says so, the person's link lets them in, and every
refusal is shown on the form with nothing written."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import invitations
from grants.domain.errors import InvalidInput, NotAllowed
from grants.domain.invitations import InvitationDetails, InviteOutcome
from grants.models import AuditEvent, Invitation, OutboxMessage, Partner, Role, User
from tests.factories import make_user
from tests.portal.portal_world import NOW, Portal
from tests.support import form_fields, sign_in, submit
from tests.wallets import outbox
from tests.web.test_invitations import NEW_PASSWORD, link_in, parts_of, path_of


@pytest.fixture
def world(db: Session) -> Portal:
    """The portal's test world, committed so that requests see it."""
    portal = Portal(db)
    db.commit()
    return portal


def partner_url(world: Portal) -> str:
    return f"/manager/partners/{world.backline.id}"


def invite(client: FlaskClient, world: Portal, **changes: str):  # type: ignore[no-untyped-def]
    url = partner_url(world)
    return submit(
        client,
        url,
        {"email": "Pat.Partner@Example.org", "display_name": "Pat Partner", **changes},
        action=f"{url}/people",
    )


def counts(db: Session) -> dict[str, int]:
    db.rollback()
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (User, Invitation, OutboxMessage, AuditEvent)
    }


def test_a_manager_invites_a_partners_person_who_is_emailed_and_can_then_sign_in(
    app: Flask, db: Session, world: Portal
) -> None:
    client = sign_in(app, world.opener.email)
    page = client.get(partner_url(world)).get_data(as_text=True)
    assert "Invite a person from Backline" in page
    assert world.backline_person.display_name in page
    assert "Active" in page
    assert world.musicares_person.display_name not in page

    response = invite(client, world)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(partner_url(world))
    db.rollback()
    invited = db.scalars(select(User).where(User.email == "pat.partner@example.org")).one()
    assert invited.roles == [Role.PARTNER]
    assert invited.partner_id == world.backline.id
    assert not invited.active
    assert invited.password_hash is None
    sent = db.scalars(select(Invitation).where(Invitation.user_id == invited.id)).one()
    assert (sent.partner_id, sent.roles, sent.invited_by_id) == (
        world.backline.id,
        ["partner"],
        world.opener.id,
    )

    page = client.get(partner_url(world)).get_data(as_text=True)
    assert "An invitation was sent to Pat.Partner@Example.org." in page
    row = page.split("Pat Partner", 1)[1].split("</tr>", 1)[0]
    assert "Invited" in row

    (message,) = outbox(app)
    assert message["To"] == "pat.partner@example.org"
    text, html = parts_of(message)["text/plain"], parts_of(message)["text/html"]
    for body in (text, html):
        assert "Hello Pat Partner" in body
        assert "Backline" in body
        assert "team" in body
        assert "apply to funding rounds and report on your organisation" in body
        assert "musicians and crew get help paying for therapy" not in body
        assert "You join" not in body
    assert (
        "has invited you to Heart & Soul Funding, the music industry's mental-health funding "
        "programme, as a member of Backline's team.\n\nWith your account you can:" in text
    )

    visitor = app.test_client()
    accepted = submit(
        visitor,
        path_of(link_in(message)),
        {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert accepted.status_code == 302
    db.rollback()
    assert db.get_one(User, invited.id).active
    sign_in(app, "pat.partner@example.org", NEW_PASSWORD)


def test_a_resent_form_invites_once_and_a_new_invitation_replaces_the_old_link(
    app: Flask, db: Session, world: Portal
) -> None:
    client = sign_in(app, world.opener.email)
    url = partner_url(world)
    fields = {
        **form_fields(client, url, f"{url}/people"),
        "email": "pat@example.org",
        "display_name": "Pat Partner",
    }
    assert client.post(f"{url}/people", data=fields).status_code == 302
    assert client.post(f"{url}/people", data=fields).status_code == 302
    assert counts(db)["Invitation"] == 1

    again = invite(client, world, email="pat@example.org", display_name="Pat P. Partner")
    assert again.status_code == 302
    db.rollback()
    sent = db.scalars(select(Invitation).order_by(Invitation.id)).all()
    assert len(sent) == 2
    assert sent[0].revoked_at is not None
    assert sent[1].revoked_at is None
    assert db.get_one(User, sent[1].user_id).display_name == "Pat P. Partner"


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"email": "not an address"}, 422, "That is not a valid email address"),
        ({"email": ""}, 422, "This field is required."),
        ({"display_name": ""}, 422, "This field is required."),
    ],
)
def test_bad_details_are_refused_on_the_form_and_nothing_is_written(
    app: Flask,
    db: Session,
    world: Portal,
    changes: dict[str, str],
    status: int,
    message: str,
) -> None:
    client = sign_in(app, world.opener.email)
    before = counts(db)
    refused = invite(client, world, **changes)
    assert refused.status_code == status
    page = refused.get_data(as_text=True)
    assert message in page
    assert "Invite a person from Backline" in page
    assert counts(db) == before


def test_someone_with_an_active_account_is_refused_and_nothing_is_written(
    app: Flask, db: Session, world: Portal
) -> None:
    client = sign_in(app, world.opener.email)
    before = counts(db)
    refused = invite(client, world, email=world.musicares_person.email)
    assert refused.status_code == 409
    assert "already has an active account" in refused.get_data(as_text=True)
    after = counts(db)
    assert (after["User"], after["Invitation"], after["OutboxMessage"]) == (
        before["User"],
        before["Invitation"],
        before["OutboxMessage"],
    )
    db.rollback()
    assert db.get_one(User, world.musicares_person.id).partner_id == world.musicares.id


def test_a_deactivated_partner_takes_no_new_people(app: Flask, db: Session, world: Portal) -> None:
    client = sign_in(app, world.opener.email)
    url = partner_url(world)
    fields = form_fields(client, url, f"{url}/people")
    db.get_one(Partner, world.backline.id).active = False
    db.commit()
    page = client.get(url).get_data(as_text=True)
    assert "reactivate it to invite its people" in page
    assert f"{url}/people" not in page
    before = counts(db)
    refused = client.post(
        f"{url}/people", data={**fields, "email": "pat@example.org", "display_name": "Pat"}
    )
    assert refused.status_code == 422
    assert "Choose an active partner organisation." in refused.get_data(as_text=True)
    assert counts(db) == before


def test_the_invitation_form_without_its_csrf_token_is_refused(
    app: Flask, db: Session, world: Portal
) -> None:
    client = sign_in(app, world.opener.email)
    url = partner_url(world)
    client.get(url)
    before = counts(db)
    refused = client.post(
        f"{url}/people", data={"email": "pat@example.org", "display_name": "Pat", "key": "k"}
    )
    assert refused.status_code == 400
    assert counts(db) == before


def test_the_domain_asks_a_partner_for_its_organisation_and_keeps_managers_to_partners(
    db: Session, world: Portal
) -> None:
    with pytest.raises(InvalidInput) as missing:
        invitations.invite_person(
            db,
            actor=world.opener,
            details=InvitationDetails("pat@example.org", "Pat", (Role.PARTNER,)),
            now=NOW,
        )
    assert missing.value.field == "partner_id"
    with pytest.raises(InvalidInput):
        invitations.invite_person(
            db,
            actor=world.opener,
            details=InvitationDetails("pat@example.org", "Pat", (Role.PARTNER,), partner_id=999),
            now=NOW,
        )
    with pytest.raises(NotAllowed):
        invitations.invite_person(
            db,
            actor=world.opener,
            details=InvitationDetails(
                "pat@example.org",
                "Pat",
                (Role.PARTNER, Role.FINANCE),
                partner_id=world.backline.id,
            ),
            now=NOW,
        )
    with pytest.raises(NotAllowed):
        invitations.invite_partner_person(
            db,
            key="k",
            actor=world.finance,
            partner_id=world.backline.id,
            email="pat@example.org",
            display_name="Pat",
            now=NOW,
        )

    admin = make_user(db, Role.ADMIN)
    receipt = invitations.invite(
        db,
        key="admin-invite",
        actor=admin,
        details=InvitationDetails(
            "kim@example.org", "Kim", ("partner",), partner_id=world.musicares.id
        ),
        now=NOW,
    )
    kim = db.get_one(User, receipt.user_id)
    assert (kim.roles, kim.partner_id) == ([Role.PARTNER], world.musicares.id)
    # An admin's invitation of anyone else leaves the organisation alone.
    other = invitations.invite_person(
        db,
        actor=admin,
        details=InvitationDetails("fin@example.org", "Fin", (Role.FINANCE,), partner_id=1),
        now=NOW,
    )
    assert other.outcome is InviteOutcome.CREATED
    assert db.get_one(User, other.user_id).partner_id is None
    resent = invitations.resend(db, key="resend", actor=admin, user_id=kim.id, now=NOW)
    assert db.get_one(Invitation, resent.object_id).partner_id == world.musicares.id
