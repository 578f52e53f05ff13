"""The organisation's page: open rounds, its applications, its grants and their reports;
a round's page; a grant's schedule as the partner sees it."""

from __future__ import annotations

from flask import abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from grants import clock
from grants.domain.account_tokens import time_zone_of
from grants.domain.applications import partner_of
from grants.domain.errors import NotFound
from grants.domain.progress import REPORTABLE
from grants.domain.rounds import find_round
from grants.extensions import db
from grants.models import (
    Application,
    ApplicationState,
    FundingRound,
    Grant,
    Partner,
    ReportingRequirement,
    ReportState,
    Role,
)
from grants.web import roles_required
from grants.web.actions import ConfirmForm
from grants.web.partner.blueprint import bp


def organisation() -> int:
    """The signed-in person's organisation; 404 for a partner's person without one."""
    try:
        return partner_of(current_user)
    except NotFound:
        abort(404)


@bp.route("/")
@roles_required(Role.PARTNER)
def dashboard() -> ResponseReturnValue:
    """What the organisation can apply to, what it applied for, and what it owes."""
    partner_id = organisation()
    now = clock.now()
    partner = db.session.get_one(Partner, partner_id)
    applied = db.session.scalars(
        select(Application)
        .where(Application.partner_id == partner_id)
        .order_by(Application.created_at.desc(), Application.id.desc())
    ).all()
    by_round = {application.round_id: application for application in applied}
    open_rounds = db.session.scalars(
        select(FundingRound)
        .where(FundingRound.opens_at <= now, FundingRound.closes_at > now)
        .order_by(FundingRound.closes_at, FundingRound.id)
    ).all()
    grants = db.session.scalars(
        select(Grant)
        .where(Grant.partner_id == partner_id, Grant.status.in_(REPORTABLE))
        .order_by(Grant.created_at.desc(), Grant.id.desc())
    ).all()
    owed = db.session.scalars(
        select(ReportingRequirement)
        .join(Grant, Grant.id == ReportingRequirement.grant_id)
        .where(
            Grant.partner_id == partner_id,
            Grant.status.in_(REPORTABLE),
            ReportingRequirement.state != ReportState.ACCEPTED,
        )
        .order_by(ReportingRequirement.due_date, ReportingRequirement.id)
    ).all()
    return render_template(
        "partner/dashboard.html",
        partner=partner,
        open_rounds=open_rounds,
        by_round=by_round,
        applied=applied,
        grants=grants,
        owed=owed,
        today=clock.today_in(partner_zone()),
    )


@bp.route("/rounds/<int:round_id>")
@roles_required(Role.PARTNER)
def funding_round(round_id: int) -> ResponseReturnValue:
    """A round as applicants see it: what it funds, up to how much, until when, for whom."""
    partner_id = organisation()
    try:
        found = find_round(db.session(), round_id)
    except NotFound:
        abort(404)
    if found.opens_at > clock.now():
        abort(404)
    application = db.session.scalar(
        select(Application).where(
            Application.round_id == found.id, Application.partner_id == partner_id
        )
    )
    return render_template(
        "partner/round.html",
        funding_round=found,
        application=application,
        is_open=found.is_open(clock.now()),
        start=ConfirmForm(),
    )


@bp.route("/grants/<int:grant_id>")
@roles_required(Role.PARTNER)
def grant(grant_id: int) -> ResponseReturnValue:
    """A grant to the organisation: its tranches (paid, due, or waiting for a report) and
    its reports."""
    partner_id = organisation()
    found = db.session.scalar(
        select(Grant).where(
            Grant.id == grant_id, Grant.partner_id == partner_id, Grant.status.in_(REPORTABLE)
        )
    )
    if found is None:
        abort(404)
    return render_template(
        "partner/grant.html",
        grant=found,
        paid=sum(t.amount for t in found.tranches if t.paid_on is not None),
        states=ReportState,
        ApplicationState=ApplicationState,
    )


def partner_zone() -> str:
    """The zone the signed-in person's days are counted in."""
    return time_zone_of(db.session(), current_user)
