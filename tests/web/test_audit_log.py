"""The admin's audit-log view: every event, newest first, filtered by who, what object,
which action and when; and a banner that says whether the whole chain verifies, as
``flask grants audit verify`` would, with when it was checked and how long it took."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grants import clock
from grants.domain import audit
from grants.domain.audit_log import changes
from grants.models import AuditEvent, Role
from tests.factories import make_user
from tests.support import sign_in

AUDIT = "/admin/audit"


def record_at(
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
    when: datetime,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)
    audit.record(
        db,
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )
    monkeypatch.undo()


@pytest.fixture
def history(app: Flask, db: Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Ada (admin) and Max (manager), and five events over three days."""
    ada = make_user(db, Role.ADMIN, email="ada@example.org", name="Ada Admin")
    max_ = make_user(db, Role.MANAGER, email="max@example.org", name="Max Manager")
    day = datetime(2026, 3, 1, 12, tzinfo=UTC)
    record_at(
        db,
        monkeypatch,
        day,
        actor_id=ada.id,
        action="user.deactivate",
        object_type="user",
        object_id=max_.id,
        before={"active": True},
        after={"active": False},
    )
    record_at(
        db,
        monkeypatch,
        day.replace(day=2),
        actor_id=ada.id,
        action="user.reactivate",
        object_type="user",
        object_id=max_.id,
        before={"active": False},
        after={"active": True},
    )
    record_at(
        db,
        monkeypatch,
        day.replace(day=2),
        actor_id=max_.id,
        action="grant.submit",
        object_type="grant",
        object_id=7,
    )
    record_at(
        db,
        monkeypatch,
        day.replace(day=3),
        actor_id=None,
        action="gift.expire",
        object_type="gift",
        object_id=9,
    )
    record_at(
        db,
        monkeypatch,
        day.replace(day=3),
        actor_id=ada.id,
        action="programme.create",
        object_type="programme",
        object_id=3,
        after={"code": "NOVA"},
    )
    db.commit()
    return {"ada": ada.id, "max": max_.id}


@pytest.fixture
def admin(app: Flask, history: dict[str, int]) -> FlaskClient:
    return sign_in(app, "ada@example.org")


def shown(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"{AUDIT}{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def actions_in(page: str) -> list[str]:
    return [
        action
        for action in (
            "user.deactivate",
            "user.reactivate",
            "grant.submit",
            "gift.expire",
            "programme.create",
        )
        if f"<code>{action}</code>" in page
    ]


def test_every_event_is_listed_newest_first_with_its_changes(admin: FlaskClient) -> None:
    page = shown(admin)
    assert actions_in(page) == [
        "user.deactivate",
        "user.reactivate",
        "grant.submit",
        "gift.expire",
        "programme.create",
    ]
    assert page.index("<code>programme.create") < page.index("<code>user.deactivate")
    assert "active: True → False" in page
    assert "code: NOVA" in page
    assert "System" in page


def test_the_filters_narrow_the_list(admin: FlaskClient, history: dict[str, int]) -> None:
    assert actions_in(shown(admin, "?actor=MAX@example.org")) == ["grant.submit"]
    assert actions_in(shown(admin, "?actor=system")) == ["gift.expire"]
    assert actions_in(shown(admin, "?actor=nobody@example.org")) == []
    assert actions_in(shown(admin, "?action=user.")) == ["user.deactivate", "user.reactivate"]
    assert actions_in(shown(admin, "?action=user.reactivate")) == ["user.reactivate"]
    assert actions_in(shown(admin, "?action=user")) == []
    query = f"?object_type=user&object_id={history['max']}"
    assert actions_in(shown(admin, query)) == ["user.deactivate", "user.reactivate"]
    assert actions_in(shown(admin, "?object_type=grant&object_id=8")) == []
    assert actions_in(shown(admin, "?since=2026-03-02&until=2026-03-02")) == [
        "user.reactivate",
        "grant.submit",
    ]
    assert actions_in(shown(admin, "?since=2026-03-03")) == ["gift.expire", "programme.create"]
    assert actions_in(shown(admin, "?until=2026-03-01")) == ["user.deactivate"]
    combined = shown(admin, "?actor=ada@example.org&since=2026-03-02&action=user.")
    assert actions_in(combined) == ["user.reactivate"]
    assert "Clear the filters" in combined
    assert "No events match these filters" in shown(admin, "?action=nothing.at.all")


def test_bad_filters_are_answered_clearly(admin: FlaskClient) -> None:
    response = admin.get(f"{AUDIT}?object_id=abc")
    assert response.status_code == 422
    assert "Enter a number" in response.get_data(as_text=True)
    response = admin.get(f"{AUDIT}?since=2026-03-03&until=2026-03-01")
    assert response.status_code == 422
    assert "The end is before the start" in response.get_data(as_text=True)
    assert admin.get(f"{AUDIT}?since=2026-02-30").status_code == 422


def test_the_banner_says_the_chain_verifies(admin: FlaskClient) -> None:
    page = shown(admin)
    assert "The audit log verifies" in page
    assert "all 5 events are in order and unaltered" in page


@pytest.mark.tampers
def test_the_banner_says_when_the_chain_was_tampered_with(
    app: Flask, db: Session, admin: FlaskClient
) -> None:
    db.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(action="grant.approve"))
    db.commit()
    page = shown(admin)
    assert "The audit log does not verify" in page
    assert "event 3 (grant.approve) was altered" in page


def test_a_long_log_is_verified_when_the_admin_asks(app: Flask, admin: FlaskClient) -> None:
    app.config["AUDIT_VERIFY_ON_VIEW_MAX"] = 3
    client = admin
    page = shown(client, "?action=user.")
    assert "The log holds 5 events" in page
    assert "Verify the whole log now" in page
    assert "/admin/audit?action=user.&amp;verify=1" in page
    checked = shown(client, "?action=user.&verify=1")
    assert "The audit log verifies" in checked
    assert actions_in(checked) == ["user.deactivate", "user.reactivate"]


def test_the_log_pages(app: Flask, db: Session, admin: FlaskClient) -> None:
    for number in range(60):
        audit.record(
            db, actor_id=None, action="gift.expire", object_type="gift", object_id=1000 + number
        )
    db.commit()
    first = shown(admin)
    assert "Page 1 of 2 (65 in all)" in first
    assert "gift 1059" in first
    second = shown(admin, "?page=2")
    assert "user.deactivate" in second
    assert db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == 65


def test_only_admins_see_the_log(app: Flask, admin: FlaskClient) -> None:
    manager = sign_in(app, "max@example.org")
    assert manager.get(AUDIT).status_code == 403


def test_stored_days_and_times_are_written_in_the_admin_s_locale_and_zone() -> None:
    before = '{"paid_on": null, "tranches": [["2026-11-01", 2000000]], "reference": "2026-13-45"}'
    after = '{"paid_on": "2026-11-20", "expires_at": "2026-12-28T05:03:00+00:00"}'

    british = {
        change.field: (change.before, change.after)
        for change in changes(before, after, "Europe/London", "en_GB")
    }
    assert british == {
        "expires_at": ("—", "28 Dec 2026, 05:03 GMT"),
        "paid_on": ("none", "20 Nov 2026"),
        "reference": ("2026-13-45", "—"),
        "tranches": ("(1 Nov 2026, 2000000)", "—"),
    }
    american = {
        change.field: change.after for change in changes(before, after, "America/New_York", "en_US")
    }
    assert american["expires_at"] == "Dec 28, 2026, 12:03\u202fAM EST"
    assert american["paid_on"] == "Nov 20, 2026"
