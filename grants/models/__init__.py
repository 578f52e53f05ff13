"""Typed SQLAlchemy models, one module per aggregate."""

from grants.models.account_tokens import AccountToken, TokenPurpose
from grants.models.accounts import DEFAULT_DAILY_EMAIL_TIME, ROLE_PRIORITY, Role, User, UserRole
from grants.models.audit import AuditEvent, AuditHead
from grants.models.base import Base
from grants.models.cohort_imports import CohortUpload
from grants.models.credits import (
    Gift,
    GiftState,
    Redemption,
    RedemptionState,
    Relation,
    Wallet,
    WalletKind,
)
from grants.models.funds import Fund, FundKind
from grants.models.grants import Grant, GrantCategory, GrantStatus, ReportingRequirement, Tranche
from grants.models.helpdesk import (
    Author,
    CanPay,
    HelpdeskRoute,
    HelpLink,
    HelpMessage,
    HelpRequest,
    HelpState,
    LinkKind,
    Outcome,
)
from grants.models.hub import (
    Audience,
    Channel,
    Facet,
    HubCountry,
    HubEdition,
    HubOrganization,
    HubService,
    HubServiceFacet,
    HubServiceText,
    HubServiceVersion,
    Topic,
    VersionState,
)
from grants.models.invitations import Invitation
from grants.models.ledger import (
    Account,
    AccountKind,
    IdempotencyRecord,
    LedgerTransaction,
    Posting,
    TransactionKind,
)
from grants.models.notifications import (
    Delivery,
    Notification,
    NotificationDigest,
    NotificationPreference,
)
from grants.models.outbox import OutboxMessage, OutboxState
from grants.models.partners import Partner
from grants.models.payouts import PayoutBatch
from grants.models.programmes import Ambassador, CohortStatus, Country, Programme
from grants.models.reports import JobState, ReportFile, ReportJob
from grants.models.support import SupportLine

__all__ = [
    "DEFAULT_DAILY_EMAIL_TIME",
    "ROLE_PRIORITY",
    "Account",
    "AccountKind",
    "AccountToken",
    "Ambassador",
    "Audience",
    "AuditEvent",
    "AuditHead",
    "Author",
    "Base",
    "CanPay",
    "Channel",
    "CohortStatus",
    "CohortUpload",
    "Country",
    "Delivery",
    "Facet",
    "Fund",
    "FundKind",
    "Gift",
    "GiftState",
    "Grant",
    "GrantCategory",
    "GrantStatus",
    "HelpLink",
    "HelpMessage",
    "HelpRequest",
    "HelpState",
    "HelpdeskRoute",
    "HubCountry",
    "HubEdition",
    "HubOrganization",
    "HubService",
    "HubServiceFacet",
    "HubServiceText",
    "HubServiceVersion",
    "IdempotencyRecord",
    "Invitation",
    "JobState",
    "LedgerTransaction",
    "LinkKind",
    "Notification",
    "NotificationDigest",
    "NotificationPreference",
    "OutboxMessage",
    "OutboxState",
    "Outcome",
    "Partner",
    "PayoutBatch",
    "Posting",
    "Programme",
    "Redemption",
    "RedemptionState",
    "Relation",
    "ReportFile",
    "ReportJob",
    "ReportingRequirement",
    "Role",
    "SupportLine",
    "TokenPurpose",
    "Topic",
    "Tranche",
    "TransactionKind",
    "User",
    "UserRole",
    "VersionState",
    "Wallet",
    "WalletKind",
]
