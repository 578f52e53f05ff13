"""The programme managers' screens: dashboard, partners, funds and grants."""

from flask import Blueprint

bp = Blueprint("manager", __name__, url_prefix="/manager")

from grants.web.manager import funds, grants, partners, routes  # noqa: E402, F401  (views)

__all__ = ["bp"]
