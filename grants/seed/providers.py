"""The provider directory's demo: two verified therapists with bank details (one in
Nashville, one in London), one proposed by an ambassador, and each therapy fund's own account
to pay them from, so a payout batch can be downloaded as bank files.

The bank details are the published examples of each scheme (a Federal Reserve routing number,
the IBAN standard's sample British account), never anyone's real account.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.fernet import MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.data_key import encrypt
from grants.domain.providers import ProviderDetails, clean_provider
from grants.models import Fund, FundKind, Provider, ProviderStatus, User
from grants.payments.bank_details import BankDetails, check_gb, check_us

DEMO_PROVIDERS: tuple[tuple[ProviderDetails, BankDetails | None], ...] = (
    (
        ProviderDetails(
            kind="person",
            name="Dr Renée Castillo",
            practice="Music Row Counseling",
            licence_type="Licensed Professional Counselor",
            licence_number="LPC-4411",
            licence_issuer="Tennessee Board for Licensed Professional Counselors",
            country="US",
            address="100 Demo Street",
            city="Nashville",
            region="TN",
            postcode="37203",
            email="renee.castillo@example.org",
        ),
        check_us(
            account_holder="Music Row Counseling LLC",
            routing_number="011000015",
            account_number="000123456789",
            account_type="checking",
        ),
    ),
    (
        ProviderDetails(
            kind="person",
            name="Tom Ashworth",
            practice="Camden Sound Mind",
            licence_type="HCPC practitioner psychologist",
            licence_number="PYL00000",
            licence_issuer="Health and Care Professions Council",
            country="GB",
            address="1 Demo Yard",
            city="London",
            postcode="NW1 8AH",
            email="tom.ashworth@example.org",
        ),
        check_gb(
            account_holder="Camden Sound Mind", sort_code="60-16-13", account_number="31926819"
        ),
    ),
    (
        ProviderDetails(
            kind="practice",
            name="Eastside Therapy Collective",
            country="US",
            city="Austin",
            region="TX",
            email="hello@eastside-therapy.example.org",
        ),
        None,
    ),
)

FUND_ACCOUNTS = {
    "USD": check_us(
        account_holder="Heart and Soul Funding",
        routing_number="021000021",
        account_number="987654321",
        account_type="checking",
    ),
    "GBP": check_gb(
        account_holder="Heart and Soul Funding", sort_code="20-00-00", account_number="55779911"
    ),
}
"""Each currency's therapy funds' own (demo) account."""


def seed_providers(
    session: Session, *, keys: MultiFernet, finance: User, proposer: User, now: datetime
) -> int:
    """Add the demo providers and the funds' accounts if there are no providers yet; returns
    how many providers it added."""
    if session.scalar(select(Provider.id)) is not None:
        return 0
    for fund in session.scalars(select(Fund).where(Fund.kind == FundKind.THERAPY)):
        account = FUND_ACCOUNTS.get(fund.currency)
        if account is not None and fund.payer_account is None:
            fund.payer_name = account.account_holder
            fund.payer_account = encrypt(keys, account.to_json())
            fund.payer_summary = account.masked()
            if fund.currency == "USD":
                fund.ach_company_id = "1234567890"
                fund.ach_bank_name = "JPMORGAN CHASE"
    for details, bank in DEMO_PROVIDERS:
        provider = Provider(
            **clean_provider(details),
            status=ProviderStatus.PROPOSED,
            proposed_by_id=proposer.id if bank is None else finance.id,
            proposed_at=now,
            updated_at=now,
        )
        if bank is not None:
            provider.bank_details = encrypt(keys, bank.to_json())
            provider.bank_summary = bank.masked()
            provider.bank_changed_at = now
            provider.bank_changed_by_id = finance.id
            provider.status = ProviderStatus.VERIFIED
            provider.verified_at = now
            provider.verified_by_id = finance.id
        session.add(provider)
    session.flush()
    return len(DEMO_PROVIDERS)
