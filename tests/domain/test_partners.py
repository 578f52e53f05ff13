"""Partners in the domain: registration numbers and websites checked by format, unique
names, deactivation instead of deletion, every change audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain.errors import Conflict, InvalidInput, NotAllowed
from grants.domain.partners import (
    PartnerDetails,
    create_partner,
    registration_number,
    set_partner_active,
    update_partner,
)
from grants.models import AuditEvent, Country, Partner, Role
from tests.factories import make_user

BACKLINE = PartnerDetails(
    legal_name="Backline Care Inc.",
    display_name="Backline",
    country="US",
    registration_number="123456789",
    contact_name="Hilary Gleason",
    contact_email="Grants@Backline.example",
    website_url="https://backline.example/care",
)


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("12-3456789", Country.US, "12-3456789"),
        (" 123456789 ", Country.US, "12-3456789"),
        ("1234567", Country.GB, "1234567"),
        ("1234567-1", Country.GB, "1234567-1"),
        ("sc012345", Country.GB, "SC012345"),
        ("NIC100002", Country.GB, "NIC100002"),
    ],
)
def test_registration_numbers_in_their_formats(raw: str, country: Country, expected: str) -> None:
    assert registration_number(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        ("", Country.US, "Enter the registration number"),
        ("12-345678", Country.US, "nine digits"),
        ("12-34567890", Country.US, "nine digits"),
        ("00-1234567", Country.US, "nine digits"),
        ("AB-1234567", Country.US, "nine digits"),
        ("1234567", Country.US, "nine digits"),
        ("12345", Country.GB, "UK charity number"),
        ("12-3456789", Country.GB, "UK charity number"),
        ("SC12345", Country.GB, "UK charity number"),
    ],
)
def test_bad_registration_numbers_are_refused(raw: str, country: Country, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        registration_number(raw, country)


def test_a_partner_is_created_once_per_key_and_audited(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    receipt = create_partner(db, key="p1", actor=manager, details=BACKLINE)
    again = create_partner(db, key="p1", actor=manager, details=BACKLINE)
    assert again.replayed
    assert again.object_id == receipt.object_id
    partner = db.get_one(Partner, receipt.object_id)
    assert (partner.registration_number, partner.contact_email) == (
        "12-3456789",
        "grants@backline.example",
    )
    assert db.scalar(select(func.count()).select_from(Partner)) == 1
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "partner.create")).one()
    assert event.object_id == partner.id


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("website_url", "javascript:alert(1)", "starting with https://"),
        ("website_url", "ftp://backline.example", "starting with https://"),
        ("website_url", "https://", "starting with https://"),
        ("legal_name", " ", "Enter the legal name"),
        ("display_name", "x" * 121, "at most 120 characters"),
        ("country", "FR", "United States or the United Kingdom"),
        ("contact_email", "not-an-email", "not a valid email"),
        ("notes", "bell\x07", "control characters"),
    ],
)
def test_bad_partner_details_are_refused_and_nothing_is_written(
    db: Session, field: str, value: str, message: str
) -> None:
    manager = make_user(db, Role.MANAGER)
    details = PartnerDetails(**{**BACKLINE.__dict__, field: value})
    with pytest.raises(InvalidInput, match=message):
        create_partner(db, key="bad", actor=manager, details=details)
    assert db.scalar(select(func.count()).select_from(Partner)) == 0


def test_names_are_unique_regardless_of_case(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    create_partner(db, key="a", actor=manager, details=BACKLINE)
    twin = PartnerDetails(**{**BACKLINE.__dict__, "display_name": "BACKLINE"})
    with pytest.raises(Conflict, match="already a partner called BACKLINE"):
        create_partner(db, key="b", actor=manager, details=twin)


def test_editing_records_only_what_changed_and_deactivation_keeps_the_row(db: Session) -> None:
    manager = make_user(db, Role.MANAGER)
    partner_id = create_partner(db, key="a", actor=manager, details=BACKLINE).object_id
    assert partner_id is not None
    renamed = PartnerDetails(**{**BACKLINE.__dict__, "display_name": "Backline Care"})
    update_partner(db, key="b", actor=manager, partner_id=partner_id, details=renamed)
    update_partner(db, key="c", actor=manager, partner_id=partner_id, details=renamed)
    updates = db.scalars(select(AuditEvent).where(AuditEvent.action == "partner.update")).all()
    assert len(updates) == 1
    assert '"display_name":"Backline Care"' in updates[0].after
    assert "registration_number" not in updates[0].after

    set_partner_active(db, key="d", actor=manager, partner_id=partner_id, active=False)
    set_partner_active(db, key="e", actor=manager, partner_id=partner_id, active=False)
    partner = db.get_one(Partner, partner_id)
    assert partner.active is False
    assert db.get(Partner, partner_id) is not None
    assert (
        db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "partner.deactivate")
        )
        == 1
    )


def test_only_managers_change_partners(db: Session) -> None:
    finance = make_user(db, Role.FINANCE)
    with pytest.raises(NotAllowed, match="cannot add partners"):
        create_partner(db, key="f", actor=finance, details=BACKLINE)
