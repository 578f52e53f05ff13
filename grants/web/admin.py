"""The operator's screens."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from grants.extensions import db
from grants.models import Fund, Partner, Programme, Role, User
from grants.web import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERS_PER_PAGE = 50


@bp.route("/")
@roles_required(Role.ADMIN)
def dashboard() -> ResponseReturnValue:
    """Counts of what is configured, and the users with their roles, a page at a time."""
    users = db.paginate(
        select(User).order_by(User.display_name, User.id),
        page=request.args.get("page", 1, type=int),
        per_page=USERS_PER_PAGE,
        error_out=False,
    )
    counts = {
        "Programmes": db.session.scalar(select(func.count()).select_from(Programme)),
        "Partners": db.session.scalar(select(func.count()).select_from(Partner)),
        "Funds": db.session.scalar(select(func.count()).select_from(Fund)),
        "Users": users.total,
    }
    return render_template("dashboards/admin.html", users=users, counts=counts)
