"""Screens for people who hold therapy credit (ambassadors and the recipients of their gifts),
and the public page where a gift is claimed."""

from flask import Blueprint

bp = Blueprint("ambassador", __name__, url_prefix="/wallet")
claim_bp = Blueprint("claim", __name__, url_prefix="/claim")

from grants.web.ambassador import claim, wallet  # noqa: E402, F401  (views)

__all__ = ["bp", "claim_bp"]
