"""The programme managers' screens: dashboard, partners, funds, grants and allowances."""

from flask import Blueprint

bp = Blueprint("manager", __name__, url_prefix="/manager")

from grants.web.manager import (  # noqa: E402, F401  (views)
    allowances,
    funds,
    grants,
    partners,
    routes,
)

__all__ = ["bp"]
