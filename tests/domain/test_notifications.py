"""Managers told of grants: a submitted grant tells every other active manager, never its
authors; the decision tells the manager who sent it; a refused decision tells nobody."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.errors import NotAllowed
from grants.models import Notification, Role
from tests.domain.test_grants import Office
from tests.factories import make_user


def told(db: Session) -> list[tuple[int, str, str]]:
    """Every notification about grants: whom, its title and its link, oldest first."""
    return [
        (row.user_id, row.title, row.link)
        for row in db.execute(
            select(Notification.user_id, Notification.title, Notification.link)
            .where(Notification.kind.like("grant.%"))
            .order_by(Notification.id)
        )
    ]


@pytest.fixture
def office(db: Session) -> Office:
    return Office(db)


def test_a_submitted_grant_tells_the_managers_who_may_decide_it(
    db: Session, office: Office
) -> None:
    third = make_user(db, Role.MANAGER, name="Third Manager")
    away = make_user(db, Role.MANAGER, name="Away Manager")
    away.active = False
    make_user(db, Role.FINANCE, name="Finance Person")
    grant = office.create()
    office.submit(grant)

    link = f"/manager/grants/{grant.id}"
    waiting = "A grant is waiting for your approval"
    assert told(db) == [(office.approver.id, waiting, link), (third.id, waiting, link)]
    body = db.scalars(select(Notification.body).where(Notification.user_id == third.id)).one()
    assert body.startswith(
        f"{office.drafter.display_name} sent the grant to Backline for $30,000.00"
    )


def test_the_decision_tells_the_manager_who_sent_it(db: Session, office: Office) -> None:
    approved = office.create()
    office.submit(approved)
    office.approve(approved)
    assert told(db)[-1] == (
        office.drafter.id,
        "Your grant to Backline was approved",
        f"/manager/grants/{approved.id}",
    )


def test_a_refused_decision_tells_nobody(db: Session, office: Office) -> None:
    grant = office.create()
    office.submit(grant)
    db.commit()
    before = told(db)
    assert len(before) == 1
    with pytest.raises(NotAllowed):
        office.approve(grant, actor=office.drafter)
    db.rollback()
    assert told(db) == before
