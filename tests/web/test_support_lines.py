"""The "get support now" panel: which lines whom, where it shows (error pages included), and
the admin's screen for the lines, with its checks and audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import support
from grants.domain.claims import NewRecipient, claim_gift
from grants.domain.errors import InvalidInput, NotAllowed
from grants.domain.gifts import give_gift
from grants.domain.money import Money
from grants.domain.support import SupportLineDetails
from grants.models import AuditEvent, Country, Gift, Relation, Role, SupportLine
from grants.security import password_hasher, password_rules
from tests.factories import fund_wallet, make_ambassador, make_fund, make_user
from tests.support import form_fields, sign_in, submit

TODAY = datetime.now(UTC).date()


def line_count(db: Session) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(SupportLine)) or 0


def names(lines: list[SupportLine]) -> list[str]:
    return [line.name for line in lines]


# --- which lines -----------------------------------------------------------------------------


def test_default_lines_are_seeded_once_and_never_over_an_admins(db: Session) -> None:
    assert support.seed_default_lines(db) == 6
    assert support.seed_default_lines(db) == 0
    assert names(support.active_lines(db, Country.US)) == [
        "988 Suicide & Crisis Lifeline",
        "Crisis Text Line",
        "MusiCares",
    ]
    assert names(support.active_lines(db, Country.GB)) == [
        "Samaritans",
        "Shout",
        "Music Minds Matter",
    ]
    assert len(support.active_lines(db, None)) == 6
    lifeline = support.active_lines(db, Country.US)[0]
    assert (lifeline.phone, lifeline.phone_uri, lifeline.text_message) == (
        "988",
        "tel:988",
        "Text 988",
    )
    assert support.active_lines(db, Country.US)[2].phone_uri == "tel:18773036962"
    assert support.active_lines(db, Country.GB)[1].phone_uri == ""


def test_a_country_an_admin_set_up_is_left_alone(db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    support.create_support_line(
        db,
        key="uk-only",
        actor=admin,
        details=SupportLineDetails("GB", "Our own UK line", phone="0800 000 000"),
    )
    assert support.seed_default_lines(db) == 3
    assert names(support.active_lines(db, Country.GB)) == ["Our own UK line"]
    assert len(support.active_lines(db, Country.US)) == 3


def test_the_panel_follows_the_persons_country(db: Session) -> None:
    support.seed_default_lines(db)
    manager = make_user(db, Role.MANAGER)
    briton = make_ambassador(db, country=Country.GB)
    american = make_ambassador(db, country=Country.US)
    fund = make_fund(
        db,
        currency="GBP",
        start=TODAY - timedelta(days=10),
        end=TODAY + timedelta(days=10),
        budget=1_000_000,
        manager=manager,
    )
    wallet = fund_wallet(db, fund, briton, 10_000, manager)
    receipt = give_gift(
        db,
        key="gift",
        actor=briton.user,
        wallet_id=wallet.id,
        amount=Money(1_000, "GBP"),
        recipient_name="Crew",
        recipient_email="crew@example.org",
        relation=Relation.CREW,
        now=datetime.now(UTC),
    )
    assert receipt.claim_token is not None
    gift = db.get(Gift, receipt.object_id)
    assert gift is not None
    assert support.panel_for_gift(db, gift).country is Country.GB
    claim_gift(
        db,
        key="claim",
        token=receipt.claim_token,
        claimant=None,
        new_recipient=NewRecipient("Crew Member", "a long and unusual passphrase"),
        hasher=password_hasher(),
        rules=password_rules(),
        now=datetime.now(UTC),
    )
    recipient = db.get(Gift, receipt.object_id).recipient_wallet.user  # type: ignore[union-attr]

    assert support.country_of_user(db, briton.user) is Country.GB
    assert support.country_of_user(db, american.user) is Country.US
    assert support.country_of_user(db, recipient) is Country.GB
    assert support.country_of_user(db, manager) is None
    assert names(support.panel_for_user(db, recipient).lines)[0] == "Samaritans"
    assert len(support.panel_for_user(db, manager).lines) == 6
    assert len(support.panel_for_user(db, None).lines) == 6


@pytest.mark.parametrize(
    ("details", "field"),
    [
        (SupportLineDetails("FR", "SOS Amitié", phone="09 72 39 40 50"), "country"),
        (SupportLineDetails("US", " ", phone="988"), "name"),
        (SupportLineDetails("US", "Line"), "phone"),
        (SupportLineDetails("US", "Line", phone="call us"), "phone"),
        (SupportLineDetails("US", "Line", website_url="javascript:alert(1)"), "website_url"),
        (SupportLineDetails("US", "Line", website_url="ftp://example.org"), "website_url"),
        (SupportLineDetails("US", "Line", phone="988", sort_order=-1), "sort_order"),
        (SupportLineDetails("US", "Line", phone="988", sort_order=10_000), "sort_order"),
        (SupportLineDetails("US", "Line", text_message="Text\x00HOME"), "text_message"),
    ],
)
def test_bad_lines_are_refused(db: Session, details: SupportLineDetails, field: str) -> None:
    admin = make_user(db, Role.ADMIN)
    with pytest.raises(InvalidInput) as refused:
        support.create_support_line(db, key="bad", actor=admin, details=details)
    assert refused.value.field == field
    assert line_count(db) == 0


def test_only_an_admin_edits_lines(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    with pytest.raises(NotAllowed):
        support.create_support_line(
            db, key="k", actor=manager, details=SupportLineDetails("US", "Line", phone="988")
        )


# --- where the panel shows -------------------------------------------------------------------


def test_error_pages_of_the_wallet_flow_carry_the_panel_and_others_do_not(
    app: Flask, db: Session
) -> None:
    support.seed_default_lines(db)
    make_ambassador(db, email="avery@example.org", country=Country.GB)
    make_user(db, Role.MANAGER, email="manager@example.org")
    db.commit()
    ambassador = sign_in(app, "avery@example.org")
    response = ambassador.get("/wallet/gifts/12345")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Get support now" in page
    assert "Samaritans" in page
    assert "988 Suicide" not in page
    assert 'href="tel:988"' not in page, "(a bare 988 may occur by chance in random tokens)"
    response = ambassador.get("/manager/")
    assert response.status_code == 403
    assert "Get support now" not in response.get_data(as_text=True)

    manager = sign_in(app, "manager@example.org")
    response = manager.get("/wallet/")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Get support now" in page
    assert "Samaritans" in page
    assert "988 Suicide &amp; Crisis Lifeline" in page
    response = manager.get("/no-such-page")
    assert "Get support now" not in response.get_data(as_text=True)


def test_a_hidden_line_leaves_the_panel(app: Flask, db: Session) -> None:
    support.seed_default_lines(db)
    admin = make_user(db, Role.ADMIN)
    make_ambassador(db, email="avery@example.org")
    shout = db.scalars(select(SupportLine).where(SupportLine.name == "Crisis Text Line")).one()
    support.update_support_line(
        db,
        key="hide",
        actor=admin,
        line_id=shout.id,
        details=SupportLineDetails(
            "US", shout.name, text_message=shout.text_message, sort_order=20, active=False
        ),
    )
    db.commit()
    page = sign_in(app, "avery@example.org").get("/wallet/").get_data(as_text=True)
    assert "Crisis Text Line" not in page
    assert "MusiCares" in page


# --- the admin screen ------------------------------------------------------------------------


def test_an_admin_lists_adds_and_edits_lines(app: Flask, db: Session) -> None:
    support.seed_default_lines(db)
    make_user(db, Role.ADMIN, email="admin@example.org")
    make_ambassador(db, email="avery@example.org")
    db.commit()
    admin = sign_in(app, "admin@example.org")
    assert "/admin/support-lines" in admin.get("/admin/").get_data(as_text=True)
    listing = admin.get("/admin/support-lines").get_data(as_text=True)
    for name in ("988 Suicide &amp; Crisis Lifeline", "Samaritans", "Music Minds Matter"):
        assert name in listing

    response = submit(
        admin,
        "/admin/support-lines/new",
        {
            "country": "US",
            "name": "Backline",
            "phone": "",
            "text_message": "",
            "website_url": "https://backline.care",
            "description": "Case management for music people.",
            "sort_order": "40",
        },
    )
    assert response.status_code == 302
    backline = db.scalars(select(SupportLine).where(SupportLine.name == "Backline")).one()
    assert (backline.country, backline.sort_order, backline.active) == (Country.US, 40, True)
    created = db.scalars(select(AuditEvent).where(AuditEvent.action == "support_line.create")).one()
    assert created.object_id == backline.id
    assert "backline.care" in created.after

    wallet = sign_in(app, "avery@example.org").get("/wallet/").get_data(as_text=True)
    assert 'href="https://backline.care"' in wallet

    edit = f"/admin/support-lines/{backline.id}/edit"
    fields = form_fields(admin, edit)
    assert fields["name"] == "Backline"
    assert fields["country"] == "US"
    response = admin.post(edit, data={**fields, "phone": "1-800-000-0000", "sort_order": "5"})
    assert response.status_code == 302
    db.rollback()
    backline = db.get(SupportLine, backline.id)  # type: ignore[assignment]
    assert (backline.phone, backline.sort_order) == ("1-800-000-0000", 5)
    updated = db.scalars(select(AuditEvent).where(AuditEvent.action == "support_line.update")).one()
    assert "1-800-000-0000" in updated.after
    assert '"phone": ""' in updated.before or '"phone":""' in updated.before
    wallet = sign_in(app, "avery@example.org").get("/wallet/").get_data(as_text=True)
    assert wallet.index("Backline") < wallet.index("988 Suicide")

    response = admin.post(edit, data={**form_fields(admin, edit)})
    assert response.status_code == 302
    assert (
        db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "support_line.update")
        )
        == 1
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"phone": "", "text_message": "", "website_url": ""}, "Give at least one way to reach"),
        ({"website_url": "javascript:alert(1)"}, "Enter a website address starting with https://"),
        ({"phone": "ring ring"}, "Enter a phone number in figures"),
        ({"sort_order": "first"}, "Not a valid integer value."),
        ({"country": "FR"}, "Not a valid choice."),
    ],
)
def test_bad_lines_on_the_admin_screen_write_nothing(
    app: Flask, db: Session, changes: dict[str, str], message: str
) -> None:
    make_user(db, Role.ADMIN, email="admin@example.org")
    db.commit()
    admin = sign_in(app, "admin@example.org")
    before = line_count(db)
    response = submit(
        admin,
        "/admin/support-lines/new",
        {"country": "US", "name": "Line", "phone": "988", "sort_order": "1", **changes},
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert line_count(db) == before
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


@pytest.mark.parametrize("role", [Role.MANAGER, Role.FINANCE, Role.AMBASSADOR, Role.RECIPIENT])
def test_only_admins_reach_the_support_line_screens(app: Flask, db: Session, role: Role) -> None:
    support.seed_default_lines(db)
    make_user(db, role, email="someone@example.org")
    db.commit()
    line_id = db.scalars(select(SupportLine.id)).first()
    client = sign_in(app, "someone@example.org")
    for path in (
        "/admin/support-lines",
        "/admin/support-lines/new",
        f"/admin/support-lines/{line_id}/edit",
    ):
        assert client.get(path).status_code == 403, path
    assert app.test_client().get("/admin/support-lines").status_code == 302
    assert line_count(db) == 6
