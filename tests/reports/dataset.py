"""A known dataset for the report tests, built through the domain operations: a grants fund
with two approved grants (one tranche paid) and a draft, and a therapy fund with six GLOW
ambassadors in the US (gifts claimed, pending and revoked; sessions paid, approved and in
review) and two RADAR ambassadors (one session paid)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.clock import date_in
from grants.domain import claims, funds, gifts, redemptions, tranches
from grants.domain import grants as awards
from grants.domain.funds import open_fund
from grants.domain.gifts import hash_token
from grants.domain.grants import GrantDraft, Instalment
from grants.domain.money import Money
from grants.domain.payouts import pay_redemptions
from grants.models import (
    Country,
    Fund,
    FundKind,
    Gift,
    Partner,
    Role,
    Tranche,
    User,
    Wallet,
)
from grants.security import password_hasher, password_rules
from tests.factories import fund_wallet, make_ambassador, make_user

YEAR = datetime.now(UTC).year
NOW = datetime.now(UTC)
TODAY = NOW.date()


@dataclass
class Texts:
    """The free text the dataset writes: partner names, grant purposes, gift messages."""

    partner: str = "Backline"
    purpose: str = "Crisis line for touring crews"
    message: str = "For the van rides"
    ambassador: str = "Ambassador"


@dataclass
class Books:
    db: Session
    texts: Texts = field(default_factory=Texts)
    keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def key(self) -> str:
        return f"report-test-{next(self.keys)}"

    def build(self) -> Books:
        db = self.db
        self.manager = make_user(db, Role.MANAGER, name="Mara Manager")
        self.approver = make_user(db, Role.MANAGER, name="Abe Approver")
        self.finance = make_user(db, Role.FINANCE, name="Fin Ance")
        self.grants_fund = self._fund("Partner grants", FundKind.GRANTS, 10_000_000)
        self.therapy_fund = self._fund("Therapy US", FundKind.THERAPY, 5_000_000)
        self._grants()
        self._therapy()
        db.commit()
        return self

    def _fund(self, name: str, kind: FundKind, budget: int) -> Fund:
        return self.open(name, kind, budget)

    def open(self, name: str, kind: FundKind, budget: int, *, year: int = YEAR) -> Fund:
        """A fund of ``year``'s plan year with ``budget``."""
        fund = open_fund(
            self.db,
            name=f"{name} {year} (USD)",
            kind=kind,
            currency="USD",
            start=date(year, 1, 1),
            end=date(year, 12, 31),
        )
        funds.change_budget(
            self.db,
            key=self.key(),
            actor=self.manager,
            fund_id=fund.id,
            amount=Money(budget, "USD"),
            reason="Board allocation",
        )
        return fund

    def _grant(self, partner: Partner, minor: int, *, approve: bool = True) -> int:
        draft = GrantDraft(
            fund_id=self.grants_fund.id,
            partner_id=partner.id,
            purpose=self.texts.purpose,
            category="services",
            amount=Money(minor, "USD"),
            tranches=[
                Instalment(date(YEAR, 3, 1), Money(minor * 2 // 3, "USD")),
                Instalment(date(YEAR, 9, 1), Money(minor - minor * 2 // 3, "USD")),
            ],
        )
        receipt = awards.create_grant(self.db, key=self.key(), actor=self.manager, draft=draft)
        grant_id = receipt.object_id
        assert grant_id is not None
        if approve:
            awards.submit_grant(
                self.db, key=self.key(), actor=self.manager, grant_id=grant_id, now=NOW
            )
            awards.approve_grant(
                self.db, key=self.key(), actor=self.approver, grant_id=grant_id, now=NOW
            )
        return grant_id

    def _grants(self) -> None:
        partner = Partner(
            legal_name=self.texts.partner, display_name=self.texts.partner, country=Country.US
        )
        other = Partner(
            legal_name="MusiCares Foundation", display_name="MusiCares", country=Country.US
        )
        self.db.add_all([partner, other])
        self.db.flush()
        first = self._grant(partner, 3_000_000)
        self._grant(other, 500_000)
        self._grant(other, 700_000, approve=False)
        tranche = self.db.scalars(
            select(Tranche).where(Tranche.grant_id == first).order_by(Tranche.due_date)
        ).first()
        assert tranche is not None
        tranches.pay_tranche(
            self.db,
            key=self.key(),
            actor=self.finance,
            tranche_id=tranche.id,
            payment_reference="ACH-1001",
            paid_on=TODAY,
            today=TODAY,
        )

    def _wallets(self, count: int, programme: str, each: int) -> list[Wallet]:
        wallets = []
        for number in range(count):
            ambassador = make_ambassador(
                self.db,
                programme=programme,
                country=Country.US,
                name=f"{self.texts.ambassador} {programme} {number + 1}",
            )
            wallets.append(fund_wallet(self.db, self.therapy_fund, ambassador, each, self.manager))
        return wallets

    def gift(
        self, wallet: Wallet, minor: int, *, to: str = "Bo Drummer", at: datetime = NOW
    ) -> str:
        """Give ``minor`` from ``wallet`` to a bandmate called ``to`` at ``at``; the claim
        token."""
        receipt = gifts.give_gift(
            self.db,
            key=self.key(),
            actor=wallet.user,
            wallet_id=wallet.id,
            amount=Money(minor, "USD"),
            recipient_name=to,
            recipient_email=f"{to.split()[0].lower()}{self.key()}@example.org",
            relation="bandmate",
            message=self.texts.message,
            now=at,
        )
        assert receipt.claim_token is not None
        return receipt.claim_token

    def redeem(
        self, wallet: Wallet, minor: int, decide: str | None = None, *, at: datetime = NOW
    ) -> None:
        """Ask for a session of ``minor`` on the day of ``at`` where the (US) redeemer is,
        then, by ``decide``: approve it, approve and pay it, reject it, or cancel it
        (``None``: leave it requested)."""
        receipt = redemptions.request_redemption(
            self.db,
            key=self.key(),
            actor=wallet.user,
            wallet_id=wallet.id,
            amount=Money(minor, "USD"),
            provider_name="Dr Lee, Nashville",
            session_date=date_in(at, "America/New_York"),
            now=at,
        )
        redemption_id = receipt.object_id
        assert redemption_id is not None
        if decide in {"approve", "pay"}:
            redemptions.approve_redemption(
                self.db, key=self.key(), actor=self.finance, redemption_id=redemption_id, now=at
            )
        if decide == "pay":
            pay_redemptions(
                self.db,
                key=self.key(),
                actor=self.finance,
                redemption_ids=[redemption_id],
                payment_reference=f"PAY-{redemption_id}",
                now=at,
            )
        if decide == "reject":
            redemptions.reject_redemption(
                self.db,
                key=self.key(),
                actor=self.finance,
                redemption_id=redemption_id,
                reason="Not a therapy session",
                now=at,
            )
        if decide == "cancel":
            redemptions.cancel_redemption(
                self.db, key=self.key(), actor=wallet.user, redemption_id=redemption_id, now=at
            )

    def _therapy(self) -> None:
        glow = self._wallets(6, "GLOW", 50_000)
        radar = self._wallets(2, "RADAR", 30_000)
        claimed = self.gift(glow[0], 10_000)
        claims.claim_gift(
            self.db,
            key=self.key(),
            token=claimed,
            claimant=None,
            new_recipient=claims.NewRecipient("Bo Drummer", "drums all night long"),
            hasher=password_hasher(),
            rules=password_rules(),
            now=NOW,
        )
        self.gift(glow[1], 5_000)
        revoked = self.gift(glow[2], 2_000)
        gift_id = self.db.scalar(select(Gift.id).where(Gift.token_hash == hash_token(revoked)))
        assert gift_id is not None
        gifts.revoke_gift(self.db, key=self.key(), actor=glow[2].user, gift_id=gift_id, now=NOW)
        self.redeem(glow[3], 15_000, "pay")
        self.redeem(glow[4], 8_000, "approve")
        self.redeem(glow[5], 4_000)
        self.redeem(radar[0], 10_000, "pay")
        self.glow, self.radar = glow, radar

    @property
    def ambassadors(self) -> list[User]:
        return [wallet.user for wallet in (*self.glow, *self.radar)]
