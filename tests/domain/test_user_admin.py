"""What an admin changes about an account, in the domain: roles and ambassador details with
their audit events, and the rule that the programme always keeps an active admin, held when
two admins deactivate each other at the same moment (on PostgreSQL, from two threads)."""

from __future__ import annotations

import json
import threading
import time
import traceback

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import accounts, user_admin
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed
from grants.domain.user_admin import Membership
from grants.extensions import db as database
from grants.models import AuditEvent, CohortStatus, Country, Role, User
from tests.factories import make_ambassador, make_programme, make_user


def last_event(db: Session) -> AuditEvent:
    return db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


def test_changing_roles_and_programme_is_one_audit_event_with_before_and_after(
    db: Session,
) -> None:
    admin = make_user(db, Role.ADMIN)
    ambassador = make_ambassador(db, programme="GLOW", country=Country.US)
    radar = make_programme(db, "RADAR")
    glow_id = ambassador.programme_id
    user_admin.change_access(
        db,
        key="k-1",
        actor=admin,
        user_id=ambassador.user_id,
        roles=["ambassador", "manager"],
        membership=Membership(radar.id, Country.GB, CohortStatus.UPCOMING),
    )
    event = last_event(db)
    assert (event.action, event.object_type, event.object_id, event.actor_id) == (
        "user.change_access",
        "user",
        ambassador.user_id,
        admin.id,
    )
    assert json.loads(event.before) == {
        "roles": ["ambassador"],
        "programme_id": glow_id,
        "country": "US",
        "cohort_status": "current",
    }
    assert json.loads(event.after) == {
        "roles": ["manager", "ambassador"],
        "programme_id": radar.id,
        "country": "GB",
        "cohort_status": "upcoming",
    }
    db.refresh(ambassador)
    assert (ambassador.programme_id, ambassador.country) == (radar.id, Country.GB)


def test_an_ambassador_who_loses_the_role_stays_in_the_programme_as_alumni(
    db: Session,
) -> None:
    admin = make_user(db, Role.ADMIN)
    ambassador = make_ambassador(db)
    user_admin.change_access(
        db, key="k-1", actor=admin, user_id=ambassador.user_id, roles=["finance"], membership=None
    )
    db.refresh(ambassador)
    assert ambassador.cohort_status is CohortStatus.ALUMNI
    assert json.loads(last_event(db).after)["roles"] == ["finance"]


def test_bad_role_changes_are_refused(db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    other = make_user(db, Role.MANAGER)
    with pytest.raises(InvalidInput, match="at least one role"):
        user_admin.change_access(
            db, key="k-1", actor=admin, user_id=other.id, roles=[], membership=None
        )
    with pytest.raises(InvalidInput, match="programme"):
        user_admin.change_access(
            db, key="k-2", actor=admin, user_id=other.id, roles=["ambassador"], membership=None
        )
    with pytest.raises(InvalidState, match="already has exactly these roles"):
        user_admin.change_access(
            db, key="k-3", actor=admin, user_id=other.id, roles=["manager"], membership=None
        )
    with pytest.raises(NotAllowed):
        user_admin.change_access(
            db, key="k-4", actor=other, user_id=admin.id, roles=["manager"], membership=None
        )


def test_an_admin_keeps_their_own_admin_role_and_the_last_admin_keeps_theirs(
    db: Session,
) -> None:
    ada = make_user(db, Role.ADMIN)
    with pytest.raises(NotAllowed, match="from yourself"):
        user_admin.change_access(
            db, key="k-1", actor=ada, user_id=ada.id, roles=["manager"], membership=None
        )
    bob = make_user(db, Role.ADMIN)
    bob.active = False
    db.flush()
    cy = make_user(db, Role.ADMIN, Role.MANAGER)
    user_admin.change_access(
        db, key="k-2", actor=cy, user_id=ada.id, roles=["manager"], membership=None
    )
    assert ada.roles == [Role.MANAGER]
    with pytest.raises(NotAllowed, match="last active admin"):
        accounts.keep_an_active_admin(db, losing=cy.id)


def test_the_last_active_admin_cannot_be_deactivated(db: Session) -> None:
    ada = make_user(db, Role.ADMIN)
    bob = make_user(db, Role.ADMIN)
    accounts.set_user_active(db, key="k-1", actor=ada, user_id=bob.id, active=False)
    with pytest.raises(NotAllowed, match="your own account"):
        accounts.set_user_active(db, key="k-2", actor=ada, user_id=ada.id, active=False)
    with pytest.raises(NotAllowed, match="last active admin"):
        accounts.set_user_active(db, key="k-3", actor=bob, user_id=ada.id, active=False)
    db.refresh(ada)
    assert ada.active


@pytest.mark.postgres
def test_two_admins_deactivating_each_other_at_once_leave_one_active(
    app: Flask, db: Session
) -> None:
    """Ada deactivates Bob and, before her transaction commits, Bob deactivates Ada. Bob's
    operation waits for Ada's to end, then counts the admins afresh and is refused: the
    programme is never left without an active admin."""
    ada, bob = make_user(db, Role.ADMIN), make_user(db, Role.ADMIN)
    ids = {"ada": ada.id, "bob": bob.id}
    db.commit()
    ada_done, ada_may_commit = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}
    errors: list[str] = []

    def deactivate(actor: str, target: str) -> None:
        try:
            with app.app_context():
                session = database.session
                try:
                    accounts.set_user_active(
                        session,
                        key=f"race-{actor}",
                        actor=session.get_one(User, ids[actor]),
                        user_id=ids[target],
                        active=False,
                    )
                    if actor == "ada":
                        ada_done.set()
                        ada_may_commit.wait(30)
                    session.commit()
                    outcomes[actor] = "deactivated"
                except NotAllowed as refusal:
                    session.commit()
                    outcomes[actor] = refusal.message
                finally:
                    session.remove()
        except BaseException:
            errors.append(traceback.format_exc())
            ada_done.set()

    first = threading.Thread(target=deactivate, args=("ada", "bob"))
    second = threading.Thread(target=deactivate, args=("bob", "ada"))
    first.start()
    assert ada_done.wait(30)
    second.start()
    time.sleep(0.5)
    assert second.is_alive(), "Bob's deactivation should wait for Ada's transaction"
    ada_may_commit.set()
    for thread in (first, second):
        thread.join(60)
        assert not thread.is_alive()
    assert not errors, "\n".join(errors)
    assert outcomes["ada"] == "deactivated"
    assert "last active admin" in outcomes["bob"]
    db.expire_all()
    assert db.get_one(User, ids["ada"]).active
    assert not db.get_one(User, ids["bob"]).active
