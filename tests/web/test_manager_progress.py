"""Progress reports through the managers' screens: every version with its decision, accepting
or asking for changes, the tranche that waits for a report (set on the grant's page), and
finance told why such a tranche cannot be paid yet."""

from __future__ import annotations

import hashlib
import re

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from grants.models import (
    Document,
    Grant,
    ReportDecision,
    ReportingRequirement,
    ReportState,
    ReportVersion,
    Tranche,
)
from tests.portal.portal_world import NOW, Portal, progress
from tests.support import form_fields, sign_in, submit

NARRATIVE = "We held 40 sessions.\n<b>Crew</b> came back for more."


@pytest.fixture
def world(db: Session) -> Portal:
    """The portal's test world, committed so that requests see it."""
    portal = Portal(db)
    db.commit()
    return portal


def awarded_grant(db: Session, world: Portal) -> Grant:
    """Backline's application awarded and its grant approved: its second tranche waits for
    the mid-year report."""
    round_id = world.open_round()
    return world.award_and_approve(world.apply(round_id, world.backline_person))


def write_version(
    db: Session, world: Portal, requirement_id: int, narrative: str = NARRATIVE
) -> ReportVersion:
    """The partner writes a version of the report and submits it."""
    version = progress.save_version(
        db,
        actor=world.backline_person,
        requirement_id=requirement_id,
        content=progress.ReportContent(
            narrative=narrative,
            sessions_held="40",
            reach={"US": "35", "GB": "5"},
            spending=[progress.Spending("Therapists", "4,000.00")],
        ),
        now=NOW,
    )
    progress.submit_version(
        db, key=world.key(), actor=world.backline_person, requirement_id=requirement_id, now=NOW
    )
    return version


def state_of(db: Session, requirement_id: int) -> ReportState:
    db.rollback()
    return db.get_one(ReportingRequirement, requirement_id).state


def test_a_report_shows_every_version_and_a_manager_asks_for_changes_then_accepts(
    app: Flask, db: Session, world: Portal
) -> None:
    grant = awarded_grant(db, world)
    requirement = grant.reports[0]
    first = write_version(db, world, requirement.id)
    db.add(
        Document(
            partner_id=world.backline.id,
            report_version_id=first.id,
            stored_name="c" * 32,
            filename="attendance.csv",
            content_type="text/csv",
            size=300,
            sha256=hashlib.sha256(b"attendance").hexdigest(),
            uploaded_by_id=world.backline_person.id,
        )
    )
    db.commit()
    client = sign_in(app, world.opener.email)
    url = f"/manager/reports/{requirement.id}"

    page = client.get(url).get_data(as_text=True)
    assert "Mid-year report" in page
    assert "Backline" in page
    assert "Submitted" in page
    assert "We held 40 sessions.\n&lt;b&gt;Crew&lt;/b&gt; came back for more." in page
    assert "<b>Crew</b>" not in page
    assert "United States" in page
    assert "United Kingdom" in page
    assert ">35<" in page
    assert ">40<" in page
    assert "Therapists" in page
    assert "$10,000.00" in page
    assert "$4,000.00" in page
    assert "Admin" in page
    assert "$2,000.00" in page
    assert "$12,000.00" in page  # the budget's total
    assert re.search(r'href="/documents/\d+">attendance.csv</a>', page)

    bare = submit(client, url, {"comment": ""}, action=f"{url}/changes")
    assert bare.status_code == 422
    assert "Enter the changes asked for." in bare.get_data(as_text=True)
    assert state_of(db, requirement.id) is ReportState.SUBMITTED

    changes = submit(
        client, url, {"comment": "Say how many were new to therapy."}, action=f"{url}/changes"
    )
    assert changes.status_code == 302
    assert state_of(db, requirement.id) is ReportState.CHANGES_REQUESTED
    assert db.get_one(ReportVersion, first.id).decision is ReportDecision.CHANGES_REQUESTED

    write_version(db, world, requirement.id, "We held 40 sessions; 25 people were new.")
    db.commit()
    page = client.get(url).get_data(as_text=True)
    assert page.index("Version 2") < page.index("Version 1")
    assert "Say how many were new to therapy." in page
    assert "Changes requested" in page

    accepted = submit(client, url, {"comment": ""}, action=f"{url}/accept")
    assert accepted.status_code == 302
    assert state_of(db, requirement.id) is ReportState.ACCEPTED
    page = client.get(url).get_data(as_text=True)
    assert f"{url}/accept" not in page
    assert "Accepted" in page

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    again = client.post(
        f"{url}/accept", data={"csrf_token": token.group(1), "key": "k-again", "comment": ""}
    )
    assert again.status_code == 409
    assert "This report was accepted" in again.get_data(as_text=True)


def test_a_draft_version_is_not_shown_and_nothing_can_be_decided(
    app: Flask, db: Session, world: Portal
) -> None:
    grant = awarded_grant(db, world)
    requirement = grant.reports[0]
    progress.save_version(
        db,
        actor=world.backline_person,
        requirement_id=requirement.id,
        content=progress.ReportContent(narrative="Half written"),
        now=NOW,
    )
    db.commit()
    client = sign_in(app, world.opener.email)
    page = client.get(f"/manager/reports/{requirement.id}").get_data(as_text=True)
    assert "Half written" not in page
    assert "has not submitted this report yet" in page
    assert "/accept" not in page
    assert client.get("/manager/reports/999999").status_code == 404


def test_a_tranche_waits_for_a_report_chosen_on_the_grant_page_and_finance_is_told_why(
    app: Flask, db: Session, world: Portal
) -> None:
    grant = awarded_grant(db, world)
    requirement = grant.reports[0]
    first, second = grant.tranches
    db.commit()
    manager = sign_in(app, world.opener.email)
    grant_url = f"/manager/grants/{grant.id}"

    page = manager.get(grant_url).get_data(as_text=True)
    assert page.count("Paid once “Mid-year report” is accepted") == 1
    assert f'href="/manager/reports/{requirement.id}"' in page
    assert "Due" in page

    release = f"/manager/tranches/{first.id}/release"
    chosen = submit(manager, grant_url, {"release_after": str(requirement.id)}, action=release)
    assert chosen.status_code == 302
    db.rollback()
    assert db.get_one(Tranche, first.id).release_after_id == requirement.id
    page = manager.get(grant_url).get_data(as_text=True)
    assert page.count("Paid once “Mid-year report” is accepted") == 2

    other = awarded_grant_report(db, world)
    refused = submit(manager, grant_url, {"release_after": str(other)}, action=release)
    assert refused.status_code == 422
    assert "Choose one of this grant&#39;s reports." in refused.get_data(as_text=True)
    db.rollback()
    assert db.get_one(Tranche, first.id).release_after_id == requirement.id

    cleared = submit(manager, grant_url, {"release_after": ""}, action=release)
    assert cleared.status_code == 302
    db.rollback()
    assert db.get_one(Tranche, first.id).release_after_id is None

    finance = sign_in(app, world.finance.email)
    db.rollback()
    waiting = progress.release_refusal(db, db.get_one(Tranche, second.id), "en_US")
    assert waiting is not None
    assert "Mid-year report" in waiting
    pay_url = f"/finance/tranches/{second.id}/pay"
    pay_page = finance.get(pay_url).get_data(as_text=True)
    assert waiting in pay_page
    assert "it is due." in pay_page
    assert "is paid once" not in finance.get(f"/finance/tranches/{first.id}/pay").get_data(
        as_text=True
    )
    fields = form_fields(finance, pay_url)
    refused_payment = finance.post(pay_url, data={**fields, "payment_reference": "ACH 1"})
    assert refused_payment.status_code == 409
    assert refused_payment.get_data(as_text=True).count("is paid once") == 1
    db.rollback()
    assert db.get_one(Tranche, second.id).paid_on is None

    write_version(db, world, requirement.id)
    db.commit()
    report_url = f"/manager/reports/{requirement.id}"
    assert submit(manager, report_url, {}, action=f"{report_url}/accept").status_code == 302
    assert "is paid once" not in finance.get(pay_url).get_data(as_text=True)
    page = manager.get(grant_url).get_data(as_text=True)
    assert "Accepted" in page


def awarded_grant_report(db: Session, world: Portal) -> int:
    """A report of another grant: MusiCares's, awarded from a second round."""
    round_id = world.open_round(title="Second round")
    grant = world.award_and_approve(world.apply(round_id, world.musicares_person))
    db.commit()
    return grant.reports[0].id


def test_a_decision_without_its_csrf_token_is_refused_and_changes_nothing(
    app: Flask, db: Session, world: Portal
) -> None:
    grant = awarded_grant(db, world)
    requirement = grant.reports[0]
    write_version(db, world, requirement.id)
    db.commit()
    client = sign_in(app, world.opener.email)
    client.get(f"/manager/reports/{requirement.id}")
    refused = client.post(f"/manager/reports/{requirement.id}/accept", data={"key": "k1"})
    assert refused.status_code == 400
    assert state_of(db, requirement.id) is ReportState.SUBMITTED
    release = client.post(f"/manager/tranches/{grant.tranches[0].id}/release", data={})
    assert release.status_code == 400


def test_a_bare_release_post_keeps_a_tranche_waiting(
    app: Flask, db: Session, world: Portal
) -> None:
    """A request that does not say which report (the form always does) changes nothing."""
    grant = awarded_grant(db, world)
    waiting = grant.tranches[1]
    requirement_id = waiting.release_after_id
    assert requirement_id is not None
    db.commit()
    manager = sign_in(app, world.opener.email)
    release = f"/manager/tranches/{waiting.id}/release"
    fields = form_fields(manager, f"/manager/grants/{grant.id}", release)
    bare = manager.post(release, data={"csrf_token": fields["csrf_token"]})
    assert bare.status_code == 302
    db.rollback()
    assert db.get_one(Tranche, waiting.id).release_after_id == requirement_id
    garbled = manager.post(release, data={**fields, "release_after": "first"})
    assert garbled.status_code == 422
    assert "Choose one of this grant&#39;s reports, or none." in garbled.get_data(as_text=True)
    db.rollback()
    assert db.get_one(Tranche, waiting.id).release_after_id == requirement_id
