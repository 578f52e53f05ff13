"""The finance team's screens."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from grants.extensions import db
from grants.models import Fund, Role
from grants.web import roles_required

bp = Blueprint("finance", __name__, url_prefix="/finance")


@bp.route("/")
@roles_required(Role.FINANCE)
def dashboard() -> ResponseReturnValue:
    """The funds finance pays from; payment queues join this page as they are built."""
    funds = db.session.scalars(select(Fund).order_by(Fund.plan_year_start.desc(), Fund.name)).all()
    return render_template("dashboards/finance.html", funds=funds)
