"""Where navigators curate the hub: the proposals waiting for a second pair of eyes."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from grants.extensions import db
from grants.models import HubServiceVersion, Role, User, VersionState
from grants.web import roles_required

bp = Blueprint("curation", __name__, url_prefix="/hub")


@bp.route("/")
@roles_required(Role.NAVIGATOR, Role.MANAGER, Role.ADMIN)
def queue() -> ResponseReturnValue:
    """The proposed versions, oldest first, each with who proposed it."""
    proposals = db.session.execute(
        select(
            HubServiceVersion.id,
            HubServiceVersion.service_id,
            HubServiceVersion.number,
            HubServiceVersion.name,
            HubServiceVersion.retires,
            HubServiceVersion.proposed_at,
            User.display_name.label("proposer"),
        )
        .outerjoin(User, User.id == HubServiceVersion.proposed_by_id)
        .where(HubServiceVersion.state == VersionState.PROPOSED)
        .order_by(HubServiceVersion.proposed_at, HubServiceVersion.id)
    ).all()
    return render_template("hub/curation/queue.html", proposals=proposals)
