"""The programme managers' screens: dashboard, partners, funds, grants and allowances."""

from grants.web.manager import (  # noqa: F401  (views)
    allowances,
    cohort_import,
    funds,
    grants,
    partners,
    progress,
    reviews,
    rounds,
    routes,
)
from grants.web.manager.blueprint import bp

__all__ = ["bp"]
