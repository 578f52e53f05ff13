"""Typed SQLAlchemy models, one module per aggregate."""

from grants.models.accounts import ROLE_PRIORITY, Role, User, UserRole
from grants.models.base import Base
from grants.models.funds import Fund, FundKind
from grants.models.partners import Partner
from grants.models.programmes import Ambassador, CohortStatus, Country, Programme

__all__ = [
    "ROLE_PRIORITY",
    "Ambassador",
    "Base",
    "CohortStatus",
    "Country",
    "Fund",
    "FundKind",
    "Partner",
    "Programme",
    "Role",
    "User",
    "UserRole",
]
