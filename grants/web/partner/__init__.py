"""The partner portal under ``/partner``: a partner organisation's people apply to funding
rounds and report on their grants. Each sees only their own organisation's rounds,
applications, grants and reports; anyone else's answers 404, like one that does not exist."""

from grants.web.partner import (  # noqa: F401  (views)
    applications,
    home,
    reports,
)
from grants.web.partner.blueprint import bp

__all__ = ["bp"]
