"""The programme managers' screens."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from grants.extensions import db
from grants.models import Ambassador, Fund, Partner, Programme, Role
from grants.web import roles_required

bp = Blueprint("manager", __name__, url_prefix="/manager")


@bp.route("/")
@roles_required(Role.MANAGER, Role.ADMIN)
def dashboard() -> ResponseReturnValue:
    """Funds, partners and how many ambassadors each programme has per country."""
    funds = db.session.scalars(select(Fund).order_by(Fund.plan_year_start.desc(), Fund.name)).all()
    partners = db.session.scalars(
        select(Partner).where(Partner.active).order_by(Partner.display_name)
    ).all()
    cohorts = db.session.execute(
        select(Programme.code, Ambassador.country, func.count(Ambassador.id))
        .join(Ambassador, Ambassador.programme_id == Programme.id)
        .group_by(Programme.code, Ambassador.country)
        .order_by(Programme.code, Ambassador.country)
    ).all()
    return render_template(
        "dashboards/manager.html", funds=funds, partners=partners, cohorts=cohorts
    )
