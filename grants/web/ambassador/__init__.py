"""Screens for people who hold therapy credit (ambassadors and the recipients of their gifts),
and the public page where a gift is claimed."""

from grants.web.ambassador import claim, wallet  # noqa: F401  (views)
from grants.web.ambassador.blueprint import bp, claim_bp

__all__ = ["bp", "claim_bp"]
