"""The finance team's screens: what is due to be paid, recording payments, and therapy
payouts."""

from grants.web.finance import (  # noqa: F401  (views)
    payouts,
    providers,
    reports,
    routes,
    statements,
)
from grants.web.finance.blueprint import bp

__all__ = ["bp"]
