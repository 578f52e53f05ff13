"""The managers' dashboard: where each fund's money is, what is overdue or due soon, and
what waits for this manager's approval."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from grants.domain.ledger import fund_balances
from grants.extensions import db
from grants.models import (
    Ambassador,
    Fund,
    Grant,
    GrantStatus,
    Programme,
    ReportingRequirement,
    Role,
    Tranche,
)
from grants.web import roles_required
from grants.web.hooks import local_today
from grants.web.manager.blueprint import bp

DUE_SOON = timedelta(days=30)
LIVE = (GrantStatus.APPROVED, GrantStatus.ACTIVE)


@bp.route("/")
@roles_required(Role.MANAGER, Role.ADMIN)
def dashboard() -> ResponseReturnValue:
    """Funds with their balances, overdue tranches, reports due soon, grants to approve,
    and how many ambassadors each programme has per country."""
    today = local_today()
    funds = db.session.scalars(select(Fund).order_by(Fund.plan_year_start.desc(), Fund.name)).all()
    positions = [(fund, fund_balances(db.session(), fund.id)) for fund in funds]
    overdue = db.session.execute(
        select(Tranche, Grant)
        .join(Grant, Grant.id == Tranche.grant_id)
        .options(joinedload(Grant.partner))
        .where(Grant.status.in_(LIVE), Tranche.paid_on.is_(None), Tranche.due_date < today)
        .order_by(Tranche.due_date, Tranche.id)
        .limit(50)
    ).all()
    reports_due = db.session.execute(
        select(ReportingRequirement, Grant)
        .join(Grant, Grant.id == ReportingRequirement.grant_id)
        .options(joinedload(Grant.partner))
        .where(
            Grant.status.in_((*LIVE, GrantStatus.CLOSED)),
            ReportingRequirement.received_at.is_(None),
            ReportingRequirement.due_date <= today + DUE_SOON,
        )
        .order_by(ReportingRequirement.due_date, ReportingRequirement.id)
        .limit(50)
    ).all()
    waiting = db.session.scalars(
        select(Grant)
        .options(joinedload(Grant.partner))
        .where(Grant.status == GrantStatus.SUBMITTED, Grant.submitted_by_id != current_user.id)
        .order_by(Grant.submitted_at, Grant.id)
        .limit(50)
    ).all()
    cohorts = db.session.execute(
        select(Programme.code, Ambassador.country, func.count(Ambassador.id))
        .join(Ambassador, Ambassador.programme_id == Programme.id)
        .group_by(Programme.code, Ambassador.country)
        .order_by(Programme.code, Ambassador.country)
    ).all()
    return render_template(
        "dashboards/manager.html",
        positions=positions,
        overdue=overdue,
        reports_due=reports_due,
        waiting=waiting,
        cohorts=cohorts,
        today=today,
    )
