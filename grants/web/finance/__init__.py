"""The finance team's screens: what is due to be paid, recording payments, and therapy
payouts."""

from flask import Blueprint

bp = Blueprint("finance", __name__, url_prefix="/finance")

from grants.web.finance import payouts, reports, routes  # noqa: E402, F401  (views)

__all__ = ["bp"]
