"""The finance team's screens: what is due to be paid, recording payments, and therapy
payouts."""

from grants.web.finance import payouts, reports, routes  # noqa: F401  (views)
from grants.web.finance.blueprint import bp

__all__ = ["bp"]
