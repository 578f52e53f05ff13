"""The credit holders' blueprint and the public claim page's; their views register on them
when the package is imported."""

from flask import Blueprint

bp = Blueprint("ambassador", __name__, url_prefix="/wallet")
claim_bp = Blueprint("claim", __name__, url_prefix="/claim")
