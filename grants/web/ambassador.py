"""Screens for people who hold therapy credit: ambassadors and the recipients of their gifts."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from grants.extensions import db
from grants.models import Ambassador, Role
from grants.web import roles_required

bp = Blueprint("ambassador", __name__, url_prefix="/wallet")


@bp.route("/")
@roles_required(Role.AMBASSADOR, Role.RECIPIENT)
def dashboard() -> ResponseReturnValue:
    """The signed-in person's own credit; nobody else's is reachable from here."""
    membership = db.session.scalar(select(Ambassador).where(Ambassador.user_id == current_user.id))
    return render_template("dashboards/wallet.html", membership=membership)
