"""The files a bank pays a payout batch from, and the fund's own account they pay it from.

A batch (:class:`~grants.models.PayoutBatch`) is turned into one payment per provider, the
sum of that provider's sessions in the batch, with each session's reference in the
remittance information; the amounts come from the same rows the ledger posted, so the file
and the ledger agree to the minor unit. Every identifier in a file derives from the batch
(:attr:`~grants.models.PayoutBatch.file_id`) and its time of payment, so building a file
twice gives the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.fernet import MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.data_key import decrypt, encrypt
from grants.domain import audit
from grants.domain.checks import clean_text, require_role
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.domain.provider_bank import read_bank_details
from grants.models import (
    Fund,
    FundKind,
    PayoutBatch,
    Provider,
    Redemption,
    RedemptionState,
    Role,
    User,
    Wallet,
)
from grants.payments.bank_details import BankDetails
from grants.payments.nacha import build_nacha
from grants.payments.pain001 import build_pain001
from grants.payments.payees import BankAccount, Debtor, Payment, PaymentRun


@dataclass(frozen=True, slots=True)
class BankFile:
    """A payment file as it is downloaded."""

    filename: str
    content_type: str
    content: bytes


def session_reference(redemption_id: int) -> str:
    """A session's reference in a payment's remittance information."""
    return f"HSF-R{redemption_id}"


def account_of(details: BankDetails) -> BankAccount:
    """The account a payment file names, from checked bank details."""
    if details.scheme == "us":
        if details.account_type == "savings":
            return BankAccount.us(details.routing_number, details.account_number, "savings")
        return BankAccount.us(details.routing_number, details.account_number, "checking")
    if details.scheme == "gb":
        return BankAccount.gb(details.sort_code, details.account_number)
    return BankAccount.international(details.iban, details.bic)


def set_payer(
    session: Session,
    *,
    actor: User,
    fund_id: int,
    details: BankDetails | None,
    ach_company_id: str,
    ach_bank_name: str,
    invoice_required: bool,
    keys: MultiFernet,
    now: datetime,
) -> Fund:
    """Set a therapy fund's payment settings (finance): the account its providers are paid
    from (``None`` keeps the one held), the ACH company details for US files, and whether
    approving a session needs the provider's invoice."""
    require_role(actor, Role.FINANCE, doing="change a fund's payment settings")
    fund = session.get(Fund, fund_id)
    if fund is None or fund.kind is not FundKind.THERAPY:
        raise NotFound("There is no such therapy fund.")
    company = ach_company_id.strip().upper()
    if company and (len(company) != 10 or not company.isalnum()):
        raise InvalidInput(
            "The ACH company identification is the 10 characters your bank gave, such as "
            "1234567890.",
            field="ach_company_id",
        )
    bank_name = clean_text(
        ach_bank_name, field="ach_bank_name", label="the bank's name", required=False, limit=23
    )
    before = _payer_snapshot(fund)
    if details is not None:
        fund.payer_name = details.account_holder[:140]
        fund.payer_account = encrypt(keys, details.to_json())
        fund.payer_summary = details.masked()
    fund.ach_company_id = company
    fund.ach_bank_name = bank_name
    fund.invoice_required = invoice_required
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="fund.payment_settings",
        object_type="fund",
        object_id=fund.id,
        before=before,
        after=_payer_snapshot(fund),
    )
    return fund


def _payer_snapshot(fund: Fund) -> dict[str, object]:
    return {
        "payer": fund.payer_name,
        "account": fund.payer_summary,
        "ach_company_id": fund.ach_company_id,
        "ach_bank_name": fund.ach_bank_name,
        "invoice_required": fund.invoice_required,
    }


def payment_run(session: Session, *, actor: User, batch_id: int, keys: MultiFernet) -> PaymentRun:
    """The payments of batch ``batch_id``, one per provider, from its fund's account.

    Refused, naming what to fix: a session without a provider in the directory (booked
    before it, paid by hand), a provider without bank details, a fund without its own
    account, or sessions from funds paid from different accounts.
    """
    require_role(actor, Role.FINANCE, doing="download payment files")
    batch = session.get(PayoutBatch, batch_id)
    if batch is None:
        raise NotFound("There is no such payout batch.")
    rows = session.execute(
        select(Redemption, Wallet.fund_id)
        .join(Wallet, Wallet.id == Redemption.wallet_id)
        .where(
            Redemption.payment_reference == batch.payment_reference,
            Redemption.state == RedemptionState.PAID,
        )
        .order_by(Redemption.id)
    ).all()
    unlisted = [redemption.id for redemption, _ in rows if redemption.provider_id is None]
    if unlisted:
        raise InvalidState(
            f"Session {_numbers(unlisted)} of this batch names no provider from the directory, "
            "so no payment file can pay it; pay it by hand."
        )
    sessions: dict[int, list[int]] = defaultdict(list)
    totals: dict[int, int] = defaultdict(int)
    for redemption, _ in rows:
        assert redemption.provider_id is not None
        sessions[redemption.provider_id].append(redemption.id)
        totals[redemption.provider_id] += redemption.amount
    providers = {
        provider.id: provider
        for provider in session.scalars(select(Provider).where(Provider.id.in_(list(totals))))
    }
    payments = []
    for provider_id in sorted(totals):
        provider = providers[provider_id]
        if provider.bank_details is None:
            raise InvalidState(f"{provider.label} has no bank details; add them first.")
        if provider.payouts_held:
            raise InvalidState(
                f"{provider.label}'s bank details changed and wait for another member of "
                "finance to confirm them; no file is made until then."
            )
        details = read_bank_details(provider, keys)
        payments.append(
            Payment(
                end_to_end_id=f"{batch.file_id}-P{provider_id}",
                payee_name=details.account_holder,
                payee_account=account_of(details),
                amount=totals[provider_id],
                remittance=tuple(session_reference(i) for i in sessions[provider_id]),
                payee_country=provider.country,
            )
        )
    fund, payer = _payer_fund(session, {fund_id for _, fund_id in rows}, keys)
    paid_at = batch.paid_at.astimezone(UTC)
    return PaymentRun(
        message_id=batch.file_id,
        created_at=paid_at,
        execution_date=paid_at.date(),
        currency=batch.currency,
        debtor=Debtor(
            name=fund.payer_name or payer.account_holder,
            account=account_of(payer),
            company_id=fund.ach_company_id,
            immediate_destination=payer.routing_number,
            immediate_origin=fund.ach_company_id,
            destination_name=fund.ach_bank_name,
            origin_name=fund.payer_name or payer.account_holder,
        ),
        payments=tuple(payments),
    )


def _payer_fund(
    session: Session, fund_ids: set[int], keys: MultiFernet
) -> tuple[Fund, BankDetails]:
    """The fund the batch is paid from, and its account: its sessions' funds must share one
    account (compared in full, not by their masked summaries)."""
    funds = list(session.scalars(select(Fund).where(Fund.id.in_(fund_ids)).order_by(Fund.id)))
    if not funds:
        raise InvalidState("This batch paid no sessions.")
    without = [fund.name for fund in funds if fund.payer_account is None]
    if without:
        raise InvalidState(
            f"{without[0]} has no account to pay from; set it in the fund's payment settings."
        )
    accounts = {
        account_of(BankDetails.from_json(decrypt(keys, fund.payer_account or ""))) for fund in funds
    }
    if len(accounts) > 1:
        raise InvalidState(
            "This batch pays sessions from funds paid from different accounts; "
            "pay each fund's sessions in a batch of their own."
        )
    assert funds[0].payer_account is not None
    return funds[0], BankDetails.from_json(decrypt(keys, funds[0].payer_account))


def pain001_file(session: Session, *, actor: User, batch_id: int, keys: MultiFernet) -> BankFile:
    """The batch as an ISO 20022 pain.001.001.03 credit transfer initiation."""
    run = payment_run(session, actor=actor, batch_id=batch_id, keys=keys)
    return BankFile(f"{run.message_id}.pain.001.xml", "application/xml", build_pain001(run))


def nacha_file(session: Session, *, actor: User, batch_id: int, keys: MultiFernet) -> BankFile:
    """The batch as a NACHA ACH file of credits (US dollars only)."""
    run = payment_run(session, actor=actor, batch_id=batch_id, keys=keys)
    return BankFile(f"{run.message_id}.ach.txt", "text/plain", build_nacha(run))


def _numbers(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)
