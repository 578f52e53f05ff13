"""The entry page: sends each person to the dashboard of their first role."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from grants.models import Role

bp = Blueprint("main", __name__)

DASHBOARDS: dict[Role, tuple[str, str]] = {
    Role.ADMIN: ("Admin", "admin.dashboard"),
    Role.MANAGER: ("Programme", "manager.dashboard"),
    Role.FINANCE: ("Finance", "finance.dashboard"),
    Role.AMBASSADOR: ("My credit", "ambassador.dashboard"),
    Role.RECIPIENT: ("My credit", "ambassador.dashboard"),
    Role.NAVIGATOR: ("Resource hub", "curation.queue"),
    Role.PARTNER: ("My organisation", "partner.dashboard"),
}
"""The navigation label and home page of each role."""

REACHES: dict[Role, tuple[Role, ...]] = {
    Role.ADMIN: (Role.ADMIN, Role.MANAGER, Role.NAVIGATOR),
    Role.MANAGER: (Role.MANAGER, Role.NAVIGATOR),
}
"""Roles whose screens a role may also open, so its navigation leads there too: the admin
can do everything a manager can (every manager screen admits the admin). Finance screens
admit finance only, so no other role's navigation links to them. Managers publish what
navigators propose for the resource hub, and admins read it, so both are led to its
curation screens."""


def navigation(roles: list[Role]) -> list[tuple[str, str]]:
    """Navigation entries (label, endpoint) for a user holding ``roles``, without repeats."""
    entries = [DASHBOARDS[reached] for role in roles for reached in REACHES.get(role, (role,))]
    if Role.NAVIGATOR in roles:
        entries.append(("Help desk", "helpdesk.queue"))
    return list(dict.fromkeys(entries))


@bp.route("/")
@login_required
def home() -> ResponseReturnValue:
    """Redirect to the dashboard of the user's first role."""
    roles = current_user.roles
    if not roles:
        return render_template("dashboards/no_role.html"), 403
    return redirect(url_for(DASHBOARDS[roles[0]][1]))
